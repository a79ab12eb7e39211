import * as fs from 'node:fs';

/**
 * How a file is opened, as node's string flags, plus `rw+`: read and write, created if missing,
 * never truncated (O_RDWR | O_CREAT, which has no string flag).
 * - `r` read only · `r+` read and write, must exist · `w` write, created or truncated ·
 *   `wx+` read and write, must not exist · `a+` read and append, created if missing (on Linux a
 *   write to an O_APPEND descriptor lands at the end of the file, whatever position it names).
 */
export type OpenMode = 'r' | 'r+' | 'w' | 'wx+' | 'a+' | 'rw+';

export interface FileStat {
  size: number;
  isDirectory: boolean;
}

/**
 * The port between storage and the disk (issue 16): every file operation the segment log, its
 * indexes and its checkpoints make goes through one of these, given to LogManager / PartitionLog
 * and passed down. Production uses `nodeFileSystem`; the whole-cluster simulation uses a SimDisk
 * (test/sim/sim-disk.ts) that loses un-fsynced bytes on a power cut, tears writes, flips bits and
 * fills up; the chaos suite wraps the real one (slow fsync, fsync journal).
 *
 * Synchronous where storage is synchronous (the append path writes on the event loop by design);
 * only `fsync` and `fsyncDirAsync` are asynchronous, because the group commit and the periodic
 * checkpoints wait for them off the event loop.
 * Errors are node's: `err.code` is `ENOENT`, `EEXIST`, `ENOSPC`, `EIO`, `EBADF`, ...
 */
export interface FileSystem {
  /** Opens `path`, returning a descriptor. */
  open(path: string, mode: OpenMode): number;
  close(fd: number): void;
  /** Reads up to `length` bytes at file position `position` into `buf` at `offset`; returns the bytes read (0 at the end). */
  read(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  /** Writes `length` bytes of `buf` from `offset` at file position `position`; returns the bytes written (may be fewer). */
  write(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  /** Makes the file's data durable (fdatasync) off the event loop; `callback` runs once it is, or with the error. */
  fsync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
  /** Makes the file's data durable now, on the event loop (open, truncation, checkpoints: not the hot path). */
  fsyncSync(fd: number): void;
  /** Makes a directory's entries (files created, renamed, removed in it) durable. */
  fsyncDir(dir: string): void;
  /** fsyncDir off the event loop (periodic checkpoints); `callback` runs once the entries are durable, or with the error. */
  fsyncDirAsync(dir: string, callback: (err: NodeJS.ErrnoException | null) => void): void;
  /** The current size of an open file. */
  fileSize(fd: number): number;
  ftruncate(fd: number, length: number): void;
  truncate(path: string, length: number): void;
  /** Throws ENOENT when `path` does not exist. */
  stat(path: string): FileStat;
  exists(path: string): boolean;
  /** Names (not paths) of the entries in `dir`, in no particular order. */
  readdir(dir: string): string[];
  /** Creates `dir` and any missing parents; no error if it exists. */
  mkdirp(dir: string): void;
  rename(from: string, to: string): void;
  /** Removes a file, or a directory and everything under it with `recursive`; with `force`, a missing path is no error. */
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): void;
  readFile(path: string): Buffer;
  /** Replaces the file's content (not fsynced); with `exclusive`, fails with EEXIST if it exists. */
  writeFile(path: string, data: Buffer | string, exclusive?: boolean): void;
}

const RW_CREATE = fs.constants.O_RDWR | fs.constants.O_CREAT;

/** The real disk, through node:fs. */
export const nodeFileSystem: FileSystem = {
  open: (p, mode) => fs.openSync(p, mode === 'rw+' ? RW_CREATE : mode),
  close: (fd) => fs.closeSync(fd),
  read: (fd, buf, offset, length, position) => fs.readSync(fd, buf, offset, length, position),
  write: (fd, buf, offset, length, position) => fs.writeSync(fd, buf, offset, length, position),
  fsync: (fd, callback) => fs.fdatasync(fd, callback),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  fsyncDir: (dir) => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  fsyncDirAsync: (dir, callback) => {
    fs.open(dir, 'r', (err, fd) => {
      if (err) return callback(err);
      fs.fsync(fd, (syncErr) => fs.close(fd, (closeErr) => callback(syncErr ?? closeErr)));
    });
  },
  fileSize: (fd) => fs.fstatSync(fd).size,
  ftruncate: (fd, length) => fs.ftruncateSync(fd, length),
  truncate: (p, length) => fs.truncateSync(p, length),
  stat: (p) => {
    const s = fs.statSync(p);
    return { size: s.size, isDirectory: s.isDirectory() };
  },
  exists: (p) => fs.existsSync(p),
  readdir: (dir) => fs.readdirSync(dir),
  mkdirp: (dir) => void fs.mkdirSync(dir, { recursive: true }),
  rename: (from, to) => fs.renameSync(from, to),
  rm: (p, options) => fs.rmSync(p, options),
  readFile: (p) => fs.readFileSync(p),
  writeFile: (p, data, exclusive) => fs.writeFileSync(p, data, exclusive ? { flag: 'wx' } : undefined),
};

/** Writes all of `length` bytes at `position`, looping over short writes. */
export function writeFully(fsys: FileSystem, fd: number, buf: Buffer, offset: number, length: number, position: number): void {
  let written = 0;
  while (written < length) written += fsys.write(fd, buf, offset + written, length - written, position + written);
}

/** A node-like error: `code` set, so callers handle a simulated failure as they would a real one. */
export function fsError(code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall}${path === undefined ? '' : ` '${path}'`}`);
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/**
 * Every operation of `inner`, bound to it, as a plain object a wrapper can override piece by piece
 * (`{ ...delegateTo(inner), fsync: ... }`); a spread of a class instance would lose its methods.
 */
export function delegateTo(inner: FileSystem): FileSystem {
  return {
    open: (p, mode) => inner.open(p, mode),
    close: (fd) => inner.close(fd),
    read: (fd, buf, offset, length, position) => inner.read(fd, buf, offset, length, position),
    write: (fd, buf, offset, length, position) => inner.write(fd, buf, offset, length, position),
    fsync: (fd, callback) => inner.fsync(fd, callback),
    fsyncSync: (fd) => inner.fsyncSync(fd),
    fsyncDir: (dir) => inner.fsyncDir(dir),
    fsyncDirAsync: (dir, callback) => inner.fsyncDirAsync(dir, callback),
    fileSize: (fd) => inner.fileSize(fd),
    ftruncate: (fd, length) => inner.ftruncate(fd, length),
    truncate: (p, length) => inner.truncate(p, length),
    stat: (p) => inner.stat(p),
    exists: (p) => inner.exists(p),
    readdir: (dir) => inner.readdir(dir),
    mkdirp: (dir) => inner.mkdirp(dir),
    rename: (from, to) => inner.rename(from, to),
    rm: (p, options) => inner.rm(p, options),
    readFile: (p) => inner.readFile(p),
    writeFile: (p, data, exclusive) => inner.writeFile(p, data, exclusive),
  };
}
