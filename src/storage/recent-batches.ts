import type { BatchLocation } from './log-segment';

/** One batch as it was appended: where it sits in the segment file, and its bytes (a copy). */
export interface RecentBatch extends BatchLocation {
  readonly bytes: Buffer;
}

/**
 * A bound on the bytes one active segment keeps in memory. A follower fetches a few milliseconds
 * behind the leader's end, so at full throttle (~7 MB/s per partition here, 256 KiB batches) this
 * covers its fetches many times over; a reader further behind reads the file as before.
 */
export const RECENT_BATCHES_MAX_BYTES = 1024 * 1024;
/** A bound on their number, for logs of tiny batches. */
export const RECENT_BATCHES_MAX_COUNT = 512;

/**
 * The batches last appended to the active segment, as written. Kafka leaves the log's tail to
 * the page cache; here a read from the file costs a walk of batch headers (a pread each) from the
 * nearest index entry, a pread of the data and a CRC check of every batch, on the event loop, at
 * every fetch. Every follower's fetch, and a consumer's at the end of the log, asks for exactly
 * these batches, and gets them from memory with the same answer the file would give.
 *
 * The segment keeps it in step with the file: appended after each write, cut at a truncation,
 * emptied when the segment stops being the active one. Bytes are copied at append, so nothing a
 * caller does with its buffer afterwards can change what is served.
 */
export class RecentBatches {
  private batches: RecentBatch[] = [];
  private bytes = 0;

  constructor(
    readonly maxBytes = RECENT_BATCHES_MAX_BYTES,
    readonly maxCount = RECENT_BATCHES_MAX_COUNT,
  ) {}

  get count(): number {
    return this.batches.length;
  }

  /**
   * Records one write: `written` is what went to the file at `filePosition`, and `batches` every
   * batch in it, in order, each at `at` bytes into `written`.
   */
  add(written: Buffer, filePosition: number, batches: readonly (Omit<BatchLocation, 'position'> & { at: number })[]): void {
    if (written.length > this.maxBytes) {
      // Larger than the whole budget: the file serves it, and what came before goes too (the
      // batches held must run without a gap up to the end of the segment).
      this.clear();
      return;
    }
    const copy = Buffer.from(written);
    for (const { at, ...loc } of batches) this.batches.push({ ...loc, position: filePosition + at, bytes: copy.subarray(at, at + loc.size) });
    this.bytes += copy.length;
    let drop = 0;
    while (drop < this.batches.length && (this.bytes > this.maxBytes || this.batches.length - drop > this.maxCount)) {
      this.bytes -= this.batches[drop]!.size;
      drop++;
    }
    if (drop > 0) this.batches.splice(0, drop);
  }

  /**
   * The first batch whose last offset is at or past `offset` (what a header walk from the file
   * would find), or null when the batches held cannot tell: `offset` is below the oldest of them
   * (an older batch might hold it) or past the newest.
   */
  locate(offset: number): BatchLocation | null {
    const i = this.indexOf(offset);
    if (i < 0) return null;
    const { bytes: _bytes, ...loc } = this.batches[i]!;
    return loc;
  }

  /**
   * LogSegment.read's answer from memory: whole batches from the one `locate(startOffset)` finds,
   * at most `maxBytes` (at least that one with `minOneBatch`), none at or past `maxPosition`.
   * Null when the batches held do not cover `startOffset`.
   */
  read(startOffset: number, maxBytes: number, maxPosition: number, minOneBatch: boolean): Buffer | null {
    const i = this.indexOf(startOffset);
    if (i < 0) return null;
    const first = this.batches[i]!;
    if (first.position >= maxPosition) return Buffer.alloc(0);
    let length = Math.min(maxBytes, maxPosition - first.position);
    if (length < first.size) {
      if (!minOneBatch) return Buffer.alloc(0);
      length = first.size;
    }
    let j = i;
    let taken = 0;
    while (j < this.batches.length && taken + this.batches[j]!.size <= length) taken += this.batches[j++]!.size;
    if (j === i + 1) return first.bytes;
    return Buffer.concat(
      this.batches.slice(i, j).map((b) => b.bytes),
      taken,
    );
  }

  /** The file was cut at `position`: batches at or past it are gone. */
  truncateFrom(position: number): void {
    let keep = this.batches.length;
    while (keep > 0 && this.batches[keep - 1]!.position >= position) {
      keep--;
      this.bytes -= this.batches[keep]!.size;
    }
    this.batches.length = keep;
  }

  clear(): void {
    this.batches = [];
    this.bytes = 0;
  }

  private indexOf(offset: number): number {
    const b = this.batches;
    if (b.length === 0 || offset < b[0]!.baseOffset || offset > b[b.length - 1]!.lastOffset) return -1;
    // The first batch whose last offset is at or past `offset`.
    let lo = 0;
    let hi = b.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid]!.lastOffset >= offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
