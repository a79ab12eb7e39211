import * as path from 'node:path';
import { ATTRIBUTES, BATCH_HEADER_BYTES, batchBaseOffset, batchLastOffset, batchMaxTimestamp, CRC, crc32c, isIntactBatch, LOG_OVERHEAD, MAGIC, MAGIC_OFFSET } from '../record';
import type { FileSystem } from './file-system';
import { OffsetIndex, TimeIndex } from './index-file';
import { RecentBatches } from './recent-batches';
import { MAX_MESSAGE_BYTES_LIMIT } from '../common';

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';
export const CLEANED_SUFFIX = '.cleaned';

export function segmentFileName(baseOffset: number, suffix: string): string {
  return String(baseOffset).padStart(20, '0') + suffix;
}

/** Where one batch sits in a segment file. */
export interface BatchLocation {
  baseOffset: number;
  lastOffset: number;
  position: number;
  size: number;
  maxTimestamp: number;
}

/** The outcome of scanning a segment file batch by batch. */
export interface SegmentScan {
  /** Bytes from the start of the file that hold valid, whole batches. */
  validBytes: number;
  /** Why the scan stopped before the end of the file, if it did. */
  problem: string | null;
  /** Whether a valid batch was found after the bad bytes: corruption in the middle, not a torn tail. */
  validDataAfterProblem: boolean;
}

/** Thrown when a read finds bytes that fail their CRC: the partition goes offline. */
export class CorruptSegmentError extends Error {
  constructor(
    readonly file: string,
    readonly position: number,
    reason: string,
  ) {
    super(`${file} is corrupt at position ${position}: ${reason}`);
    this.name = 'CorruptSegmentError';
  }
}

/**
 * No batch on disk is larger than this: leaders accept at most max.message.bytes, whose ceiling
 * this is, and followers and the cleaner write nothing larger. A length above it is damage, and
 * is never used to size a read.
 */
export const MAX_BATCH_BYTES_ON_DISK = MAX_MESSAGE_BYTES_LIMIT;

const SCAN_CHUNK_BYTES = 1 << 20;
/** How far past a bad batch recovery looks for a valid one before calling the bad bytes a torn tail. */
const CORRUPTION_PROBE_BYTES = 4 << 20;

/**
 * One segment: a `.log` file of batches plus its offset and time indexes (Kafka's LogSegment).
 * Appends write in place at the end of the file; reads are positional.
 */
export class LogSegment {
  readonly logFile: string;
  private fd: number;
  /** Bytes of whole batches in the log file. */
  size: number;
  /** One past the last offset in the segment; `baseOffset` when empty. */
  nextOffset: number;
  maxTimestamp = -1;
  private offsetOfMaxTimestamp: number;
  private bytesSinceLastIndexEntry = 0;
  /** Wall-clock time of the first append, for `segment.ms` rolls. */
  rollStartMs: number | null = null;
  private syncsInFlight = 0;
  private closeRequested = false;
  private readonly header = Buffer.alloc(BATCH_HEADER_BYTES);
  /** The last batches appended, as written: fetches of the log's end are answered from them. */
  private readonly recent = new RecentBatches();

  private constructor(
    private readonly fsys: FileSystem,
    readonly dir: string,
    readonly baseOffset: number,
    readonly index: OffsetIndex,
    readonly timeIndex: TimeIndex,
    private readonly indexIntervalBytes: number,
    fd: number,
    size: number,
  ) {
    this.logFile = path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    this.fd = fd;
    this.size = size;
    this.nextOffset = baseOffset;
    this.offsetOfMaxTimestamp = baseOffset;
  }

