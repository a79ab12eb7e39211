import * as fs from 'node:fs';

/**
 * The seam between the log and the file system for the calls that can fail under load: writes and
 * fsyncs. Production uses node:fs; tests swap in failures (disk full, I/O errors, short writes)
 * without patching globals.
 */
export interface FileIO {
  writeSync(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  fsync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
  /** Makes a directory's entries (files created, renamed, removed) durable. */
  fsyncDirSync(dir: string): void;
}

/**
 * A slow disk, for the chaos suite (CAIRN_FAULT_FSYNC_DELAY_MS): every fsync starts this much later,
 * so written-but-not-durable bytes exist long enough for a power cut to tear them.
 */
const fsyncDelayMs = Number(process.env.CAIRN_FAULT_FSYNC_DELAY_MS ?? 0) || 0;

export const nodeFileIO: FileIO = {
  writeSync: (fd, buf, offset, length, position) => fs.writeSync(fd, buf, offset, length, position),
  fsync:
    fsyncDelayMs > 0
      ? (fd, callback) => setTimeout(() => fs.fdatasync(fd, callback), fsyncDelayMs)
      : (fd, callback) => fs.fdatasync(fd, callback),
  fsyncDirSync: (dir) => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
};

/** The FileIO every segment uses. Replaced only by tests (see withFileIO). */
export let fileIO: FileIO = nodeFileIO;

/**
 * Runs `fn` with `io` in place of the real file I/O, restoring it afterwards — once the promise
 * settles when `fn` is async, so fsyncs started from continuations (group commit) see `io` too.
 */
export function withFileIO<T>(io: Partial<FileIO>, fn: () => T): T {
  const saved = fileIO;
  fileIO = { ...saved, ...io };
  let result: T;
  try {
    result = fn();
  } catch (err) {
    fileIO = saved;
    throw err;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      fileIO = saved;
    }) as T;
  }
  fileIO = saved;
  return result;
}
