import { promisify } from 'node:util';
import { gunzip, gunzipSync, gzipSync } from 'node:zlib';
import { crc32c } from './crc32c';
import { Decoder, DecodeError, Encoder, readInt64, sizeOfVarInt, writeInt64 } from './encoding';

/**
 * The record batch (design brief §3), byte for byte Kafka's v2 RecordBatch:
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (=2) |
 *   crc uint32 | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 |
 *   maxTimestamp int64 | producerId int64 | producerEpoch int16 | baseSequence int32 |
 *   recordCount int32 | records...
 *
 * The CRC32C covers everything from `attributes` to the end, so the broker can stamp
 * `baseOffset` and `partitionLeaderEpoch` in place without recomputing it.
 *
 * Each record: length varint | attributes int8 | timestampDelta varint | offsetDelta varint |
 * key varbytes | value varbytes | header count varint | headers (key varbytes utf8, value varbytes).
 */

export const MAGIC = 2;
export const BASE_OFFSET = 0;
export const BATCH_LENGTH = 8;
export const PARTITION_LEADER_EPOCH = 12;
export const MAGIC_OFFSET = 16;
export const CRC = 17;
export const ATTRIBUTES = 21;
export const LAST_OFFSET_DELTA = 23;
export const BASE_TIMESTAMP = 27;
export const MAX_TIMESTAMP = 35;
export const PRODUCER_ID = 43;
export const PRODUCER_EPOCH = 51;
export const BASE_SEQUENCE = 53;
export const RECORD_COUNT = 57;
/** Bytes before the first record. */
export const BATCH_HEADER_BYTES = 61;
/** baseOffset + batchLength: the bytes not counted by batchLength. */
export const LOG_OVERHEAD = 12;

export enum Compression {
  NONE = 0,
  GZIP = 1,
  SNAPPY = 2,
  LZ4 = 3,
  ZSTD = 4,
}
export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_LOG_APPEND = 0x08;
export const TRANSACTIONAL_FLAG = 0x10;
export const CONTROL_FLAG = 0x20;

export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
export const NO_PARTITION_LEADER_EPOCH = -1;

/**
 * How many batches of each idempotent producer a partition leader remembers to recognise a
 * retried one (Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN), and so how many batches past
 * its oldest unacknowledged one a producer may send (max.in.flight.requests.per.connection ≤ 5
 * with idempotence): any retry it can send is then one of these.
 */
export const PRODUCER_BATCHES_RETAINED = 5;

/** Sequences are int32 and wrap from 2^31 - 1 to 0 (Kafka's DefaultRecordBatch.incrementSequence). */
const SEQUENCE_MODULUS = 2 ** 31;

/** The sequence `delta` past `sequence`, wrapping past 2^31 - 1 to 0. */
export function incrementSequence(sequence: number, delta: number): number {
  return (sequence + delta) % SEQUENCE_MODULUS;
}

export interface Header {
  key: string;
  value: Buffer | null;
}

export interface Record {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Read-only: records without headers share one frozen empty list (one allocation fewer per record read). */
  headers: readonly Header[];
}

/** The headers of every decoded record that has none. */
export const NO_HEADERS: readonly Header[] = Object.freeze([]);

export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

// ---- header access: no allocation, used on the broker hot path ----

export const batchBaseOffset = (buf: Buffer, pos = 0) => readInt64(buf, pos + BASE_OFFSET);
export const batchLength = (buf: Buffer, pos = 0) => buf.readInt32BE(pos + BATCH_LENGTH);
/** Total bytes of the batch at `pos`, including the 12 bytes before batchLength. */
export const batchSize = (buf: Buffer, pos = 0) => buf.readInt32BE(pos + BATCH_LENGTH) + LOG_OVERHEAD;
export const batchLeaderEpoch = (buf: Buffer, pos = 0) => buf.readInt32BE(pos + PARTITION_LEADER_EPOCH);
export const batchAttributes = (buf: Buffer, pos = 0) => buf.readInt16BE(pos + ATTRIBUTES);
export const batchLastOffsetDelta = (buf: Buffer, pos = 0) => buf.readInt32BE(pos + LAST_OFFSET_DELTA);
export const batchLastOffset = (buf: Buffer, pos = 0) => batchBaseOffset(buf, pos) + batchLastOffsetDelta(buf, pos);
export const batchBaseTimestamp = (buf: Buffer, pos = 0) => readInt64(buf, pos + BASE_TIMESTAMP);
export const batchMaxTimestamp = (buf: Buffer, pos = 0) => readInt64(buf, pos + MAX_TIMESTAMP);
export const batchProducerId = (buf: Buffer, pos = 0) => readInt64(buf, pos + PRODUCER_ID);
export const batchProducerEpoch = (buf: Buffer, pos = 0) => buf.readInt16BE(pos + PRODUCER_EPOCH);
export const batchBaseSequence = (buf: Buffer, pos = 0) => buf.readInt32BE(pos + BASE_SEQUENCE);
export const batchRecordCount = (buf: Buffer, pos = 0) => buf.readInt32BE(pos + RECORD_COUNT);
export const batchIsControl = (buf: Buffer, pos = 0) => (batchAttributes(buf, pos) & CONTROL_FLAG) !== 0;
export const batchIsTransactional = (buf: Buffer, pos = 0) => (batchAttributes(buf, pos) & TRANSACTIONAL_FLAG) !== 0;

