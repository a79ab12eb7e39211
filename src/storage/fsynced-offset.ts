import * as path from 'node:path';
import { crc32c } from '../record';
import { type FileSystem, writeFully } from './file-system';

export const FSYNCED_OFFSET_FILE = 'fsynced-offset';

const VERSION = 0;
/** int32 version, int64 offset, uint32 CRC32C of the first 12 bytes: one write, well inside a sector. */
const RECORD_BYTES = 16;

/**
 * Where recovery finds how far a partition's log was fsynced (issue 15, item 7): below it, damage
 * is corruption; only bytes past it, never fsynced, may be cut as a torn tail.
 *
 * The group commit rewrites it in place after every fsync of the log, without an fsync of its own
 * (the hot path pays one 16-byte pwrite per group commit, no extra fsync). So after a process crash
 * it is exact; after a power cut it may be older, by at most one checkpoint interval (LogManager
 * fsyncs it with the other checkpoints). Every value ever written is at most what was fsynced when
 * it was written, so an old value is only less strict, never wrong — except across a truncation,
 * which is why a truncation lowers it durably (`writeSync`) before cutting the log.
 */
export class FsyncedOffsetFile {
  readonly file: string;
  private fd: number;
  private readonly record = Buffer.alloc(RECORD_BYTES);
  /** The value last written, and the value the last completed fsync covered. */
  private written = -1;
  private synced = -1;
  private syncInFlight = false;
  private closeRequested = false;

  private constructor(
    private readonly fsys: FileSystem,
    file: string,
    fd: number,
  ) {
    this.file = file;
    this.fd = fd;
  }

  /** Opens the file in `dir`, creating it if missing; `created` says whether it was. */
  static open(fsys: FileSystem, dir: string): { file: FsyncedOffsetFile; created: boolean } {
    const file = path.join(dir, FSYNCED_OFFSET_FILE);
    const created = !fsys.exists(file);
    const fd = fsys.open(file, 'rw+');
    return { file: new FsyncedOffsetFile(fsys, file, fd), created };
  }

  /** The recorded offset, or null if none was ever written or the record is damaged. */
  read(): number | null {
    const buf = Buffer.alloc(RECORD_BYTES);
    const n = this.fsys.read(this.fd, buf, 0, RECORD_BYTES, 0);
    if (n < RECORD_BYTES || buf.readInt32BE(0) !== VERSION || crc32c(buf.subarray(0, 12)) !== buf.readUInt32BE(12)) return null;
    const offset = Number(buf.readBigInt64BE(4));
    return Number.isSafeInteger(offset) && offset >= 0 ? offset : null;
  }

  /** Records `offset` (everything below it is fsynced) in the page cache. */
  write(offset: number): void {
    if (offset === this.written || this.fd < 0) return;
    this.record.writeInt32BE(VERSION, 0);
    this.record.writeBigInt64BE(BigInt(offset), 4);
    this.record.writeUInt32BE(crc32c(this.record.subarray(0, 12)), 12);
    writeFully(this.fsys, this.fd, this.record, 0, RECORD_BYTES, 0);
    this.written = offset;
  }

  /** Records `offset` and makes it durable now (open, truncation, compaction, close: not the hot path). */
  writeSync(offset: number): void {
    this.write(offset);
    if (this.synced === this.written || this.fd < 0) return;
    this.fsys.fsyncSync(this.fd);
    this.synced = this.written;
  }

  /** Makes the last written value durable on the thread pool, if it is not yet (the periodic checkpoint). */
  syncInBackground(): void {
    if (this.synced === this.written || this.syncInFlight || this.fd < 0) return;
    const value = this.written;
    this.syncInFlight = true;
    this.fsys.fsync(this.fd, (err) => {
      this.syncInFlight = false;
      // A failed fsync leaves the older durable value in place, which is only less strict.
      if (!err) this.synced = value;
      if (this.closeRequested) this.closeNow();
    });
  }

  /** Closes the file once no fsync is using the descriptor. */
  close(): void {
    this.closeRequested = true;
    if (!this.syncInFlight) this.closeNow();
  }

  private closeNow(): void {
    if (this.fd < 0) return;
    this.fsys.close(this.fd);
    this.fd = -1;
  }
}
