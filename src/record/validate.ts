import { ErrorCode } from '../common';
import {
  ATTRIBUTES,
  BATCH_HEADER_BYTES,
  batchAttributes,
  batchBaseSequence,
  batchBaseTimestamp,
  batchLastOffsetDelta,
  batchMaxTimestamp,
  batchProducerEpoch,
  batchProducerId,
  batchRecordCount,
  batchSize,
  Compression,
  COMPRESSION_MASK,
  CONTROL_FLAG,
  CRC,
  LOG_OVERHEAD,
  MAGIC,
  type BatchHeader,
  MAGIC_OFFSET,
  InflateLimitError,
  MAX_INFLATED_BATCH_BYTES,
  recordsSection,
  TRANSACTIONAL_FLAG,
  UnsupportedCompressionError,
} from './batch';
import { crc32c } from './crc32c';
import { DecodeError } from './encoding';

/** What the broker learns about one batch while validating it; one small object per batch, none per record. */
export interface ValidatedBatch extends Pick<BatchHeader, 'recordCount' | 'lastOffsetDelta' | 'baseTimestamp' | 'maxTimestamp' | 'producerId' | 'producerEpoch' | 'baseSequence'> {
  pos: number;
  size: number;
  transactional: boolean;
  control: boolean;
  /** gzip: with `deferInflate` its records are not checked yet (see checkInflatedBatch). */
  compressed: boolean;
}

export type ValidationFailure = {
  ok: false;
  code: ErrorCode;
  message: string;
  /** Set when a compressed batch inflates past the limit (a possible decompression bomb): the limit it hit. */
  inflateLimitBytes?: number;
};

export type ValidationResult = { ok: true; batches: ValidatedBatch[]; recordCount: number } | ValidationFailure;

export interface ValidationOptions {
  /** The topic's max.message.bytes: the largest single batch accepted. */
  maxBatchBytes: number;
  /** Control batches (transaction markers) are written by the broker, never accepted from clients. */
  allowControl?: boolean;
  /**
   * Batches rewritten by compaction keep their offset range but lose records, so their offset
   * deltas have gaps. Accepted on the replication path only; clients send dense batches.
   */
  allowOffsetGaps?: boolean;
  /** Compacted topics need a key on every record (Kafka answers INVALID_RECORD otherwise). */
  requireKeys?: boolean;
  /**
   * Check framing and CRC only, not each record's varint structure: for batches another broker
   * already validated (replication), where the CRC proves they arrived as that broker checked them.
   */
  shallow?: boolean;
  /**
   * CreateTime topics (KIP-937): every record timestamp, and the batch's max timestamp, must lie in
   * [minMs, maxMs] — now minus message.timestamp.before.max.ms to now plus
   * message.timestamp.after.max.ms — or be NO_TIMESTAMP (-1), which Kafka exempts too. Outside it
   * the batch gets INVALID_TIMESTAMP. Absent for LogAppendTime topics: the broker's clock replaces
   * the producer's.
   */
  timestampWindow?: TimestampWindow;
  /**
   * Check compressed batches up to their header only: the caller inflates their records section
   * off the event loop (zlib's thread pool) to at most inflateLimitBytes and passes it to
   * checkInflatedBatch. Without it they are inflated here, synchronously, under the same limit.
   */
  deferInflate?: boolean;
}

/**
 * How far a compressed batch's records section may inflate: the batch, uncompressed, must fit
 * max.message.bytes just as the batch sent must. Kafka bounds only the compressed size, but it
 * inflates record by record as a stream; Cairn inflates a whole section into memory, so that
 * memory is bounded by the limit the operator set (a 1 MiB gzip batch can inflate to 1 GiB).
 */
export function inflateLimitBytes(maxBatchBytes: number): number {
  return Math.max(0, Math.min(maxBatchBytes - BATCH_HEADER_BYTES, MAX_INFLATED_BATCH_BYTES));
}

const tooLargeInflated = (pos: number, limit: number): ValidationFailure => ({
  ok: false,
  code: ErrorCode.MESSAGE_TOO_LARGE,
  message: `gzip batch at ${pos} inflates past ${limit} bytes of records: uncompressed it would not fit max.message.bytes`,
  inflateLimitBytes: limit,
});

export interface TimestampWindow {
  minMs: number;
  maxMs: number;
}

/** A record or batch timestamp that says "none" (Kafka's RecordBatch.NO_TIMESTAMP). */
export const NO_TIMESTAMP = -1;

/** The window of record timestamps a CreateTime topic accepts at `nowMs` (KIP-937). */
export function timestampWindow(nowMs: number, beforeMaxMs: number, afterMaxMs: number): TimestampWindow {
  return { minMs: nowMs - beforeMaxMs, maxMs: nowMs + afterMaxMs };
}

const outside = (t: number, w: TimestampWindow) => t !== NO_TIMESTAMP && (t < w.minMs || t > w.maxMs);

const fail = (code: ErrorCode, message: string): ValidationFailure => ({ ok: false, code, message });

