import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '../../../src/common/errors';
import { MAX_QUEUED_APPENDS_PER_PARTITION, PartitionAppendQueue } from '../../../src/server/partition-append-queue';

describe('PartitionAppendQueue', () => {
  it("keeps one partition's appends in reservation order, however their checks finish, and never holds up another partition", async () => {
    const q = new PartitionAppendQueue<string>();
    const order: string[] = [];
    const slow = q.reserve('p0');
    const fast = q.reserve('p0');
    const other = q.reserve('p1');
    expect(q.busy('p0')).toBe(true);
    // The later request's check finishes first; it still waits for the earlier one.
    const appended = fast.ready.then(() => {
      order.push('p0 second');
      fast.release();
    });
    await other.ready;
    order.push('p1');
    other.release();
    expect(q.busy('p1')).toBe(false);
    await slow.ready;
    order.push('p0 first');
    slow.release();
    await appended;
    expect(order).toEqual(['p1', 'p0 first', 'p0 second']);
    expect(q.busy('p0')).toBe(false);
  });

  it('a request that fails before its turn releases without unblocking later ones early', async () => {
    const q = new PartitionAppendQueue<string>();
    const first = q.reserve('p');
    const failed = q.reserve('p');
    const third = q.reserve('p');
    failed.release();
    let thirdRan = false;
    const t = third.ready.then(() => (thirdRan = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(thirdRan).toBe(false);
    first.release();
    await t;
    third.release();
    expect(q.busy('p')).toBe(false);
  });

  it('refuses reservations past its bound with the retriable THROTTLING_QUOTA_EXCEEDED', () => {
    const q = new PartitionAppendQueue<string>();
    for (let i = 0; i < MAX_QUEUED_APPENDS_PER_PARTITION; i++) q.reserve('p');
    let err: unknown = null;
    try {
      q.reserve('p');
    } catch (e) {
      err = e;
    }
    expect(err instanceof CairnError && err.code === ErrorCode.THROTTLING_QUOTA_EXCEEDED && err.retriable).toBe(true);
    expect(() => q.reserve('other')).not.toThrow();
  });
});
