import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import {
  ATTRIBUTES,
  BATCH_HEADER_BYTES,
  batchBaseOffset,
  batchLeaderEpoch,
  batchLastOffset,
  Compression,
  computeBatchCrc,
  CRC,
  decodeAllRecords,
  decodeRecords,
  encodeBatch,
  readBatchHeader,
  RecordBatchBuilder,
  stampBatch,
  stampLogAppendTime,
  stampProducerState,
  type RecordInput,
} from '../../../src/record/batch';
import { crc32c, crc32cJs } from '../../../src/record/crc32c';
import { Decoder, Encoder } from '../../../src/record/encoding';
import { validateBatches, validateBatches as validate } from '../../../src/record/validate';

const LIMITS = { maxBatchBytes: 10 * 1024 * 1024 };
const SEED = Number(process.env.FC_SEED ?? 42);

const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const record: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(bytes, { nil: null }),
  value: fc.option(bytes, { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 8 }), value: fc.option(bytes, { nil: null }) }), { maxLength: 3 }),
  timestamp: fc.integer({ min: 0, max: 4_000_000_000_000 }),
});
const records = fc.array(record, { minLength: 1, maxLength: 20 });
const codec = fc.constantFrom(Compression.NONE, Compression.GZIP);

describe('varint and fixed-width encoding', () => {
  it('round-trips every safe integer as a zigzag varint', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), (n) => {
        const e = new Encoder(4).varInt(n).int64(n);
        const d = new Decoder(e.finish());
        expect(d.varInt()).toBe(n);
        expect(d.int64()).toBe(n);
        expect(d.remaining()).toBe(0);
      }),
      { seed: SEED },
    );
  });

  it('rejects a truncated varint instead of reading past the end', () => {
    const buf = new Encoder().varInt(1_000_000).finish();
    expect(() => new Decoder(buf, 0, buf.length - 1).varInt()).toThrow(/truncated/);
  });
});

describe('CRC32C', () => {
  it('matches the published check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
  it('native and JavaScript implementations agree', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
        expect(crc32c(Buffer.from(a))).toBe(crc32cJs(a));
      }),
      { seed: SEED },
    );
  });
});