/**
 * Checks a buffer of concatenated record batches as a client sent them: every batch whole, of
 * magic 2, under the size limit, with a matching CRC, a consistent record count, and records
 * whose varint structure exactly fills the batch. It walks record lengths without allocating
 * (style §8); only compressed batches are inflated, as Kafka's LogValidator does — to at most
 * inflateLimitBytes, here or (deferInflate) by the caller.
 */
export function validateBatches(buf: Buffer, options: ValidationOptions): ValidationResult {
  if (buf.length === 0) return fail(ErrorCode.INVALID_RECORD, 'no record batch in request');
  const batches: ValidatedBatch[] = [];
  let total = 0;
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < BATCH_HEADER_BYTES) {
      return fail(ErrorCode.CORRUPT_MESSAGE, `trailing ${buf.length - pos} bytes at ${pos} are shorter than a batch header (${BATCH_HEADER_BYTES})`);
    }
    const size = batchSize(buf, pos);
    if (size < BATCH_HEADER_BYTES) return fail(ErrorCode.CORRUPT_MESSAGE, `batch at ${pos} declares length ${size - LOG_OVERHEAD}, below the header size`);
    if (pos + size > buf.length) return fail(ErrorCode.CORRUPT_MESSAGE, `batch at ${pos} declares ${size} bytes but only ${buf.length - pos} are present`);
    if (size > options.maxBatchBytes) {
      return fail(ErrorCode.MESSAGE_TOO_LARGE, `batch at ${pos} is ${size} bytes, above max.message.bytes ${options.maxBatchBytes}`);
    }
    const magic = buf.readInt8(pos + MAGIC_OFFSET);
    if (magic !== MAGIC) return fail(ErrorCode.CORRUPT_MESSAGE, `batch at ${pos} has magic ${magic}, expected ${MAGIC}`);
    const crc = buf.readUInt32BE(pos + CRC);
    const actual = crc32c(buf.subarray(pos + ATTRIBUTES, pos + size));
    if (crc !== actual) return fail(ErrorCode.CORRUPT_MESSAGE, `batch at ${pos} fails its CRC32C (stored ${crc}, computed ${actual})`);
    const attributes = batchAttributes(buf, pos);
    const control = (attributes & CONTROL_FLAG) !== 0;
    if (control && !options.allowControl) return fail(ErrorCode.INVALID_RECORD, `batch at ${pos} is a control batch; clients may not write those`);
    const recordCount = batchRecordCount(buf, pos);
    const lastOffsetDelta = batchLastOffsetDelta(buf, pos);
    if (recordCount < 1) return fail(ErrorCode.INVALID_RECORD, `batch at ${pos} has record count ${recordCount}`);
    if (options.allowOffsetGaps ? lastOffsetDelta < recordCount - 1 : lastOffsetDelta !== recordCount - 1) {
      return fail(ErrorCode.INVALID_RECORD, `batch at ${pos} has lastOffsetDelta ${lastOffsetDelta} for ${recordCount} records`);
    }
    const codec = attributes & COMPRESSION_MASK;
    if (codec !== Compression.NONE && codec !== Compression.GZIP) {
      return fail(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `batch at ${pos} uses compression codec ${codec}; supported: none (0), gzip (1)`);
    }
    const window = options.timestampWindow;
    if (window && !control && outside(batchMaxTimestamp(buf, pos), window)) {
      return fail(
        ErrorCode.INVALID_TIMESTAMP,
        `batch at ${pos} has max timestamp ${batchMaxTimestamp(buf, pos)}, outside the accepted [${window.minMs}, ${window.maxMs}] (message.timestamp.before/after.max.ms)`,
      );
    }
    const compressed = codec !== Compression.NONE;
    if (!options.shallow && !(compressed && options.deferInflate)) {
      let section: Buffer;
      const limit = inflateLimitBytes(options.maxBatchBytes);
      try {
        section = recordsSection(buf, pos, size, limit);
      } catch (err) {
        if (err instanceof InflateLimitError) return tooLargeInflated(pos, limit);
        if (err instanceof UnsupportedCompressionError) return fail(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, err.message);
        return fail(ErrorCode.CORRUPT_MESSAGE, `batch at ${pos}: ${(err as Error).message}`);
      }
      const problem = structureFailure(section, pos, recordCount, lastOffsetDelta, control, batchBaseTimestamp(buf, pos), options);
      if (problem !== null) return problem;
    }
    batches.push({
      compressed,
      pos,
      size,
      recordCount,
      lastOffsetDelta,
      baseTimestamp: batchBaseTimestamp(buf, pos),
      maxTimestamp: batchMaxTimestamp(buf, pos),
      producerId: batchProducerId(buf, pos),
      producerEpoch: batchProducerEpoch(buf, pos),
      baseSequence: batchBaseSequence(buf, pos),
      transactional: (attributes & TRANSACTIONAL_FLAG) !== 0,
      control,
    });
    total += recordCount;
    pos += size;
  }
  return { ok: true, batches, recordCount: total };
}

