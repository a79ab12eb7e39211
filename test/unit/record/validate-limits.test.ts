import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { Compression, computeBatchCrc, CRC, encodeBatch, MAX_TIMESTAMP } from '../../../src/record/batch';
import { timestampWindow, validateBatches } from '../../../src/record/validate';
import { DEFAULT_LOG_CONFIG, resolveLogConfig, validateTopicConfigs } from '../../../src/storage/log-config';

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

describe('record timestamps of CreateTime topics (KIP-937)', () => {
  // What timestampWindow(NOW, 7 d, 1 h) gives, spelled out.
  const window = { minMs: NOW - 7 * 24 * HOUR, maxMs: NOW + HOUR };
  const check = (timestamps: number[], compression = Compression.NONE) =>
    validateBatches(encodeBatch(timestamps.map((timestamp) => ({ value: Buffer.from('v'), timestamp })), { compression }), { maxBatchBytes: 1 << 20, timestampWindow: window });

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
