import {
  BATCH_HEADER_BYTES,
  BATCH_LENGTH,
  batchAttributes,
  batchBaseOffset,
  batchBaseTimestamp,
  batchSize,
  compress,
  COMPRESSION_MASK,
  computeBatchCrc,
  CRC,
  decodeRecords,
  type Record,
  RECORD_COUNT,
} from './batch';
import { Encoder } from './encoding';

/**
 * Re-encodes the batch at `pos` with only the records `keep` accepts, preserving everything in
 * its header — base offset, last offset delta, leader epoch, producer fields, attributes — so the
 * batch still covers the same offset range (Kafka's compaction keeps batches "sparse" this way).
 * Returns null when no record is kept, and the original bytes when every record is.
 */
export function rewriteBatch(buf: Buffer, pos: number, keep: (r: Record) => boolean): Buffer | null {
  const size = batchSize(buf, pos);
  const records = decodeRecords(buf, pos);
  const kept = records.filter(keep);
  if (kept.length === records.length) return buf.subarray(pos, pos + size);
  if (kept.length === 0) return null;
  const baseOffset = batchBaseOffset(buf, pos);
  const baseTimestamp = batchBaseTimestamp(buf, pos);
  const body = new Encoder(size);
  for (const r of kept) {
    const inner = new Encoder(64);
    inner
      .int8(0)
      .varInt(r.timestamp - baseTimestamp)
      .varInt(r.offset - baseOffset)
      .varBytes(r.key)
      .varBytes(r.value)
      .varInt(r.headers.length);
    for (const h of r.headers) inner.varBytes(Buffer.from(h.key, 'utf8')).varBytes(h.value);
    const bytes = inner.finish();
    body.varInt(bytes.length).raw(bytes);
  }
  const codec = batchAttributes(buf, pos) & COMPRESSION_MASK;
  const section = compress(codec, body.finish());
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + section.length);
  buf.copy(out, 0, pos, pos + BATCH_HEADER_BYTES);
  section.copy(out, BATCH_HEADER_BYTES);
  out.writeInt32BE(out.length - 12, BATCH_LENGTH);
  out.writeInt32BE(kept.length, RECORD_COUNT);
  out.writeUInt32BE(computeBatchCrc(out, 0, out.length), CRC);
  return out;
}
