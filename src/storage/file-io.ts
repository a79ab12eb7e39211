import * as fs from 'node:fs';

/**
 * The seam between the log and the file system for the calls that can fail under load: writes and
 * fsyncs. Production uses node:fs; tests swap in failures (disk full, I/O errors, short writes)
 * without patching globals.
 */
export interface FileIO {
  writeSync(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  fsync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
}

export const nodeFileIO: FileIO = {
  writeSync: (fd, buf, offset, length, position) => fs.writeSync(fd, buf, offset, length, position),
  fsync: (fd, callback) => fs.fdatasync(fd, callback),
};

/** The FileIO every segment uses. Replaced only by tests (see withFileIO). */
export let fileIO: FileIO = nodeFileIO;

/** Runs `fn` with `io` in place of the real file I/O, restoring it afterwards. */
export function withFileIO<T>(io: Partial<FileIO>, fn: () => T): T {
  const saved = fileIO;
  fileIO = { ...saved, ...io };
  try {
    return fn();
  } finally {
    fileIO = saved;
  }
}
