import { describe, expect, it } from 'vitest';
import { type ConsumerRecord, FetchedRecords } from '../../../src/client/fetched-records';
import { encodeBatch, encodeTxnMarker } from '../../../src/record';

/** A batch of `count` records with values "v<offset>", at `baseOffset`. */
function batch(baseOffset: number, count: number, opts: { control?: boolean } = {}): Buffer {
  const records = Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`v${baseOffset + i}`) }));
  return encodeBatch(records, { baseOffset, ...opts });
}

const offsets = (rs: ConsumerRecord[]) => rs.map((r) => r.offset);

describe('FetchedRecords', () => {
  it('hands out records across batches and chunks in offset order, at most max per take', () => {
    const f = new FetchedRecords('t', 0);
    f.push(Buffer.concat([batch(0, 3), batch(3, 3)]), 0, 6);
    f.push(batch(6, 4), 6, 10);
    let position: number | null = 0;
    const seen: number[] = [];
    for (let round = 0; round < 10 && seen.length < 10; round++) {
      const out: ConsumerRecord[] = [];
      position = f.take(position, out, 4);
      expect(out.length).toBeLessThanOrEqual(4);
      seen.push(...offsets(out));
      expect(position).toBe(seen.length);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(f.bufferedBytes).toBe(0);
    expect(out0(f, position)).toEqual([]);
  });

  it('gives each record its topic, partition, value and timestamp', () => {
    const f = new FetchedRecords('orders', 7);
    f.push(batch(10, 2), 10, 12);
    const out: ConsumerRecord[] = [];
    expect(f.take(10, out, 100)).toBe(12);
    expect(out.map((r) => [r.topic, r.partition, r.offset, r.value!.toString()])).toEqual([
      ['orders', 7, 10, 'v10'],
      ['orders', 7, 11, 'v11'],
    ]);
  });

  it('skips records below the position in the first batch (a fetch from the middle of a batch)', () => {
    const f = new FetchedRecords('t', 0);
    f.push(batch(0, 5), 3, 5);
    const out: ConsumerRecord[] = [];
    expect(f.take(3, out, 100)).toBe(5);
    expect(offsets(out)).toEqual([3, 4]);
  });

  it('steps over a control batch and a gap at the end of a chunk', () => {
    const f = new FetchedRecords('t', 0);
    // Offsets 2-4 compacted away, 5 a control batch: the chunk ends at 6.
    f.push(Buffer.concat([batch(0, 2), batch(5, 1, { control: true })]), 0, 6);
    const out: ConsumerRecord[] = [];
    expect(f.take(0, out, 2)).toBe(6);
    expect(offsets(out)).toEqual([0, 1]);
  });

  it('does not drop the records of a batch larger than what a poll may take', () => {
    const f = new FetchedRecords('t', 0);
    f.push(batch(0, 10), 0, 10);
    const first: ConsumerRecord[] = [];
    let position = f.take(0, first, 3);
    expect(offsets(first)).toEqual([0, 1, 2]);
    expect(position).toBe(3);
    const rest: ConsumerRecord[] = [];
    position = f.take(position, rest, 100);
    expect(offsets(rest)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(position).toBe(10);
  });

  it('appends after what other partitions put in the same poll and stops at max', () => {
    const f = new FetchedRecords('t', 1);
    f.push(batch(0, 5), 0, 5);
    const out: ConsumerRecord[] = [{ topic: 't', partition: 0, offset: 99, timestamp: 0, key: null, value: null, headers: [] }];
    expect(f.take(0, out, 4)).toBe(3);
    expect(out.map((r) => `${r.partition}:${r.offset}`)).toEqual(['0:99', '1:0', '1:1', '1:2']);
  });

  it('forgets everything on clear', () => {
    const f = new FetchedRecords('t', 0);
    f.push(batch(0, 5), 0, 5);
    f.take(0, [], 2);
    f.clear();
    expect(f.bufferedBytes).toBe(0);
    expect(out0(f, 2)).toEqual([]);
  });

  it('counts buffered bytes down as batches are decoded', () => {
    const f = new FetchedRecords('t', 0);
    const a = batch(0, 3);
    const b = batch(3, 3);
    f.push(Buffer.concat([a, b]), 0, 6);
    expect(f.bufferedBytes).toBe(a.length + b.length);
    f.take(0, [], 3);
    expect(f.bufferedBytes).toBe(b.length);
  });
});

function out0(f: FetchedRecords, position: number | null): number[] {
  const out: ConsumerRecord[] = [];
  f.take(position, out, 100);
  return offsets(out);
}

describe('FetchedRecords under read_committed', () => {
  const txn = (baseOffset: number, pid: number, values: string[]) =>
    encodeBatch(
      values.map((v) => ({ value: Buffer.from(v) })),
      { baseOffset, producerId: pid, producerEpoch: 0, baseSequence: 0, transactional: true },
    );
  const marker = (offset: number, pid: number, commit: boolean) => {
    const m = encodeTxnMarker({ producerId: pid, producerEpoch: 1, coordinatorEpoch: 0, commit }, 0);
    m.writeBigInt64BE(BigInt(offset), 0);
    return m;
  };

  it('drops the records of aborted transactions and never hands out a marker, keeping interleaved committed ones', () => {
    const f = new FetchedRecords('t', 0);
    // Producer 1 (aborted) and 2 (committed) interleave; then producer 1 writes again and commits.
    const data = Buffer.concat([txn(0, 1, ['a0', 'a1']), txn(2, 2, ['b2']), txn(3, 1, ['a3']), marker(4, 1, false), txn(5, 1, ['c5']), marker(6, 2, true), marker(7, 1, true)]);
    f.push(data, 0, 8, [{ producerId: 1, firstOffset: 0 }]);
    const out: ConsumerRecord[] = [];
    // Nothing after c5 holds records for the application: the position steps past the trailing markers.
    expect(f.take(0, out, 100)).toBe(8);
    expect(out.map((r) => r.value!.toString())).toEqual(['b2', 'c5']);
  });

  it('keeps everything when the answer lists no aborted transaction (read_uncommitted, or none aborted)', () => {
    const f = new FetchedRecords('t', 0);
    f.push(Buffer.concat([txn(0, 1, ['a0']), marker(1, 1, false)]), 0, 2);
    const out: ConsumerRecord[] = [];
    expect(f.take(0, out, 100)).toBe(2);
    expect(out.map((r) => r.value!.toString())).toEqual(['a0']);
  });
});
