import { isCompacted, type Logger } from '../common';
import { AbortedTransactionFilter, batchIsControl, batchMaxTimestamp, batchRecordCount, decodeRecords, forEachBatch, isIntactBatch, type Record, rewriteBatch } from '../record';
import { type FileSystem, writeFully } from './file-system';
import { CLEANED_SUFFIX, CorruptSegmentError, type LogSegment } from './log-segment';
import type { PartitionLog } from './partition-log';

/** Bound on distinct keys one cleaning pass remembers; past it the pass cleans only up to where the map filled. */
export const MAX_CLEANER_KEYS = 1_000_000;
const READ_CHUNK_BYTES = 8 << 20;

export interface CleanResult {
  segmentsRewritten: number;
  recordsRemoved: number;
  bytesBefore: number;
  bytesAfter: number;
  /** The next pass only needs to index keys from here on. */
  firstDirtyOffset: number;
}

/**
 * Key compaction (Kafka's LogCleaner, one log at a time): for every key, keep only its newest
 * record; drop tombstones (null values) once they are older than delete.retention.ms. Only
 * inactive segments below the last stable offset are touched (an open transaction's records wait
 * for its outcome). Records of aborted transactions are no key's newest record, and are removed;
 * transaction markers stay. Each segment is rewritten to a
 * `.cleaned` file, fsynced, and renamed over the original — a crash leaves one or the other.
 */
export class LogCleaner {
  /** Per log: offset below which keys are already unique. */
  private readonly firstDirty = new WeakMap<PartitionLog, number>();

  constructor(
    private readonly logger: Logger,
    private readonly fsys: FileSystem,
  ) {}

  /** Bytes in the dirty section over cleanable bytes, as Kafka's min.cleanable.dirty.ratio measures. */
  dirtyRatio(log: PartitionLog): number {
    const segs = this.cleanable(log);
    const firstDirty = this.firstDirty.get(log) ?? 0;
    let total = 0;
    let dirty = 0;
    for (const s of segs) {
      total += s.size;
      if (s.baseOffset >= firstDirty) dirty += s.size;
    }
    return total === 0 ? 0 : dirty / total;
  }

  private cleanable(log: PartitionLog): LogSegment[] {
    const segs = log.allSegments();
    const active = segs[segs.length - 1];
    // Below the fsynced end too: recovery accepts the gap a cleaned segment may leave before the
    // next one only where everything was fsynced (see PartitionLog.replaceSegment).
    const limit = Math.min(log.lastStableOffset, log.fsyncedEndOffset);
    return segs.filter((s, i) => s !== active && segs[i + 1]!.baseOffset <= limit);
  }

  shouldClean(log: PartitionLog): boolean {
    return isCompacted(log.config) && !log.isOffline && this.dirtyRatio(log) >= log.config.minCleanableDirtyRatio && this.cleanable(log).length > 0;
  }

  clean(log: PartitionLog, nowMs: number): CleanResult {
    const segs = this.cleanable(log);
    const firstDirty = this.firstDirty.get(log) ?? 0;
    const result: CleanResult = { segmentsRewritten: 0, recordsRemoved: 0, bytesBefore: 0, bytesAfter: 0, firstDirtyOffset: firstDirty };
    if (segs.length === 0) return result;

    // 1. Newest offset of every key in the dirty section.
    const latest = new Map<string, number>();
    let mapEnd = firstDirty;
    outer: for (const s of segs) {
      if (s.nextOffset <= firstDirty) continue;
      for (const records of this.recordsOf(log, s)) {
        for (const r of records) {
          if (r.offset < firstDirty || r.key === null) continue;
          const k = r.key.toString('latin1');
          if (!latest.has(k) && latest.size >= MAX_CLEANER_KEYS) break outer;
          latest.set(k, r.offset);
          mapEnd = r.offset + 1;
        }
      }
      mapEnd = Math.max(mapEnd, s.nextOffset);
    }

    // 2. Rewrite every cleanable segment below the end of the map.
    const tombstoneHorizon = nowMs - log.config.deleteRetentionMs;
    for (const s of segs) {
      if (s.baseOffset >= mapEnd) break;
      const keep = (r: Record, batchMaxTs: number) => {
        if (r.key === null || r.offset >= mapEnd) return true;
        const newest = latest.get(r.key.toString('latin1'));
        if (newest !== undefined && newest !== r.offset) return false;
        return !(r.value === null && batchMaxTs < tombstoneHorizon);
      };
      this.rewriteSegment(log, s, keep, result);
    }
    result.firstDirtyOffset = mapEnd;
    this.firstDirty.set(log, mapEnd);
    if (result.segmentsRewritten > 0) {
      this.logger.info({ topic: log.topic, partition: log.partition, ...result }, 'log compacted');
    }
    return result;
  }

