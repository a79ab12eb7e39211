import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import {
  BATCH_HEADER_BYTES,
  BATCH_LENGTH,
  Compression,
  computeBatchCrc,
  CRC,
  decodeAllRecords,
  decodeRecords,
  encodeBatch,
  InflateLimitError,
  LOG_OVERHEAD,
  MAX_TIMESTAMP,
} from '../../../src/record/batch';
import { timestampWindow, validateBatches } from '../../../src/record/validate';
import { DEFAULT_LOG_CONFIG, resolveLogConfig, validateTopicConfigs } from '../../../src/common/log-config';

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

describe('record timestamps of CreateTime topics (KIP-937)', () => {
  // What timestampWindow(NOW, 7 d, 1 h) gives, spelled out.
  const window = { minMs: NOW - 7 * 24 * HOUR, maxMs: NOW + HOUR };
  const check = (timestamps: number[], compression = Compression.NONE) =>
    validateBatches(
      encodeBatch(
        timestamps.map((timestamp) => ({ value: Buffer.from('v'), timestamp })),
        { compression },
      ),
      { maxBatchBytes: 1 << 20, timestampWindow: window },
    );

  it('accepts timestamps inside [now - before, now + after] and NO_TIMESTAMP (-1)', () => {
    expect(check([NOW, NOW - 7 * 24 * HOUR, NOW + HOUR]).ok).toBe(true);
    expect(check([-1]).ok).toBe(true);
  });

  it('refuses a batch with any record outside the window with INVALID_TIMESTAMP, compressed or not', () => {
    for (const compression of [Compression.NONE, Compression.GZIP]) {
      for (const ts of [[NOW + HOUR + 1], [NOW, NOW + 365 * 24 * HOUR], [NOW - 7 * 24 * HOUR - 1], [0]]) {
        const v = check(ts, compression);
        expect(v.ok).toBe(false);
        if (!v.ok) expect(v.code).toBe(ErrorCode.INVALID_TIMESTAMP);
      }
    }
  });

  it("checks a record whose timestamp hides behind an in-window max timestamp (the batch header is the client's word)", () => {
    // Base timestamp in the future, max timestamp lowered to now: only the record walk sees it.
    const batch = encodeBatch([{ value: Buffer.from('v'), timestamp: NOW + 10 * HOUR }]);
    batch.writeBigInt64BE(BigInt(NOW), MAX_TIMESTAMP);
    batch.writeUInt32BE(computeBatchCrc(batch, 0, batch.length), CRC);
    const v = validateBatches(batch, { maxBatchBytes: 1 << 20, timestampWindow: window });
    expect(v.ok ? ErrorCode.NONE : v.code).toBe(ErrorCode.INVALID_TIMESTAMP);
  });

  it('has Kafka 3.6+ defaults (before unbounded, after one hour) and takes Long.MAX as unbounded', () => {
    expect(DEFAULT_LOG_CONFIG.messageTimestampAfterMaxMs).toBe(HOUR);
    expect(DEFAULT_LOG_CONFIG.messageTimestampBeforeMaxMs).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => validateTopicConfigs({ 'message.timestamp.before.max.ms': '9223372036854775807', 'message.timestamp.after.max.ms': '0' })).not.toThrow();
    expect(() => validateTopicConfigs({ 'message.timestamp.after.max.ms': '-1' })).toThrow();
    expect(resolveLogConfig({ 'message.timestamp.after.max.ms': '60000' }).messageTimestampAfterMaxMs).toBe(60_000);
    expect(timestampWindow(NOW, 7 * 24 * HOUR, HOUR)).toEqual(window);
  });
});

/**
 * A one-record gzip batch, CRC valid, whose records section is `members` copies of one gzip member
 * of 1 MiB of zeros (gzip readers inflate concatenated members): 1024 of them are ~1 MiB that
 * inflate to 1 GiB. Built without ever holding the inflated bytes.
 */
function gzipBomb(members: number): Buffer {
  const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const header = encodeBatch([{ value: Buffer.from('x'), timestamp: NOW }], { compression: Compression.GZIP }).subarray(0, BATCH_HEADER_BYTES);
  const batch = Buffer.concat([header, ...Array<Buffer>(members).fill(member)]);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, BATCH_LENGTH);
  batch.writeUInt32BE(computeBatchCrc(batch, 0, batch.length), CRC);
  return batch;
}

describe('a gzip batch is inflated only up to max.message.bytes (decompression bombs)', () => {
  const MAX = 2 << 20; // the topic's max.message.bytes: the ~1 MiB bomb is under it as sent

  it('refuses a ~1 MiB batch that inflates to 1 GiB with MESSAGE_TOO_LARGE, stopping at the limit', () => {
    const bomb = gzipBomb(1024);
    expect(bomb.length).toBeLessThan(MAX);
    const v = validateBatches(bomb, { maxBatchBytes: MAX });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.code).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect(v.inflateLimitBytes).toBe(MAX - BATCH_HEADER_BYTES);
  });

  it('holds a legitimate gzip batch to the same limit: it must fit max.message.bytes uncompressed', () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => ({ value: Buffer.alloc(1000, i % 7), timestamp: NOW }));
    const fits = encodeBatch(values(50), { compression: Compression.GZIP });
    const inflatesPast = encodeBatch(values(200), { compression: Compression.GZIP });
    expect(inflatesPast.length).toBeLessThan(100_000);
    expect(validateBatches(fits, { maxBatchBytes: 100_000 }).ok).toBe(true);
    const v = validateBatches(inflatesPast, { maxBatchBytes: 100_000 });
    expect(v.ok ? ErrorCode.NONE : v.code).toBe(ErrorCode.MESSAGE_TOO_LARGE);
  });

  it('with deferInflate leaves compressed batches to the caller and says which they are', () => {
    const v = validateBatches(gzipBomb(4), { maxBatchBytes: MAX, deferInflate: true });
    expect(v.ok && v.batches.map((b) => b.compressed)).toEqual([true]);
  });

  it('the decode paths (consumer, fetch decode_records, cleaner) stop at MAX_INFLATED_BATCH_BYTES too', () => {
    const bomb = gzipBomb(1024);
    const thrown = (f: () => unknown): unknown => {
      try {
        f();
        return null;
      } catch (err) {
        return err;
      }
    };
    expect(thrown(() => decodeRecords(bomb))).toBeInstanceOf(InflateLimitError);
    expect(thrown(() => decodeAllRecords(bomb))).toBeInstanceOf(InflateLimitError);
  });
});
