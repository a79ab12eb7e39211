import { decodeRecords } from '../record';
import type { LogSegment } from './log-segment';

/**
 * A partition's segments, oldest first, the last one active (Kafka's LogSegments): lookups by
 * offset, reads that cross segment boundaries, sizes. It decides nothing: PartitionLog rolls,
 * truncates and retains, and keeps the offsets (log start, high watermark) that bound a read.
 * Reads throw CorruptSegmentError on damage; PartitionLog takes itself offline on it.
 */
export class LogSegments {
  private list: LogSegment[];

  constructor(segments: LogSegment[]) {
    this.list = segments;
  }

  get active(): LogSegment {
    return this.list[this.list.length - 1]!;
  }

  get oldest(): LogSegment {
    return this.list[0]!;
  }

  /** The offset the next batch gets. */
  get endOffset(): number {
    return this.active.nextOffset;
  }

  get count(): number {
    return this.list.length;
  }

  get sizeInBytes(): number {
    let total = 0;
    for (const s of this.list) total += s.size;
    return total;
  }

  all(): readonly LogSegment[] {
    return this.list;
  }

  baseOffsets(): number[] {
    return this.list.map((s) => s.baseOffset);
  }

  /** The segment that holds `offset` (the last one starting at or below it; the oldest if none does). */
  floor(offset: number): LogSegment {
    return this.list[this.floorIndex(offset)]!;
  }

  private floorIndex(offset: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.list[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** A new active segment (a roll). */
  push(segment: LogSegment): void {
    this.list.push(segment);
  }

  /** Takes off every segment but the oldest that starts at or above `offset` (a truncation's whole segments); returns them, newest first. */
  popFrom(offset: number): LogSegment[] {
    const removed: LogSegment[] = [];
    while (this.list.length > 1 && this.active.baseOffset >= offset) removed.push(this.list.pop()!);
    return removed;
  }

  /** Takes off the oldest segment (retention); there is always one left. */
  shiftOldest(): LogSegment {
    return this.list.shift()!;
  }

  /** Puts `segment` where `old` was (a compacted copy). */
  replace(old: LogSegment, segment: LogSegment): void {
    this.list[this.list.indexOf(old)] = segment;
  }

  /** Drops every segment from the list (the caller deletes their files) and starts over with one. */
  resetTo(segment: LogSegment): void {
    this.list = [segment];
  }

  /** The segments holding data at or above `durableOffset`, and the active one: what a group commit fsyncs. */
  unflushed(durableOffset: number): LogSegment[] {
    return this.list.filter((s) => s.nextOffset > durableOffset || s === this.active);
  }

  /**
   * Whole batches from the one holding `startOffset`, at most `maxBytes` (at least one batch when
   * `minOneBatch`), nothing at or past `maxOffset`. Past a segment's last batch (a compacted
   * gap) the read goes on in the next one. The caller checks `startOffset` against the log's range.
   */
  read(startOffset: number, maxBytes: number, maxOffset: number, minOneBatch: boolean): Buffer {
    let from = startOffset;
    for (let i = this.floorIndex(startOffset); i < this.list.length; i++) {
      const seg = this.list[i]!;
      const maxPosition = maxOffset < seg.nextOffset ? seg.positionOf(maxOffset) : seg.size;
      const data = seg.read(from, maxBytes, maxPosition, minOneBatch);
      if (data !== null) return data;
      const next = this.list[i + 1];
      if (!next || next.baseOffset >= maxOffset) break;
      from = next.baseOffset;
    }
    return Buffer.alloc(0);
  }

  /** The earliest record at or above `logStartOffset` and below `maxOffset` whose timestamp is ≥ `timestamp`, or null. */
  offsetForTimestamp(timestamp: number, maxOffset: number, logStartOffset: number): { offset: number; timestamp: number } | null {
    for (const seg of this.list) {
      if (seg.maxTimestamp < timestamp) continue;
      const loc = seg.findBatchByTimestamp(timestamp);
      if (loc === null) continue;
      for (const r of decodeRecords(seg.readBatch(loc))) {
        if (r.offset >= maxOffset) return null;
        if (r.timestamp >= timestamp && r.offset >= logStartOffset) return { offset: r.offset, timestamp: r.timestamp };
      }
    }
    return null;
  }

  closeAll(): void {
    for (const s of this.list) s.close();
  }
}