export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  if (pos + BATCH_HEADER_BYTES > buf.length) throw new DecodeError(`batch header truncated at ${pos}`);
  return {
    baseOffset: batchBaseOffset(buf, pos),
    batchLength: batchLength(buf, pos),
    partitionLeaderEpoch: batchLeaderEpoch(buf, pos),
    magic: buf.readInt8(pos + MAGIC_OFFSET),
    crc: buf.readUInt32BE(pos + CRC),
    attributes: batchAttributes(buf, pos),
    lastOffsetDelta: batchLastOffsetDelta(buf, pos),
    baseTimestamp: batchBaseTimestamp(buf, pos),
    maxTimestamp: batchMaxTimestamp(buf, pos),
    producerId: batchProducerId(buf, pos),
    producerEpoch: batchProducerEpoch(buf, pos),
    baseSequence: batchBaseSequence(buf, pos),
    recordCount: batchRecordCount(buf, pos),
  };
}

/** CRC32C over attributes..end of the batch at `pos` (of `size` bytes). */
export function computeBatchCrc(buf: Buffer, pos: number, size: number): number {
  return crc32c(buf.subarray(pos + ATTRIBUTES, pos + size));
}

/** Whether the `size` bytes at `pos` are a batch of magic 2 whose stored CRC32C matches its bytes. */
export function isIntactBatch(buf: Buffer, pos: number, size: number): boolean {
  return buf.readInt8(pos + MAGIC_OFFSET) === MAGIC && computeBatchCrc(buf, pos, size) === buf.readUInt32BE(pos + CRC);
}

/** Writes the broker-assigned fields in place; the CRC does not cover them. */
export function stampBatch(buf: Buffer, pos: number, baseOffset: number, partitionLeaderEpoch: number): void {
  writeInt64(buf, pos + BASE_OFFSET, baseOffset);
  buf.writeInt32BE(partitionLeaderEpoch, pos + PARTITION_LEADER_EPOCH);
}

/** For topics with message.timestamp.type=LogAppendTime: sets the time and the flag, re-signs. */
export function stampLogAppendTime(buf: Buffer, pos: number, size: number, nowMs: number): void {
  buf.writeInt16BE(batchAttributes(buf, pos) | TIMESTAMP_TYPE_LOG_APPEND, pos + ATTRIBUTES);
  writeInt64(buf, pos + MAX_TIMESTAMP, nowMs);
  buf.writeUInt32BE(computeBatchCrc(buf, pos, size), pos + CRC);
}

/**
 * Writes an idempotent producer's id, epoch and base sequence into a built batch in place and
 * re-signs it (the CRC covers them). The producer assigns a batch's sequence when it first sends
 * it, after the batch was built (client/idempotence.ts).
 */
export function stampProducerState(buf: Buffer, pos: number, size: number, producerId: number, producerEpoch: number, baseSequence: number): void {
  writeInt64(buf, pos + PRODUCER_ID, producerId);
  buf.writeInt16BE(producerEpoch, pos + PRODUCER_EPOCH);
  buf.writeInt32BE(baseSequence, pos + BASE_SEQUENCE);
  buf.writeUInt32BE(computeBatchCrc(buf, pos, size), pos + CRC);
}

// ---- encode ----

export interface BatchOptions {
  compression?: Compression;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  control?: boolean;
  partitionLeaderEpoch?: number;
  baseOffset?: number;
  /** Bytes to reserve up front (a builder; default 64 KiB, never more than maxBytes). */
  initialCapacity?: number;
}

export interface RecordInput {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: readonly Header[];
  timestamp?: number;
}