function structureFailure(section: Buffer, pos: number, recordCount: number, lastOffsetDelta: number, control: boolean, baseTimestamp: number, options: ValidationOptions): ValidationFailure | null {
  const window = options.timestampWindow;
  const timestamps = window && !control ? { baseMs: baseTimestamp, window } : undefined;
  const problem = checkRecordStructure(section, recordCount, options.allowOffsetGaps ? lastOffsetDelta : -1, options.requireKeys === true && !control, timestamps);
  return problem === null ? null : fail(problemCode, `batch at ${pos}: ${problem}`);
}

/**
 * The record checks validateBatches left out for a compressed batch under `deferInflate`, given
 * its records section as inflated (to at most inflateLimitBytes) by the caller. Null when it passes.
 */
export function checkInflatedBatch(section: Buffer, b: ValidatedBatch, options: ValidationOptions): ValidationFailure | null {
  return structureFailure(section, b.pos, b.recordCount, b.lastOffsetDelta, b.control, b.baseTimestamp, options);
}

/** The answer for a compressed batch whose caller-side inflating stopped at inflateLimitBytes. */
export function inflatedTooLarge(b: ValidatedBatch, options: ValidationOptions): ValidationFailure {
  return tooLargeInflated(b.pos, inflateLimitBytes(options.maxBatchBytes));
}

const NULL_KEY = 'a record has a null key; compacted topics need a key on every record';
// The code of the last problem checkRecordStructure reported (it returns only the text, allocating nothing else).
let problemCode: ErrorCode = ErrorCode.CORRUPT_MESSAGE;

// A varint reader over a raw buffer that reports failure as NaN instead of allocating.
let cursor = 0;
function varInt(buf: Buffer, end: number): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 10 && cursor < end; i++) {
    const byte = buf[cursor++]!;
    result += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    multiplier *= 128;
  }
  return NaN;
}

function skipVarBytes(buf: Buffer, end: number, nullable: boolean): boolean {
  const length = varInt(buf, end);
  if (Number.isNaN(length)) return false;
  if (length === -1) return nullable;
  if (length < 0 || cursor + length > end) return false;
  cursor += length;
  return true;
}

/**
 * Null if the records section holds exactly `count` well-formed records with offset deltas
 * 0..count-1 — or, when `maxOffsetDelta` ≥ 0 (compacted batches), strictly increasing deltas up to it.
 */
export function checkRecordStructure(section: Buffer, count: number, maxOffsetDelta = -1, requireKeys = false, timestamps?: { baseMs: number; window: TimestampWindow }): string | null {
  let previousDelta = -1;
  cursor = 0;
  problemCode = ErrorCode.CORRUPT_MESSAGE;
  const end = section.length;
  for (let i = 0; i < count; i++) {
    const length = varInt(section, end);
    if (Number.isNaN(length) || length < 6 || cursor + length > end) return `record ${i} has invalid length ${length}`;
    const recordEnd = cursor + length;
    cursor++; // attributes
    const timestampDelta = varInt(section, recordEnd);
    const offsetDelta = varInt(section, recordEnd);
    if (Number.isNaN(timestampDelta)) return `record ${i} has a malformed timestamp delta`;
    if (timestamps && outside(timestamps.baseMs + timestampDelta, timestamps.window)) {
      problemCode = ErrorCode.INVALID_TIMESTAMP;
      return `record ${i} has timestamp ${timestamps.baseMs + timestampDelta}, outside the accepted [${timestamps.window.minMs}, ${timestamps.window.maxMs}] (message.timestamp.before/after.max.ms)`;
    }
    if (maxOffsetDelta < 0 ? offsetDelta !== i : !(offsetDelta > previousDelta && offsetDelta <= maxOffsetDelta)) {
      return `record ${i} has offset delta ${offsetDelta}`;
    }
    previousDelta = offsetDelta;
    if (requireKeys && section[cursor] === 1) {
      problemCode = ErrorCode.INVALID_RECORD;
      return NULL_KEY; // zigzag(-1): a null key
    }
    if (!skipVarBytes(section, recordEnd, true)) return `record ${i} has a malformed key`;
    if (!skipVarBytes(section, recordEnd, true)) return `record ${i} has a malformed value`;
    const headers = varInt(section, recordEnd);
    if (Number.isNaN(headers) || headers < 0) return `record ${i} has invalid header count ${headers}`;
    for (let h = 0; h < headers; h++) {
      if (!skipVarBytes(section, recordEnd, false)) return `record ${i} header ${h} has a malformed key`;
      if (!skipVarBytes(section, recordEnd, true)) return `record ${i} header ${h} has a malformed value`;
    }
    if (cursor !== recordEnd) return `record ${i} declares ${length} bytes but its fields take ${cursor - recordEnd + length}`;
  }
  if (cursor !== end) return `${end - cursor} bytes follow the last of ${count} records`;
  return null;
}

export { DecodeError };
