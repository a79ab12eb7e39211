import { describe, expect, it } from 'vitest';
import { PartitionQueue, RecordAccumulator, type AccumulatedRecord } from '../../../src/client/record-accumulator';
import { Compression } from '../../../src/record';

const noop = { resolve: () => undefined, reject: () => undefined };
const rec = (value: string, timestamp = 0): AccumulatedRecord => ({ timestamp, key: null, value: Buffer.from(value), headers: undefined, bytes: value.length + 32, ...noop });
const busy = { idle: false, flushing: false };

describe('RecordAccumulator', () => {
  const acc = new RecordAccumulator({ batchSizeBytes: 200, lingerMs: 5, compression: Compression.NONE });

  it('a lone record on an idle partition is ready at once, without waiting out the linger', () => {
    const q = new PartitionQueue('t', 0);
    acc.append(q, rec('a'), 1000);
    expect(acc.readyAtMs(q, 1000, { idle: true, flushing: false })).toBe(1000);
  });

  it('while the partition has requests in flight, a batch lingers lingerMs from its first record', () => {
    const q = new PartitionQueue('t', 0);
    acc.append(q, rec('a'), 1000);
    acc.append(q, rec('b'), 1003);
    expect(q.batches).toHaveLength(1);
    expect(acc.readyAtMs(q, 1003, busy)).toBe(1005);
    expect(acc.readyAtMs(q, 1005, busy)).toBe(1005);
  });

  it('flushing makes the batch ready at once', () => {
    const q = new PartitionQueue('t', 0);
    acc.append(q, rec('a'), 1000);
    expect(acc.readyAtMs(q, 1000, { idle: false, flushing: true })).toBe(1000);
  });

  it('a full batch is closed, a new one opened, and the full one is ready before its linger', () => {
    const q = new PartitionQueue('t', 0);
    let closed = 0;
    for (let i = 0; i < 20; i++) {
      const open = q.batches[q.batches.length - 1];
      const wasOpen = open !== undefined && !open.sealed;
      acc.append(q, rec('x'.repeat(40)), 1000);
      if (wasOpen && open.sealed) closed++;
    }
    expect(q.batches.length).toBeGreaterThan(1);
    expect(closed).toBe(q.batches.length - 1);
    expect(q.batches[0]!.sealed).toBe(true);
    expect(q.batches[0]!.builder.sizeInBytes).toBeLessThanOrEqual(200);
    expect(acc.readyAtMs(q, 1000, busy)).toBe(1000);
    expect(q.batches.reduce((n, b) => n + b.recordCount, 0)).toBe(20);
  });

  it('a partition remembers how large its last full batch grew, so the next one reserves that much', () => {
    const q = new PartitionQueue('t', 0);
    expect(q.lastBatchBytes).toBe(0);
    for (let i = 0; i < 6; i++) acc.append(q, rec('x'.repeat(40)), 1000);
    expect(q.batches.length).toBeGreaterThan(1);
    expect(q.lastBatchBytes).toBe(q.batches[0]!.builder.sizeInBytes);
    expect(q.lastBatchBytes).toBeGreaterThan(100);
    // A batch taken to be sent before it filled sets the estimate too.
    const small = new PartitionQueue('t', 1);
    acc.append(small, rec('a'), 1000);
    const taken = acc.take(small)!;
    expect(small.batches).toHaveLength(0);
    expect(small.lastBatchBytes).toBe(taken.builder.sizeInBytes);
  });

  it('a record larger than the batch size still gets a batch of its own', () => {
    const q = new PartitionQueue('t', 0);
    acc.append(q, rec('y'.repeat(500)), 1000);
    expect(q.batches).toHaveLength(1);
    expect(acc.readyAtMs(q, 1000, busy)).toBe(1000);
  });

  it('records after a batch was sent go to a new batch', () => {
    const q = new PartitionQueue('t', 0);
    acc.append(q, rec('a'), 1000);
    q.batches[0]!.wireBytes();
    acc.append(q, rec('b'), 1001);
    expect(q.batches.map((b) => b.recordCount)).toEqual([1, 1]);
  });

  it('an empty queue is never ready', () => {
    expect(acc.readyAtMs(new PartitionQueue('t', 0), 0, { idle: true, flushing: true })).toBe(Infinity);
  });
});