  /**
   * The segment's batches in chunks of about READ_CHUNK_BYTES, so memory stays bounded for large
   * segments. Every batch is CRC-checked: a damaged one must not be rewritten with a fresh CRC,
   * nor the segment cut short where a damaged length stops the walk.
   */
  private *chunksOf(s: LogSegment): Generator<Buffer> {
    let pos = 0;
    while (pos < s.size) {
      const loc = s.readHeaderAt(pos);
      if (loc === null) throw new CorruptSegmentError(s.logFile, pos, 'unreadable batch header while cleaning');
      const chunk = s.readRange(pos, Math.min(Math.max(loc.size, READ_CHUNK_BYTES), s.size - pos));
      const whole = forEachBatch(chunk, (p, size) => {
        if (!isIntactBatch(chunk, p, size)) {
          throw new CorruptSegmentError(s.logFile, pos + p, 'batch fails its CRC32C while cleaning');
        }
      });
      if (whole === 0) throw new CorruptSegmentError(s.logFile, pos, 'batch does not fit in the segment while cleaning');
      yield chunk.subarray(0, whole);
      pos += whole;
    }
  }

  /** Drops the data batches of aborted transactions in `s`, fed every batch in order (markers included). */
  private abortedFilter(log: PartitionLog, s: LogSegment): (buf: Buffer, pos: number) => boolean {
    const filter = new AbortedTransactionFilter(log.abortedTransactions(s.baseOffset, Number.MAX_SAFE_INTEGER));
    return (buf, pos) => filter.keep(buf, pos) || batchIsControl(buf, pos);
  }

  private *recordsOf(log: PartitionLog, s: LogSegment): Generator<Record[]> {
    const keeps = this.abortedFilter(log, s);
    for (const chunk of this.chunksOf(s)) {
      const records: Record[] = [];
      forEachBatch(chunk, (p) => {
        if (keeps(chunk, p) && !batchIsControl(chunk, p)) for (const r of decodeRecords(chunk, p)) records.push(r);
      });
      yield records;
    }
  }

  private rewriteSegment(log: PartitionLog, s: LogSegment, keep: (r: Record, batchMaxTs: number) => boolean, result: CleanResult): void {
    const cleanedFile = s.logFile + CLEANED_SUFFIX;
    const fd = this.fsys.open(cleanedFile, 'w');
    let removed = 0;
    let written = 0;
    const keeps = this.abortedFilter(log, s);
    try {
      for (const data of this.chunksOf(s)) {
        const parts: Buffer[] = [];
        forEachBatch(data, (p, size) => {
          if (!keeps(data, p)) {
            removed += batchRecordCount(data, p);
            return;
          }
          if (batchIsControl(data, p)) {
            parts.push(data.subarray(p, p + size));
            return;
          }
          const maxTs = batchMaxTimestamp(data, p);
          const out = rewriteBatch(data, p, (r) => {
            const k = keep(r, maxTs);
            if (!k) removed++;
            return k;
          });
          if (out !== null) parts.push(out);
        });
        const bytes = Buffer.concat(parts);
        writeFully(this.fsys, fd, bytes, 0, bytes.length, written);
        written += bytes.length;
      }
      if (removed > 0) this.fsys.fsyncSync(fd);
    } finally {
      this.fsys.close(fd);
    }
    if (removed === 0) {
      this.fsys.rm(cleanedFile, { force: true });
      return;
    }
    const before = s.size;
    log.replaceSegment(s, cleanedFile);
    result.segmentsRewritten++;
    result.recordsRemoved += removed;
    result.bytesBefore += before;
    result.bytesAfter += written;
  }
}
