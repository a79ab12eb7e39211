import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '../../../src/common/errors';
import { MAX_QUEUED_APPENDS_PER_PARTITION, PartitionAppendQueue } from '../../../src/server/partition-append-queue';

describe('PartitionAppendQueue', () => {
  it("keeps one partition's appends in reservation order, however their checks finish, and never holds up another partition", async () => {
    const q = new PartitionAppendQueue<string>();
    const order: string[] = [];
    const slow = q.reserve('p0', 7);
    const fast = q.reserve('p0', 7);
    const other = q.reserve('p1', 7);
    expect(q.busy('p0', 7)).toBe(true);
    // The later request's check finishes first; it still waits for the earlier one.
    const appended = fast.ready.then(() => {
      order.push('p0 second');
      fast.release();
    });
    await other.ready;
    order.push('p1');
    other.release();
    expect(q.busy('p1', 7)).toBe(false);
    await slow.ready;
    order.push('p0 first');
    slow.release();
    await appended;
    expect(order).toEqual(['p1', 'p0 first', 'p0 second']);
    expect(q.busy('p0', 7)).toBe(false);
  });

  it("keeps only a producer's own order: another producer of the same partition never waits behind it", async () => {
    const q = new PartitionAppendQueue<string>();
    const order: string[] = [];
    // Producer 7's first write waits (for its transaction coordinator, say); producer 8 writes at once.
    const verifying = q.reserve('p', 7);
    const next7 = q.reserve('p', 7);
    expect(q.busy('p', 7)).toBe(true);
    expect(q.busy('p', 8)).toBe(false);
    const other = q.reserve('p', 8);
    const seven = next7.ready.then(() => {
      order.push('7 second');
      next7.release();
    });
    await other.ready;
    order.push('8');
    other.release();
    expect(q.busy('p', 8)).toBe(false);
    expect(order).toEqual(['8']);
    await verifying.ready;
    order.push('7 first');
    verifying.release();
    await seven;
    expect(order).toEqual(['8', '7 first', '7 second']);
    expect(q.busy('p', 7)).toBe(false);
  });

  it('a request that fails before its turn releases without unblocking later ones early', async () => {
    const q = new PartitionAppendQueue<string>();
    const first = q.reserve('p', 7);
    const failed = q.reserve('p', 7);
    const third = q.reserve('p', 7);
    failed.release();
    let thirdRan = false;
    const t = third.ready.then(() => (thirdRan = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(thirdRan).toBe(false);
    first.release();
    await t;
    third.release();
    expect(q.busy('p', 7)).toBe(false);
  });

  it('refuses reservations past its bound with the retriable THROTTLING_QUOTA_EXCEEDED', () => {
    const q = new PartitionAppendQueue<string>();
    for (let i = 0; i < MAX_QUEUED_APPENDS_PER_PARTITION; i++) q.reserve('p', 7);
    let err: unknown = null;
    try {
      q.reserve('p', 7);
    } catch (e) {
      err = e;
    }
    expect(err instanceof CairnError && err.code === ErrorCode.THROTTLING_QUOTA_EXCEEDED && err.retriable).toBe(true);
    // The bound is the partition's, over all its producers.
    expect(() => q.reserve('p', 8)).toThrow(CairnError);
    expect(() => q.reserve('other', 7)).not.toThrow();
  });
});