describe('record batch', () => {
  it('round-trips records through encode, validate and decode', () => {
    fc.assert(
      fc.property(records, codec, fc.integer({ min: 0, max: 2 ** 40 }), (rs, compression, baseOffset) => {
        const batch = encodeBatch(rs, { compression, baseOffset, producerId: 7, producerEpoch: 2, baseSequence: 11 });
        const v = validate(batch, LIMITS);
        expect(v.ok).toBe(true);
        const header = readBatchHeader(batch);
        expect(header.recordCount).toBe(rs.length);
        expect(header.lastOffsetDelta).toBe(rs.length - 1);
        expect([header.producerId, header.producerEpoch, header.baseSequence]).toEqual([7, 2, 11]);
        expect(header.maxTimestamp).toBe(Math.max(...rs.map((r) => r.timestamp!)));
        const decoded = decodeRecords(batch);
        expect(decoded.map((r) => r.offset)).toEqual(rs.map((_, i) => baseOffset + i));
        decoded.forEach((d, i) => {
          const r = rs[i]!;
          expect(d.timestamp).toBe(r.timestamp);
          expect(d.key).toEqual(r.key);
          expect(d.value).toEqual(r.value);
          expect(d.headers).toEqual(r.headers);
        });
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('stamping base offset and leader epoch keeps the CRC valid', () => {
    const batch = encodeBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }]);
    stampBatch(batch, 0, 12345678901, 9);
    expect(batchBaseOffset(batch)).toBe(12345678901);
    expect(batchLastOffset(batch)).toBe(12345678902);
    expect(batchLeaderEpoch(batch)).toBe(9);
    expect(validate(batch, LIMITS).ok).toBe(true);
  });

  it('LogAppendTime stamping re-signs the batch and overrides record timestamps', () => {
    const batch = encodeBatch([{ value: Buffer.from('a'), timestamp: 5 }]);
    stampLogAppendTime(batch, 0, batch.length, 999);
    expect(validate(batch, LIMITS).ok).toBe(true);
    expect(decodeRecords(batch)[0]!.timestamp).toBe(999);
  });

  it('producer-state stamping writes id, epoch and base sequence and re-signs, compressed or not', () => {
    for (const compression of [Compression.NONE, Compression.GZIP]) {
      const batch = encodeBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }], { compression });
      stampProducerState(batch, 0, batch.length, 4_000_000_000, 32767, 2147483646);
      const h = readBatchHeader(batch);
      expect([h.producerId, h.producerEpoch, h.baseSequence]).toEqual([4_000_000_000, 32767, 2147483646]);
      expect(validate(batch, LIMITS).ok).toBe(true);
      expect(decodeRecords(batch).map((r) => r.value!.toString())).toEqual(['a', 'b']);
    }
  });

  it('rejects every single-bit flip in the bytes the CRC or the framing covers', () => {
    fc.assert(
      fc.property(records, codec, fc.nat(), fc.integer({ min: 0, max: 7 }), (rs, compression, where, bit) => {
        const batch = encodeBatch(rs, { compression });
        // Bytes 0-7 (base offset) and 12-15 (leader epoch) are stamped by the broker, outside the CRC.
        const covered = [...Array(batch.length).keys()].filter((i) => !(i < 8 || (i >= 12 && i < 16)));
        const i = covered[where % covered.length]!;
        batch[i] ^= 1 << bit;
        const v = validate(batch, LIMITS);
        expect(v.ok).toBe(false);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('rejects every truncation and every trailing fragment', () => {
    fc.assert(
      fc.property(records, fc.nat(), (rs, cut) => {
        const batch = encodeBatch(rs);
        const n = 1 + (cut % (batch.length - 1));
        expect(validate(batch.subarray(0, n), LIMITS).ok).toBe(false);
        expect(validate(Buffer.concat([batch, batch.subarray(0, n)]), LIMITS).ok).toBe(false);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('rejects a batch whose records lie about their structure even with a valid CRC', () => {
    const batch = encodeBatch([{ key: Buffer.from('k'), value: Buffer.from('vvvv') }]);
    // Record body starts after its length varint at BATCH_HEADER_BYTES; bump the key length byte.
    const keyLengthAt = BATCH_HEADER_BYTES + 1 + 1 + 1 + 1;
    batch[keyLengthAt] = 2 * 3; // zigzag(3): claims a 3-byte key
    batch.writeUInt32BE(computeBatchCrc(batch, 0, batch.length), CRC);
    const v = validate(batch, LIMITS);
    expect(v).toMatchObject({ ok: false, code: ErrorCode.CORRUPT_MESSAGE });
  });

  it('rejects oversized batches, control batches from clients, bad counts and unknown codecs with typed codes', () => {
    const big = encodeBatch([{ value: Buffer.alloc(2000) }]);
    expect(validate(big, { maxBatchBytes: 1000 })).toMatchObject({ ok: false, code: ErrorCode.MESSAGE_TOO_LARGE });
    const control = encodeBatch([{ value: Buffer.from('x') }], { control: true });
    expect(validate(control, LIMITS)).toMatchObject({ ok: false, code: ErrorCode.INVALID_RECORD });
    expect(validate(control, { ...LIMITS, allowControl: true }).ok).toBe(true);
    const lz4 = encodeBatch([{ value: Buffer.from('x') }]);
    lz4.writeInt16BE(Compression.LZ4, ATTRIBUTES);
    lz4.writeUInt32BE(computeBatchCrc(lz4, 0, lz4.length), CRC);
    expect(validate(lz4, LIMITS)).toMatchObject({ ok: false, code: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE });
    expect(validate(Buffer.alloc(0), LIMITS)).toMatchObject({ ok: false, code: ErrorCode.INVALID_RECORD });
    expect(validate(Buffer.from('garbage that is not a batch at all, no sir, not even close!!!!!!'), LIMITS).ok).toBe(false);
  });

  it('validates and decodes several concatenated batches', () => {
    const a = encodeBatch([{ value: Buffer.from('a') }], { baseOffset: 0 });
    const b = encodeBatch([{ value: Buffer.from('b') }, { value: Buffer.from('c') }], { baseOffset: 1 });
    const v = validateBatches(Buffer.concat([a, b]), LIMITS);
    expect(v.ok && v.batches.map((x) => x.recordCount)).toEqual([1, 2]);
    expect(decodeAllRecords(Buffer.concat([a, b]), 1).map((r) => r.value!.toString())).toEqual(['b', 'c']);
  });

  it('builder stops at maxBytes but always takes a first record', () => {
    const builder = new RecordBatchBuilder(200);
    let n = 0;
    while (builder.tryAppend(0, null, Buffer.alloc(50))) n++;
    expect(n).toBeGreaterThan(1);
    expect(builder.build().length).toBeLessThanOrEqual(200);
    const lone = new RecordBatchBuilder(10);
    expect(lone.tryAppend(0, null, Buffer.alloc(100))).toBe(true);
  });
});