  static create(fsys: FileSystem, dir: string, baseOffset: number, indexIntervalBytes: number): LogSegment {
    const logFile = path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    const fd = fsys.open(logFile, 'wx+');
    const index = new OffsetIndex(fsys, path.join(dir, segmentFileName(baseOffset, INDEX_SUFFIX)), baseOffset);
    const timeIndex = new TimeIndex(fsys, path.join(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX)), baseOffset);
    fsys.rm(index.file, { force: true });
    fsys.rm(timeIndex.file, { force: true });
    return new LogSegment(fsys, dir, baseOffset, index, timeIndex, indexIntervalBytes, fd, 0);
  }

  /**
   * Opens an existing segment. With `scan`, every batch is read and checked (CRC, framing,
   * offsets) and the indexes are rebuilt; the caller decides what to do with a problem. Without
   * it, the indexes are trusted if sane (else rebuilt by a scan) and the tail state comes from them.
   */
  static open(fsys: FileSystem, dir: string, baseOffset: number, indexIntervalBytes: number, scan: boolean): { segment: LogSegment; scan: SegmentScan | null } {
    const logFile = path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    const fd = fsys.open(logFile, 'r+');
    const fileBytes = fsys.fileSize(fd);
    const indexFile = path.join(dir, segmentFileName(baseOffset, INDEX_SUFFIX));
    const timeIndexFile = path.join(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX));
    const index = scan ? null : OffsetIndex.load(fsys, indexFile, baseOffset, fileBytes);
    const segment = new LogSegment(fsys, dir, baseOffset, index ?? new OffsetIndex(fsys, indexFile, baseOffset), new TimeIndex(fsys, timeIndexFile, baseOffset), indexIntervalBytes, fd, fileBytes);
    if (index === null) {
      const result = segment.rebuild();
      return { segment, scan: result };
    }
    // Trusted indexes: find the tail from the last index entry, reading only headers.
    const timeIndex = TimeIndex.load(fsys, timeIndexFile, baseOffset, Number.MAX_SAFE_INTEGER);
    const start = index.entries > 0 ? index.positionAt(index.entries - 1) : 0;
    const tail = segment.scanHeaders(start, fileBytes);
    if (tail.end !== fileBytes || timeIndex === null) {
      // The indexes disagree with the file; do it the slow, certain way.
      return { segment, scan: segment.rebuild() };
    }
    segment.adoptTimeIndex(timeIndex);
    if (tail.last) {
      segment.nextOffset = tail.last.lastOffset + 1;
      segment.rollStartMs = null;
    }
    segment.maxTimestamp = Math.max(timeIndex.lastTimestamp, tail.maxTimestamp);
    segment.bytesSinceLastIndexEntry = fileBytes - start;
    return { segment, scan: null };
  }

  private adoptTimeIndex(t: TimeIndex): void {
    (this as { timeIndex: TimeIndex }).timeIndex = t;
  }

  /** Reads headers from `from` to `to` without CRC checks; stops at the first frame that does not fit. */
  private scanHeaders(from: number, to: number): { end: number; last: BatchLocation | null; maxTimestamp: number } {
    let pos = from;
    let last: BatchLocation | null = null;
    let maxTimestamp = -1;
    while (pos + BATCH_HEADER_BYTES <= to) {
      const loc = this.readHeaderAt(pos);
      if (loc === null || pos + loc.size > to) break;
      last = loc;
      maxTimestamp = Math.max(maxTimestamp, loc.maxTimestamp);
      pos += loc.size;
    }
    return { end: pos, last, maxTimestamp };
  }

  /** The header of the batch at `position`, or null if it is not a plausible batch header. */
  readHeaderAt(position: number): BatchLocation | null {
    const h = this.headerAt(position);
    return typeof h === 'string' ? null : h;
  }

  /**
   * The header of the batch at `position`, or why it cannot be one. Its length is bounded and
   * must fit in the segment: the length field is not covered by the CRC, and a damaged one would
   * otherwise size an allocation or make a header walk jump over batches.
   */
  private headerAt(position: number): BatchLocation | string {
    const n = this.fsys.read(this.fd, this.header, 0, BATCH_HEADER_BYTES, position);
    if (n < BATCH_HEADER_BYTES) return `only ${n} bytes of a batch header`;
    const size = this.header.readInt32BE(8) + LOG_OVERHEAD;
    if (size < BATCH_HEADER_BYTES) return `batch length ${size - LOG_OVERHEAD} is below the header size`;
    if (size > MAX_BATCH_BYTES_ON_DISK) return `batch length ${size - LOG_OVERHEAD} is above the ${MAX_BATCH_BYTES_ON_DISK}-byte bound`;
    if (position + size > this.size) return `batch length ${size - LOG_OVERHEAD} runs past the end of the segment (${this.size - position} bytes left)`;
    if (this.header.readInt8(MAGIC_OFFSET) !== MAGIC) return `batch has magic ${this.header.readInt8(MAGIC_OFFSET)}`;
    return {
      baseOffset: batchBaseOffset(this.header),
      lastOffset: batchLastOffset(this.header),
      position,
      size,
      maxTimestamp: batchMaxTimestamp(this.header),
    };
  }

  /**
   * Scans the whole file, checking every batch, and rebuilds both indexes. Stops at the first bad
   * frame; the bytes after it are left for the caller to judge (truncate a torn tail, or take the
   * partition offline for corruption in the middle).
   */
  rebuild(): SegmentScan {
    this.index.reset();
    this.timeIndex.reset();
    this.bytesSinceLastIndexEntry = 0;
    this.maxTimestamp = -1;
    this.nextOffset = this.baseOffset;
    const fileBytes = this.fsys.fileSize(this.fd);
    let problem: string | null = null;
    let pos = 0;
    const chunk = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
    let chunkStart = 0;
    let chunkEnd = 0;
    let buf = chunk;
    while (pos < fileBytes) {
      if (fileBytes - pos < LOG_OVERHEAD) {
        problem = `${fileBytes - pos} trailing bytes are shorter than a batch frame`;
        break;
      }
      // Make sure the frame header is in the buffer.
      if (pos + BATCH_HEADER_BYTES > chunkEnd || pos < chunkStart) {
        const n = this.fsys.read(this.fd, chunk, 0, chunk.length, pos);
        buf = chunk;
        chunkStart = pos;
        chunkEnd = pos + n;
      }
      if (chunkEnd - pos < BATCH_HEADER_BYTES) {
        problem = `${fileBytes - pos} trailing bytes are shorter than a batch header`;
        break;
      }
      const at = pos - chunkStart;
      const size = buf.readInt32BE(at + 8) + LOG_OVERHEAD;
      if (size < BATCH_HEADER_BYTES) {
        problem = `batch length ${size - LOG_OVERHEAD} is below the header size`;
        break;
      }
      if (size > MAX_BATCH_BYTES_ON_DISK) {
        problem = `batch length ${size - LOG_OVERHEAD} is above the ${MAX_BATCH_BYTES_ON_DISK}-byte bound`;
        break;
      }
      if (pos + size > fileBytes) {
        problem = `batch of ${size} bytes runs past the end of the file (${fileBytes - pos} bytes left)`;
        break;
      }
      if (pos + size > chunkEnd) {
        buf = size > chunk.length ? Buffer.allocUnsafe(size) : chunk;
        const n = this.fsys.read(this.fd, buf, 0, size, pos);
        chunkStart = pos;
        chunkEnd = pos + n;
      }
      const b = pos - chunkStart;
      if (buf.readInt8(b + MAGIC_OFFSET) !== MAGIC) {
        problem = `batch has magic ${buf.readInt8(b + MAGIC_OFFSET)}`;
        break;
      }
      if (crc32c(buf.subarray(b + ATTRIBUTES, b + size)) !== buf.readUInt32BE(b + CRC)) {
        problem = 'batch fails its CRC32C';
        break;
      }
      const base = batchBaseOffset(buf, b);
      const last = batchLastOffset(buf, b);
      if (base < this.nextOffset || last < base) {
        problem = `batch offsets ${base}..${last} do not follow ${this.nextOffset - 1}`;
        break;
      }
      this.track(last, batchMaxTimestamp(buf, b), pos, size);
      pos += size;
    }
    this.size = pos;
    this.index.rewrite();
    this.timeIndex.rewrite();
    const validDataAfterProblem = problem !== null && this.findValidBatchAfter(pos, fileBytes);
    return { validBytes: pos, problem, validDataAfterProblem };
  }

  /** Looks for a whole batch with a good CRC somewhere after `from`: evidence of corruption in the middle. */
  private findValidBatchAfter(from: number, fileBytes: number): boolean {
    const end = Math.min(fileBytes, from + CORRUPTION_PROBE_BYTES);
    if (end - from <= BATCH_HEADER_BYTES) return false;
    const region = Buffer.allocUnsafe(end - from);
    this.fsys.read(this.fd, region, 0, region.length, from);
    for (let i = 1; i + BATCH_HEADER_BYTES <= region.length; i++) {
      if (region.readInt8(i + MAGIC_OFFSET) !== MAGIC) continue;
      const size = region.readInt32BE(i + 8) + LOG_OVERHEAD;
      if (size < BATCH_HEADER_BYTES || i + size > region.length) continue;
      if (crc32c(region.subarray(i + ATTRIBUTES, i + size)) === region.readUInt32BE(i + CRC)) return true;
    }
    return false;
  }

  /** Index bookkeeping for a batch appended (or found by a scan) at `position`. */
  private track(lastOffset: number, maxTimestamp: number, position: number, size: number): void {
    if (this.bytesSinceLastIndexEntry > this.indexIntervalBytes || position === 0) {
      this.index.append(lastOffset, position);
      if (this.maxTimestamp >= 0 || maxTimestamp >= 0) this.timeIndex.append(Math.max(this.maxTimestamp, maxTimestamp), lastOffset);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += size;
    if (maxTimestamp > this.maxTimestamp) {
      this.maxTimestamp = maxTimestamp;
      this.offsetOfMaxTimestamp = lastOffset;
    }
    this.nextOffset = lastOffset + 1;
  }

  /**
   * Appends whole batches (already stamped with offsets) found at `batches` within `buf`, which
   * must be contiguous. On a failed write, cuts the file back so no partial batch remains.
   */
  append(buf: Buffer, start: number, end: number, batches: readonly { pos: number; size: number; lastOffset: number; maxTimestamp: number }[], nowMs: number): void {
    const before = this.size;
    let written = 0;
    try {
      while (written < end - start) {
        written += this.fsys.write(this.fd, buf, start + written, end - start - written, before + written);
      }
    } catch (err) {
      try {
        this.fsys.ftruncate(this.fd, before);
      } catch (truncateErr) {
        (err as Error & { truncateFailed?: unknown }).truncateFailed = truncateErr;
      }
      throw err;
    }
    for (const b of batches) this.track(b.lastOffset, b.maxTimestamp, before + (b.pos - start), b.size);
    this.recent.add(
      buf.subarray(start, end),
      before,
      // From the bytes written, so that a location from memory is the one the file's header gives.
      batches.map((b) => ({ at: b.pos - start, size: b.size, baseOffset: batchBaseOffset(buf, b.pos), lastOffset: batchLastOffset(buf, b.pos), maxTimestamp: batchMaxTimestamp(buf, b.pos) })),
    );
    this.size = before + written;
    if (this.rollStartMs === null) this.rollStartMs = nowMs;
  }

  /** The first batch whose last offset is ≥ `target`, starting the scan at the index entry below it. */
  findBatch(target: number): BatchLocation | null {
    return this.recent.locate(target) ?? this.findBatchInFile(target);
  }

  /** findBatch by a walk of the file's batch headers from the nearest index entry. */
  private findBatchInFile(target: number): BatchLocation | null {
    if (target >= this.nextOffset) return null;
    const loc = this.scanFrom(this.index.lookup(target).position, (l) => l.lastOffset >= target);
    // Some batch ends at nextOffset - 1, so the walk must find one: else a header sent it astray.
    if (loc === null) throw new CorruptSegmentError(this.logFile, this.size, `no batch holds offset ${target}, below the segment's end ${this.nextOffset}`);
    return loc;
  }

  /** Walks batch headers from file position `pos` to the first batch `found` accepts. */
  private scanFrom(pos: number, found: (loc: BatchLocation) => boolean): BatchLocation | null {
    while (pos < this.size) {
      const loc = this.headerAt(pos);
      if (typeof loc === 'string') throw new CorruptSegmentError(this.logFile, pos, loc);
      if (found(loc)) return loc;
      pos += loc.size;
    }
    return null;
  }

  /** File position where the batch holding `offset` starts; the end of the file if `offset` is past it. */
  positionOf(offset: number): number {
    return this.findBatch(offset)?.position ?? this.size;
  }

  /**
   * Reads whole batches from the one holding `startOffset`, at most `maxBytes` (but at least one
   * batch when `minOneBatch`), never past `maxPosition`. Every batch returned is CRC-checked:
   * a bit flipped on disk is reported, not served.
   */
  read(startOffset: number, maxBytes: number, maxPosition: number, minOneBatch: boolean): Buffer | null {
    return this.recent.read(startOffset, maxBytes, maxPosition, minOneBatch) ?? this.readFromFile(startOffset, maxBytes, maxPosition, minOneBatch);
  }

  /** `read` from the file, every batch checked (its CRC, its offsets): what `read` answers when the recent batches do not cover `startOffset`. */
  readFromFile(startOffset: number, maxBytes: number, maxPosition: number, minOneBatch: boolean): Buffer | null {
    const first = this.findBatchInFile(startOffset);
    if (first === null) return null;
    if (first.position >= maxPosition) return Buffer.alloc(0);
    let length = Math.min(maxBytes, maxPosition - first.position);
    if (length < first.size) {
      if (!minOneBatch) return Buffer.alloc(0);
      length = first.size;
    }
    const data = Buffer.allocUnsafe(length);
    const n = this.fsys.read(this.fd, data, 0, length, first.position);
    if (n < first.size) throw new CorruptSegmentError(this.logFile, first.position, `short read: ${n} of ${first.size} bytes`);
    let pos = 0;
    let prevLast = first.baseOffset - 1;
    while (pos + LOG_OVERHEAD <= n) {
      const size = data.readInt32BE(pos + 8) + LOG_OVERHEAD;
      const at = first.position + pos;
      if (size < BATCH_HEADER_BYTES || size > MAX_BATCH_BYTES_ON_DISK || at + size > this.size) {
        throw new CorruptSegmentError(this.logFile, at, `batch length ${size - LOG_OVERHEAD} (${this.size - at} bytes left in the segment)`);
      }
      // A whole batch that does not fit in maxBytes: the read ends before it.
      if (pos + size > n) break;
      if (!isIntactBatch(data, pos, size)) {
        throw new CorruptSegmentError(this.logFile, first.position + pos, 'batch fails its CRC32C on read');
      }
      // The base offset is outside the CRC: check that it follows the batch before (or is the one
      // the header walk found) and stays inside the segment, so a damaged one is never served.
      const base = batchBaseOffset(data, pos);
      const last = batchLastOffset(data, pos);
      if ((pos === 0 ? base !== first.baseOffset : base <= prevLast) || last < base || last >= this.nextOffset) {
        throw new CorruptSegmentError(this.logFile, at, `batch offsets ${base}..${last} do not follow ${prevLast} within the segment's end ${this.nextOffset}`);
      }
      prevLast = last;
      pos += size;
    }
    return data.subarray(0, pos);
  }

  /** The offset of the first record with timestamp ≥ `timestamp`, found batch by batch from the time index. */
  findBatchByTimestamp(timestamp: number): BatchLocation | null {
    if (this.maxTimestamp < timestamp) return null;
    const startOffset = this.timeIndex.lookup(timestamp);
    return this.scanFrom(this.index.lookup(startOffset).position, (loc) => loc.maxTimestamp >= timestamp);
  }

  /** `length` bytes from `position`, as they are (the cleaner checks what it reads batch by batch). */
  readRange(position: number, length: number): Buffer {
    const data = Buffer.allocUnsafe(length);
    const n = this.fsys.read(this.fd, data, 0, length, position);
    return data.subarray(0, n);
  }

  /** Reads the whole batch described by `loc` (from a bounded header), checking its CRC. */
  readBatch(loc: BatchLocation): Buffer {
    const data = Buffer.allocUnsafe(loc.size);
    const n = this.fsys.read(this.fd, data, 0, loc.size, loc.position);
    if (n < loc.size || !isIntactBatch(data, 0, loc.size)) {
      throw new CorruptSegmentError(this.logFile, loc.position, 'batch fails its CRC32C on read');
    }
    return data;
  }

  /**
   * Removes every batch whose last offset is ≥ `offset` (batches are atomic: a batch straddling
   * `offset` goes whole). Returns the bytes removed.
   */
  truncateTo(offset: number): number {
    const loc = this.findBatch(offset);
    if (loc === null) return 0;
    return this.truncateToPosition(loc.position);
  }

  truncateToPosition(position: number): number {
    const removed = this.size - position;
    this.recent.truncateFrom(position);
    this.fsys.ftruncate(this.fd, position);
    this.size = position;
    this.index.truncateToPosition(position);
    // Recompute the tail state from what remains.
    const start = this.index.entries > 0 ? this.index.positionAt(this.index.entries - 1) : 0;
    const tail = this.scanHeaders(start, position);
    this.nextOffset = tail.last ? tail.last.lastOffset + 1 : this.index.entries > 0 ? this.index.lastOffset + 1 : this.baseOffset;
    this.timeIndex.truncateToOffset(this.nextOffset);
    this.maxTimestamp = Math.max(this.timeIndex.lastTimestamp, tail.maxTimestamp);
    this.bytesSinceLastIndexEntry = position - start;
    if (position === 0) this.rollStartMs = null;
    return removed;
  }

  /** Flushes index tails and fsyncs the log file on the thread pool (group commit). */
  syncAsync(): Promise<void> {
    this.index.flush();
    this.timeIndex.flush();
    this.syncsInFlight++;
    return new Promise((resolve, reject) => {
      this.fsys.fsync(this.fd, (err) => {
        this.syncsInFlight--;
        if (this.closeRequested && this.syncsInFlight === 0) this.closeNow();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  syncSync(): void {
    this.index.sync();
    this.timeIndex.sync();
    this.fsys.fsyncSync(this.fd);
  }

  /**
   * Called when the segment stops being the active one: final time-index entry, index tails
   * written. The fsync is left to the log's next group commit, which covers every segment holding
   * unflushed data, so a roll never blocks the event loop on the disk.
   */
  onBecomeInactive(): void {
    this.recent.clear();
    if (this.maxTimestamp >= 0) this.timeIndex.append(this.maxTimestamp, this.offsetOfMaxTimestamp);
    this.index.flush();
    this.timeIndex.flush();
  }

  /** Closes the files once no fsync is using the descriptor (a reused descriptor number would sync the wrong file). */
  close(): void {
    this.closeRequested = true;
    if (this.syncsInFlight === 0) this.closeNow();
  }

  private closeNow(): void {
    if (this.fd < 0) return;
    try {
      this.index.flush();
      this.timeIndex.flush();
    } catch {
      // Indexes are rebuilt on load when they disagree with the log.
    }
    this.index.close();
    this.timeIndex.close();
    this.fsys.close(this.fd);
    this.fd = -1;
  }

  deleteFiles(): void {
    this.close();
    this.fsys.rm(this.logFile, { force: true });
    this.index.delete();
    this.timeIndex.delete();
  }
}
