import { readInt64, writeInt64 } from '../record';
import { type FileSystem, writeFully } from './file-system';

/**
 * A sparse index kept in memory and appended to its file on flush. Entries are fixed-size and
 * big-endian, the same bytes in memory and on disk, so a flush is one write of the new tail.
 * Indexes are derived data: recovery rebuilds any that fail their sanity check.
 */
abstract class IndexFile {
  protected buf: Buffer;
  protected count = 0;
  private written = 0;
  private fd: number | null = null;

  protected constructor(
    protected readonly fsys: FileSystem,
    readonly file: string,
    readonly baseOffset: number,
    private readonly entryBytes: number,
    initial?: Buffer,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(entryBytes * 64, initial?.length ?? 0));
    if (initial) {
      initial.copy(this.buf);
      this.count = initial.length / entryBytes;
      this.written = this.count;
    }
  }

  /** The file's bytes, or null when it is missing or not a whole number of entries. */
  protected static readEntries(fsys: FileSystem, file: string, entryBytes: number): Buffer | null {
    let data: Buffer;
    try {
      data = fsys.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return data.length % entryBytes === 0 ? data : null;
  }

  get entries(): number {
    return this.count;
  }

  get sizeInBytes(): number {
    return this.count * this.entryBytes;
  }

  protected reserve(): number {
    const at = this.count * this.entryBytes;
    if (at + this.entryBytes > this.buf.length) {
      const next = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    this.count++;
    return at;
  }

  /** Keeps the first `n` entries. */
  protected truncateEntries(n: number): void {
    if (n >= this.count) return;
    this.count = n;
    if (this.written > n) {
      this.written = n;
      if (this.fd !== null || this.fsys.exists(this.file)) this.fsys.truncate(this.file, n * this.entryBytes);
    }
  }

  reset(): void {
    this.truncateEntries(0);
  }

  /** Writes entries added since the last flush to the file. */
  flush(): void {
    if (this.written === this.count && this.fd !== null) return;
    if (this.fd === null) this.fd = this.fsys.open(this.file, 'a+');
    const from = this.written * this.entryBytes;
    const to = this.count * this.entryBytes;
    if (to > from) writeFully(this.fsys, this.fd, this.buf, from, to - from, from);
    this.written = this.count;
  }

  sync(): void {
    this.flush();
    if (this.fd !== null) this.fsys.fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== null) {
      this.fsys.close(this.fd);
      this.fd = null;
    }
  }

  delete(): void {
    this.close();
    this.fsys.rm(this.file, { force: true });
  }

  /** Rewrites the whole file from memory (after a rebuild). */
  rewrite(): void {
    this.close();
    this.fsys.writeFile(this.file, this.buf.subarray(0, this.count * this.entryBytes));
    this.written = this.count;
  }
}

/** Offset → file position, one entry per `index.interval.bytes` of log (Kafka's OffsetIndex). */
export class OffsetIndex extends IndexFile {
  static readonly ENTRY_BYTES = 8;

  constructor(fsys: FileSystem, file: string, baseOffset: number, initial?: Buffer) {
    super(fsys, file, baseOffset, OffsetIndex.ENTRY_BYTES, initial);
  }

  /** Loads the index if it is present and sane for a log of `logBytes`; null means "rebuild". */
  static load(fsys: FileSystem, file: string, baseOffset: number, logBytes: number): OffsetIndex | null {
    const data = IndexFile.readEntries(fsys, file, OffsetIndex.ENTRY_BYTES);
    if (data === null) return null;
    const index = new OffsetIndex(fsys, file, baseOffset, data);
    return index.isSane(logBytes) ? index : null;
  }

  private isSane(logBytes: number): boolean {
    let prevOffset = -1;
    let prevPosition = -1;
    for (let i = 0; i < this.count; i++) {
      const rel = this.buf.readInt32BE(i * 8);
      const position = this.buf.readInt32BE(i * 8 + 4);
      if (rel <= prevOffset || position <= prevPosition || position >= logBytes || rel < 0) return false;
      prevOffset = rel;
      prevPosition = position;
    }
    return true;
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.buf.readInt32BE(i * 8);
  }

  positionAt(i: number): number {
    return this.buf.readInt32BE(i * 8 + 4);
  }

  get lastOffset(): number {
    return this.count === 0 ? this.baseOffset : this.offsetAt(this.count - 1);
  }

  /** Adds an entry for the batch whose last offset is `offset` and which starts at `position`. */
  append(offset: number, position: number): void {
    if (this.count > 0 && offset <= this.lastOffset) return;
    const at = this.reserve();
    this.buf.writeInt32BE(offset - this.baseOffset, at);
    this.buf.writeInt32BE(position, at + 4);
  }

  /** The largest entry at or below `target`, as a place to start scanning; the segment start if none. */
  lookup(target: number): { offset: number; position: number } {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsetAt(mid) <= target) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? { offset: this.baseOffset, position: 0 } : { offset: this.offsetAt(found), position: this.positionAt(found) };
  }

  /** Drops entries for batches at or beyond file position `position`. */
  truncateToPosition(position: number): void {
    let n = this.count;
    while (n > 0 && this.positionAt(n - 1) >= position) n--;
    this.truncateEntries(n);
  }
}

/** Timestamp → offset, one entry whenever the segment's max timestamp grows at an index point (Kafka's TimeIndex). */
export class TimeIndex extends IndexFile {
  static readonly ENTRY_BYTES = 12;

  constructor(fsys: FileSystem, file: string, baseOffset: number, initial?: Buffer) {
    super(fsys, file, baseOffset, TimeIndex.ENTRY_BYTES, initial);
  }

  static load(fsys: FileSystem, file: string, baseOffset: number, lastOffset: number): TimeIndex | null {
    const data = IndexFile.readEntries(fsys, file, TimeIndex.ENTRY_BYTES);
    if (data === null) return null;
    const index = new TimeIndex(fsys, file, baseOffset, data);
    return index.isSane(lastOffset) ? index : null;
  }

  private isSane(lastOffset: number): boolean {
    let prevTs = -Infinity;
    let prevOffset = -1;
    for (let i = 0; i < this.count; i++) {
      const ts = this.timestampAt(i);
      const offset = this.offsetAt(i);
      if (ts < prevTs || offset < prevOffset || offset > lastOffset) return false;
      prevTs = ts;
      prevOffset = offset;
    }
    return true;
  }

  timestampAt(i: number): number {
    return readInt64(this.buf, i * 12);
  }

  offsetAt(i: number): number {
    return this.baseOffset + this.buf.readInt32BE(i * 12 + 8);
  }

  get lastTimestamp(): number {
    return this.count === 0 ? -1 : this.timestampAt(this.count - 1);
  }

  append(timestamp: number, offset: number): void {
    if (this.count > 0 && timestamp <= this.lastTimestamp) return;
    const at = this.reserve();
    writeInt64(this.buf, at, timestamp);
    this.buf.writeInt32BE(offset - this.baseOffset, at + 8);
  }

  /** The offset of the largest entry with timestamp ≤ `target`: where a search for `target` starts. */
  lookup(target: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestampAt(mid) <= target) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? this.baseOffset : this.offsetAt(found);
  }

  /** Drops entries whose offset is at or beyond `offset`. */
  truncateToOffset(offset: number): void {
    let n = this.count;
    while (n > 0 && this.offsetAt(n - 1) >= offset) n--;
    this.truncateEntries(n);
  }
}
