import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { crc32c } from '../../../src/record/crc32c';
import { incrementSequence, PRODUCER_BATCHES_RETAINED } from '../../../src/record/batch';
import { ProducerStateTable } from '../../../src/storage/producer-state';
import { codeOf } from '../../helpers/errors';

const MAX_SEQ = 2 ** 31 - 1;

/** A table where producer 7 at epoch 0 wrote sequences 0..9 in two batches at offsets 100..109. */
function tableWithProducer(): ProducerStateTable {
  const t = new ProducerStateTable();
  t.update(7, 0, 0, 4, 100, 104, 1000);
  t.update(7, 0, 5, 9, 105, 109, 1000);
  return t;
}

describe('ProducerStateTable sequence rules (KIP-98)', () => {
  it('accepts a new producer only at sequence 0', () => {
    const t = new ProducerStateTable();
    expect(t.check(1, 0, 0, 4)).toEqual({ kind: 'new' });
    expect(codeOf(() => t.check(1, 0, 5, 9))).toBe(ErrorCode.UNKNOWN_PRODUCER_ID);
  });

  it('accepts the next sequence and refuses a gap', () => {
    const t = tableWithProducer();
    expect(t.check(7, 0, 10, 12)).toEqual({ kind: 'new' });
    expect(codeOf(() => t.check(7, 0, 11, 12))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    // An overlap that matches no retained batch exactly is out of order too, not a duplicate.
    expect(codeOf(() => t.check(7, 0, 5, 7))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  });

  it('answers a retried batch with its original offsets', () => {
    const t = tableWithProducer();
    expect(t.check(7, 0, 0, 4)).toEqual({ kind: 'duplicate', firstOffset: 100, lastOffset: 104 });
    expect(t.check(7, 0, 5, 9)).toEqual({ kind: 'duplicate', firstOffset: 105, lastOffset: 109 });
  });

  it('remembers only the latest five batches', () => {
    const t = new ProducerStateTable();
    for (let i = 0; i < PRODUCER_BATCHES_RETAINED + 1; i++) t.update(7, 0, i, i, 10 + i, 10 + i, 0);
    expect(t.get(7)!.batches).toHaveLength(PRODUCER_BATCHES_RETAINED);
    // The oldest fell out of the window: a retry of it can no longer be recognised.
    expect(codeOf(() => t.check(7, 0, 0, 0))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(t.check(7, 0, 1, 1)).toEqual({ kind: 'duplicate', firstOffset: 11, lastOffset: 11 });
  });

  it('fences an older epoch', () => {
    const t = new ProducerStateTable();
    t.update(7, 3, 0, 0, 0, 0, 0);
    expect(codeOf(() => t.check(7, 2, 1, 1))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    // Even a batch that would be a duplicate at the old epoch.
    expect(codeOf(() => t.check(7, 2, 0, 0))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it('starts a newer epoch at sequence 0, replacing the old epoch’s batches', () => {
    const t = tableWithProducer();
    expect(codeOf(() => t.check(7, 1, 10, 10))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(t.check(7, 1, 0, 0)).toEqual({ kind: 'new' });
    t.update(7, 1, 0, 0, 110, 110, 2000);
    expect(t.get(7)).toEqual({
      producerId: 7,
      producerEpoch: 1,
      batches: [{ firstSeq: 0, lastSeq: 0, firstOffset: 110, lastOffset: 110 }],
      lastTimestampMs: 2000,
      currentTxnFirstOffset: -1,
      currentTxnStartTimestampMs: -1,
      coordinatorEpoch: -1,
    });
    // The old epoch's batch 0..4 is no duplicate any more, and the old epoch is fenced.
    expect(codeOf(() => t.check(7, 0, 0, 4))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it('refuses a batch with a producer id but no epoch or sequence', () => {
    expect(codeOf(() => new ProducerStateTable().check(7, -1, 0, 0))).toBe(ErrorCode.INVALID_RECORD);
    expect(codeOf(() => new ProducerStateTable().check(7, 0, -1, -1))).toBe(ErrorCode.INVALID_RECORD);
  });

  it('wraps sequences from 2^31 - 1 to 0', () => {
    expect(incrementSequence(MAX_SEQ, 1)).toBe(0);
    expect(incrementSequence(MAX_SEQ - 1, 3)).toBe(1);
    const t = new ProducerStateTable();
    t.update(7, 0, MAX_SEQ - 2, MAX_SEQ, 0, 2, 0);
    expect(t.check(7, 0, 0, 4)).toEqual({ kind: 'new' });
    expect(codeOf(() => t.check(7, 0, MAX_SEQ + 1, MAX_SEQ + 1))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    // A batch that itself wraps: 2^31 - 2 .. 1.
    t.update(7, 0, 0, MAX_SEQ - 3, 3, MAX_SEQ, 0);
    expect(t.check(7, 0, MAX_SEQ - 2, incrementSequence(MAX_SEQ - 2, 3))).toEqual({ kind: 'new' });
    t.update(7, 0, MAX_SEQ - 2, 1, MAX_SEQ + 1, MAX_SEQ + 4, 0);
    expect(t.check(7, 0, 2, 2)).toEqual({ kind: 'new' });
    expect(t.check(7, 0, MAX_SEQ - 2, 1)).toEqual({ kind: 'duplicate', firstOffset: MAX_SEQ + 1, lastOffset: MAX_SEQ + 4 });
  });

  it('check changes nothing', () => {
    const t = tableWithProducer();
    const before = t.encodeSnapshot();
    t.check(7, 0, 10, 10);
    t.check(7, 1, 0, 0);
    t.check(8, 0, 0, 0);
    expect(t.encodeSnapshot()).toEqual(before);
  });
});

describe('ProducerStateTable bounds', () => {
  it('forgets the least recently written producer past maxProducers', () => {
    const t = new ProducerStateTable({ maxProducers: 3 });
    t.update(1, 0, 0, 0, 0, 0, 0);
    t.update(2, 0, 0, 0, 1, 1, 0);
    t.update(3, 0, 0, 0, 2, 2, 0);
    t.update(1, 0, 1, 1, 3, 3, 0); // 1 is now the most recent; 2 the least
    t.update(4, 0, 0, 0, 4, 4, 0);
    expect(t.size).toBe(3);
    expect(t.get(2)).toBeUndefined();
    expect(t.all().map((e) => e.producerId)).toEqual([3, 1, 4]);
    expect(codeOf(() => t.check(2, 0, 1, 1))).toBe(ErrorCode.UNKNOWN_PRODUCER_ID);
  });

  it('expires producers idle for at least the expiration time', () => {
    const t = new ProducerStateTable();
    t.update(1, 0, 0, 0, 0, 0, 1000);
    t.update(2, 0, 0, 0, 1, 1, 5000);
    expect(t.removeExpired(10_999, 10_000)).toBe(0);
    expect(t.removeExpired(11_000, 10_000)).toBe(1);
    expect(t.get(1)).toBeUndefined();
    expect(t.get(2)).toBeDefined();
    // An expired producer is unknown: it may start again at 0 only.
    expect(codeOf(() => t.check(1, 0, 1, 1))).toBe(ErrorCode.UNKNOWN_PRODUCER_ID);
  });
});

describe('ProducerStateTable snapshots', () => {
  it('round-trips, keeping the least-recently-written order', () => {
    const t = new ProducerStateTable({ maxProducers: 2 });
    t.update(9, 2, 0, 0, 0, 0, 10);
    t.update(2 ** 40, 1, MAX_SEQ, 3, 1, 5, 20);
    t.update(9, 2, 1, 1, 6, 6, 30);
    const decoded = ProducerStateTable.decodeSnapshot(t.encodeSnapshot(), { maxProducers: 2 });
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.table.all()).toEqual(t.all());
    decoded.table.update(3, 0, 0, 0, 7, 7, 40);
    expect(decoded.table.all().map((e) => e.producerId)).toEqual([9, 3]);
  });

  it('round-trips an empty table', () => {
    const decoded = ProducerStateTable.decodeSnapshot(new ProducerStateTable().encodeSnapshot());
    expect(decoded.ok && decoded.table.size).toBe(0);
  });

  it('answers garbage, truncation and flipped bits with a typed failure, never a throw', () => {
    const good = tableWithProducer().encodeSnapshot();
    const cases: Buffer[] = [Buffer.alloc(0), Buffer.from('not a snapshot at all'), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.alloc(1)])];
    for (let i = 0; i < good.length; i++) {
      const flipped = Buffer.from(good);
      flipped[i]! ^= 0x10;
      cases.push(flipped);
    }
    for (const c of cases) {
      const decoded = ProducerStateTable.decodeSnapshot(c);
      expect(decoded.ok, `case ${c.toString('hex')}`).toBe(false);
      if (!decoded.ok) expect(typeof decoded.reason).toBe('string');
    }
  });

  it('refuses a well-signed snapshot whose content is impossible', () => {
    // A snapshot that passes its CRC but claims 6 batches for one producer (a writer bug, not damage).
    const t = new ProducerStateTable();
    t.update(7, 0, 0, 0, 0, 0, 0);
    const buf = Buffer.from(t.encodeSnapshot());
    buf.writeInt8(6, 10 + 8 + 2 + 8 + 8 + 8 + 4);
    buf.writeUInt32BE(crc32c(buf.subarray(6)), 2);
    const decoded = ProducerStateTable.decodeSnapshot(buf);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toMatch(/6 batches/);
  });
});