function headersSize(headers: readonly Header[] | undefined): number {
  if (!headers || headers.length === 0) return 1;
  let size = sizeOfVarInt(headers.length);
  for (const h of headers) {
    const keyBytes = Buffer.byteLength(h.key);
    size += sizeOfVarInt(keyBytes) + keyBytes;
    size += h.value === null ? 1 : sizeOfVarInt(h.value.length) + h.value.length;
  }
  return size;
}

/** Size of one record's body (everything after its length varint). */
export function recordBodySize(timestampDelta: number, offsetDelta: number, key: Buffer | null, value: Buffer | null, headers?: readonly Header[]): number {
  return (
    1 +
    sizeOfVarInt(timestampDelta) +
    sizeOfVarInt(offsetDelta) +
    (key === null ? 1 : sizeOfVarInt(key.length) + key.length) +
    (value === null ? 1 : sizeOfVarInt(value.length) + value.length) +
    headersSize(headers)
  );
}

/**
 * Builds one batch record by record straight into a buffer: the producer's accumulator keeps one
 * per partition and calls `tryAppend` until the batch is full.
 */
export class RecordBatchBuilder {
  private readonly enc: Encoder;
  private count = 0;
  private baseTimestamp = -1;
  private maxTimestamp = -1;
  private readonly options: Required<Omit<BatchOptions, 'control' | 'initialCapacity'>> & { control: boolean };

  constructor(
    readonly maxBytes: number,
    options: BatchOptions = {},
  ) {
    this.options = {
      compression: options.compression ?? Compression.NONE,
      producerId: options.producerId ?? NO_PRODUCER_ID,
      producerEpoch: options.producerEpoch ?? NO_PRODUCER_EPOCH,
      baseSequence: options.baseSequence ?? NO_SEQUENCE,
      transactional: options.transactional ?? false,
      control: options.control ?? false,
      partitionLeaderEpoch: options.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH,
      baseOffset: options.baseOffset ?? 0,
    };
    // Start at most 64 KiB (or the caller's estimate) and grow by doubling: a batch of one record
    // need not hold its maximum, and a partition whose batches fill up can start at full size.
    this.enc = new Encoder(Math.min(Math.max(maxBytes, 256), options.initialCapacity ?? 64 * 1024) + 64);
    this.enc.pos = BATCH_HEADER_BYTES;
  }

  get recordCount(): number {
    return this.count;
  }

  /** Bytes the batch would take if built now (uncompressed). */
  get sizeInBytes(): number {
    return this.enc.pos;
  }

  /**
   * Appends a record unless that would take the batch past `maxBytes`. A first record is always
   * accepted, however large, so an oversized record surfaces as MESSAGE_TOO_LARGE from the broker
   * rather than looping in the client.
   */
  tryAppend(timestamp: number, key: Buffer | null, value: Buffer | null, headers?: readonly Header[]): boolean {
    if (this.count === 0) this.baseTimestamp = timestamp;
    const timestampDelta = timestamp - this.baseTimestamp;
    const body = recordBodySize(timestampDelta, this.count, key, value, headers);
    const total = sizeOfVarInt(body) + body;
    if (this.count > 0 && this.enc.pos + total > this.maxBytes) return false;
    const e = this.enc;
    e.varInt(body).int8(0).varInt(timestampDelta).varInt(this.count).varBytes(key).varBytes(value);
    if (!headers || headers.length === 0) {
      e.varInt(0);
    } else {
      e.varInt(headers.length);
      for (const h of headers) e.varBytes(Buffer.from(h.key, 'utf8')).varBytes(h.value);
    }
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    this.count++;
    return true;
  }

  /**
   * Finishes the batch; the builder must not be used afterwards. `producer` (an idempotent
   * producer's id, epoch and sequence) overrides the options', so the CRC is computed once.
   */
  build(producer?: { producerId: number; producerEpoch: number; baseSequence: number }): Buffer {
    if (this.count === 0) throw new Error('cannot build an empty batch');
    const o = producer === undefined ? this.options : { ...this.options, ...producer };
    let out = this.enc.finish();
    if (o.compression !== Compression.NONE) {
      const compressed = compress(o.compression, out.subarray(BATCH_HEADER_BYTES));
      const whole = Buffer.allocUnsafe(BATCH_HEADER_BYTES + compressed.length);
      compressed.copy(whole, BATCH_HEADER_BYTES);
      out = whole;
    }
    writeInt64(out, BASE_OFFSET, o.baseOffset);
    out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH);
    out.writeInt32BE(o.partitionLeaderEpoch, PARTITION_LEADER_EPOCH);
    out.writeInt8(MAGIC, MAGIC_OFFSET);
    let attributes = o.compression;
    if (o.transactional) attributes |= TRANSACTIONAL_FLAG;
    if (o.control) attributes |= CONTROL_FLAG;
    out.writeInt16BE(attributes, ATTRIBUTES);
    out.writeInt32BE(this.count - 1, LAST_OFFSET_DELTA);
    writeInt64(out, BASE_TIMESTAMP, this.baseTimestamp);
    writeInt64(out, MAX_TIMESTAMP, this.maxTimestamp);
    writeInt64(out, PRODUCER_ID, o.producerId);
    out.writeInt16BE(o.producerEpoch, PRODUCER_EPOCH);
    out.writeInt32BE(o.baseSequence, BASE_SEQUENCE);
    out.writeInt32BE(this.count, RECORD_COUNT);
    out.writeUInt32BE(computeBatchCrc(out, 0, out.length), CRC);
    return out;
  }
}

/** Encodes records into one batch (convenience for tests, the CLI and the plain-records path). */
export function encodeBatch(records: RecordInput[], options: BatchOptions = {}, nowMs = 0): Buffer {
  const builder = new RecordBatchBuilder(Number.MAX_SAFE_INTEGER, options);
  for (const r of records) builder.tryAppend(r.timestamp ?? nowMs, r.key ?? null, r.value, r.headers);
  return builder.build();
}

// ---- decode ----

export function compress(codec: Compression, data: Buffer): Buffer {
  switch (codec) {
    case Compression.NONE:
      return data;
    case Compression.GZIP:
      return gzipSync(data, { level: 1 });
    default:
      throw new UnsupportedCompressionError(codec);
  }
}

export class UnsupportedCompressionError extends Error {
  constructor(readonly codec: number) {
    super(`unsupported compression codec ${codec} (supported: none, gzip)`);
  }
}

/**
 * Bound on a decompressed records section wherever one is inflated without a topic's limit at hand
 * (consumers, fetch with decode_records, the cleaner, reads by timestamp): the largest
 * max.message.bytes a topic may set (common/log-config.ts). A 1 MiB gzip batch can inflate to
 * 1 GiB; inflating stops at the bound instead (style §3).
 */
export const MAX_INFLATED_BATCH_BYTES = 64 * 1024 * 1024;

/** A compressed records section inflates past the bound it was given; the inflating stopped there. */
export class InflateLimitError extends DecodeError {
  constructor(readonly limitBytes: number) {
    super(`gzip records section inflates past ${limitBytes} bytes`);
  }
}

const gunzipAsync = promisify(gunzip);

/** zlib's error inflating a gzip records section as ours: InflateLimitError past maxOutputLength, else a DecodeError. */
function inflateError(err: unknown, maxInflatedBytes: number): DecodeError {
  if ((err as { code?: unknown })?.code === 'ERR_BUFFER_TOO_LARGE') return new InflateLimitError(maxInflatedBytes);
  return new DecodeError(`gzip records section does not decompress: ${(err as Error).message}`);
}

/**
 * The records section of the gzip batch at `pos`, inflated in zlib's thread pool (off the event
 * loop) to at most `maxInflatedBytes`; fails as recordsSection does.
 */
export async function inflateRecordsSection(buf: Buffer, pos: number, size: number, maxInflatedBytes: number): Promise<Buffer> {
  try {
    return await gunzipAsync(buf.subarray(pos + BATCH_HEADER_BYTES, pos + size), { maxOutputLength: Math.max(1, maxInflatedBytes) });
  } catch (err) {
    throw inflateError(err, maxInflatedBytes);
  }
}

/**
 * The records section of the batch at `pos`, decompressed if needed — to at most
 * `maxInflatedBytes` (InflateLimitError past it, before more is allocated).
 */
export function recordsSection(buf: Buffer, pos: number, size: number, maxInflatedBytes = MAX_INFLATED_BATCH_BYTES): Buffer {
  const codec = batchAttributes(buf, pos) & COMPRESSION_MASK;
  const raw = buf.subarray(pos + BATCH_HEADER_BYTES, pos + size);
  switch (codec) {
    case Compression.NONE:
      return raw;
    case Compression.GZIP:
      try {
        return gunzipSync(raw, { maxOutputLength: Math.max(1, maxInflatedBytes) });
      } catch (err) {
        throw inflateError(err, maxInflatedBytes);
      }
    default:
      throw new UnsupportedCompressionError(codec);
  }
}

/** Decodes every record of the batch at `pos`. Byte fields are views into the input (or into the decompressed copy). */
export function decodeRecords(buf: Buffer, pos = 0): Record[] {
  const out: Record[] = [];
  decodeRecordsInto(buf, pos, 0, makeRecord, out);
  return out;
}

/** Builds one decoded record; lets a reader build its own record type without an intermediate copy. */
export type RecordMaker<T> = (offset: number, timestamp: number, key: Buffer | null, value: Buffer | null, headers: readonly Header[]) => T;

const makeRecord: RecordMaker<Record> = (offset, timestamp, key, value, headers) => ({ offset, timestamp, key, value, headers });

/**
 * Decodes the records of the batch at `pos` whose offset is at least `minOffset`, appending
 * `make(...)` of each to `out`. Keys, values and header values are views into `buf`, not copies.
 */
export function decodeRecordsInto<T>(buf: Buffer, pos: number, minOffset: number, make: RecordMaker<T>, out: T[]): void {
  const size = batchSize(buf, pos);
  const baseOffset = batchBaseOffset(buf, pos);
  const baseTimestamp = batchBaseTimestamp(buf, pos);
  const count = batchRecordCount(buf, pos);
  const logAppendTime = (batchAttributes(buf, pos) & TIMESTAMP_TYPE_LOG_APPEND) !== 0;
  const maxTimestamp = logAppendTime ? batchMaxTimestamp(buf, pos) : 0;
  const section = recordsSection(buf, pos, size);
  const d = new Decoder(section);
  for (let i = 0; i < count; i++) {
    const length = d.varInt();
    const end = d.pos + length;
    if (length < 0 || end > d.end) throw new DecodeError(`record ${i} length ${length} runs past the batch`);
    d.int8(); // record attributes: unused in v2
    const timestampDelta = d.varInt();
    const offsetDelta = d.varInt();
    const key = d.varBytes();
    const value = d.varBytes();
    const headerCount = d.varInt();
    if (headerCount < 0 || headerCount > length) throw new DecodeError(`record ${i} has invalid header count ${headerCount}`);
    let headers = NO_HEADERS;
    if (headerCount > 0) {
      const list: Header[] = [];
      for (let h = 0; h < headerCount; h++) {
        const hk = d.varBytes();
        if (hk === null) throw new DecodeError(`record ${i} header ${h} has a null key`);
        list.push({ key: hk.toString('utf8'), value: d.varBytes() });
      }
      headers = list;
    }
    if (d.pos !== end) throw new DecodeError(`record ${i} length ${length} does not match its fields`);
    const offset = baseOffset + offsetDelta;
    if (offset >= minOffset) out.push(make(offset, logAppendTime ? maxTimestamp : baseTimestamp + timestampDelta, key, value, headers));
  }
  if (d.remaining() !== 0) throw new DecodeError(`${d.remaining()} bytes left after ${count} records`);
}

/** One past the last offset of the last whole batch in `buf` (0 when it holds none): where reading goes on. */
export function offsetAfterBatches(buf: Buffer): number {
  let last = -1;
  forEachBatch(buf, (pos) => {
    last = batchLastOffset(buf, pos);
  });
  return last + 1;
}

/** The size of the whole batch at `pos` of `buf`, or 0 if none starts there (the end, or a partial or impossible length). */
export function wholeBatchAt(buf: Buffer, pos: number): number {
  if (pos + LOG_OVERHEAD > buf.length) return 0;
  const size = batchSize(buf, pos);
  return size >= BATCH_HEADER_BYTES && pos + size <= buf.length ? size : 0;
}

/** Calls `fn(pos, size)` for each whole batch in a buffer of concatenated batches; stops at a partial one. */
export function forEachBatch(buf: Buffer, fn: (pos: number, size: number) => void): number {
  let pos = 0;
  for (let size = wholeBatchAt(buf, pos); size > 0; size = wholeBatchAt(buf, pos)) {
    fn(pos, size);
    pos += size;
  }
  return pos;
}

/** Decodes all records of all whole batches in `buf`, skipping control batches. */
export function decodeAllRecords(buf: Buffer, minOffset = 0): Record[] {
  const out: Record[] = [];
  forEachBatch(buf, (pos) => {
    if (!batchIsControl(buf, pos)) decodeRecordsInto(buf, pos, minOffset, makeRecord, out);
  });
  return out;
}
