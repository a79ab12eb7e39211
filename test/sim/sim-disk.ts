import * as path from 'node:path';
import type { Random } from '../../src/common/random';
import { type FileStat, type FileSystem, fsError, type OpenMode } from '../../src/storage/file-system';

/**
 * A simulated disk for one simulated node, in memory and deterministic, in the style of
 * TigerBeetle's test storage: it keeps, for every file, what is durable and what is merely written,
 * and for the directory tree, which entries are durable. A power cut (`crash`) throws away what
 * was never made durable — and, when the faults say so, tears what was being written.
 *
 * The model:
 * - A file's bytes become durable when an fsync of it completes: `fsyncSync` at once, `fsync` when
 *   the simulation runs the completion it was handed (`schedule`), with the content the file had
 *   when the fsync started. An fsync still in flight at a crash never completes.
 * - Directory entries (create, rename, unlink, mkdir, rm) are volatile until their directory is
 *   fsynced. They are kept in the order they happened; a crash keeps the durable tree plus a random
 *   prefix of the rest (`lostDirectoryEntries`), so a rename is atomic and a later change never
 *   survives without an earlier one.
 * - At a crash each file reverts to its durable bytes, except that with `tornWriteProbability` a
 *   prefix of its un-fsynced sectors reached the platter; with `tornGarbageProbability` the sector
 *   where the write stopped holds garbage (only its bytes that were being changed: the bytes the
 *   write did not touch are as they were).
 * - Reads may flip a bit in what they return (`readBitFlipProbability`, transient, the disk keeps
 *   good bytes); `corrupt` flips a bit at rest. Every injected damage is recorded in `injected`, so
 *   a checker can tell damage the disk caused from a bug in the code above it.
 * - `capacityBytes` bounds the sum of file sizes: a write past it is short, then ENOSPC; creating
 *   a file on a full disk is ENOSPC.
 * - fsyncs may fail with EIO (`fsyncEioProbability`); the data then stays as durable as it was.
 *
 * Errors are node's: `err.code` ENOENT, EEXIST, EISDIR, ENOTDIR, EBADF, ENOSPC, EIO.
 *
 * One SimDisk per simulated node: a crash of one node is a crash of its disk. Paths are absolute
 * POSIX paths; `/` always exists.
 */
export interface SimDiskFaults {
  /** Per crash and per file with un-fsynced changes: a prefix of its un-fsynced sectors survives. */
  tornWriteProbability: number;
  /** Given a torn write, the sector where it stopped holds random bytes. */
  tornGarbageProbability: number;
  /** At a crash, un-fsynced directory entries are lost or kept (a random prefix of them survives); false keeps them all. */
  lostDirectoryEntries: boolean;
  /** Per read: one bit of what the read returns is flipped. */
  readBitFlipProbability: number;
  /** Which files reads may flip bits in (all when absent). */
  bitFlipFilter?: (file: string) => boolean;
  /** Per fsync (either kind): it fails with EIO. */
  fsyncEioProbability: number;
  /** How long an asynchronous fsync takes, uniformly in [min, max] ms of simulated time. */
  fsyncDelayMs: { min: number; max: number };
  /** Bound on the sum of all file sizes. */
  capacityBytes: number;
}

export const NO_FAULTS: SimDiskFaults = {
  tornWriteProbability: 0,
  tornGarbageProbability: 0,
  lostDirectoryEntries: false,
  readBitFlipProbability: 0,
  fsyncEioProbability: 0,
  fsyncDelayMs: { min: 0, max: 0 },
  capacityBytes: Number.POSITIVE_INFINITY,
};

export type InjectedFault =
  | { kind: 'read-bit-flip'; file: string; position: number; bit: number }
  | { kind: 'at-rest-bit-flip'; file: string; position: number; bit: number }
  | { kind: 'torn-write'; file: string; durableBytes: number; keptBytes: number; garbage: { from: number; to: number } | null }
  | { kind: 'fsync-eio'; file: string }
  | { kind: 'enospc'; file: string };

interface SimFile {
  readonly kind: 'file';
  data: Buffer;
  size: number;
  /** Bumped by every change of the content: an fsync covers the version it started at. */
  version: number;
  durable: Buffer;
  durableVersion: number;
}

interface SimDir {
  readonly kind: 'dir';
}

type Entry = SimFile | SimDir;

/** One change of the directory tree: paths set to an entry, or removed (null), applied together. */
type TreeOp = Array<{ path: string; entry: Entry | null }>;

interface OpenFile {
  file: SimFile;
  path: string;
  readable: boolean;
  writable: boolean;
  append: boolean;
}

const ROOT = '/';
export const SIM_SECTOR_BYTES = 512;

export class SimDisk implements FileSystem {
  faults: SimDiskFaults;
  /** Every damage the disk did on purpose, in order. */
  readonly injected: InjectedFault[] = [];
  private live = new Map<string, Entry>([[ROOT, { kind: 'dir' }]]);
  private durableTree = new Map<string, Entry>([[ROOT, { kind: 'dir' }]]);
  private pending: TreeOp[] = [];
  private fds = new Map<number, OpenFile>();
  private nextFd = 3;
  /** Bumped by a crash: fsync completions from before it are dropped. */
  private incarnation = 0;
  private readonly orderRandom: Random;

  /**
   * `random` decides every fault and delay; `schedule` runs an fsync's completion `delayMs` later in
   * simulated time (e.g. `(ms, fn) => timers.after(ms, fn)` with the simulation's Timers).
   */
  constructor(
    private readonly random: Random,
    private readonly schedule: (delayMs: number, fn: () => void) => void,
    faults: Partial<SimDiskFaults> = {},
  ) {
    this.faults = { ...NO_FAULTS, ...faults };
    this.orderRandom = random.fork();
  }

  // ---- the simulation's controls ----

  /**
   * The process died (kill -9) but the machine did not: its descriptors are gone and it hears of no
   * fsync again, while everything it wrote stays (the page cache survives a process).
   */
  processCrash(): void {
    this.incarnation++;
    this.fds.clear();
  }

  /**
   * A power cut: open descriptors are gone, fsyncs in flight never complete, every file reverts to
   * its durable bytes (or tears, see SimDiskFaults), un-fsynced directory entries are lost or kept.
   */
  crash(): void {
    this.incarnation++;
    this.fds.clear();
    const keep = this.faults.lostDirectoryEntries ? this.random.int(0, this.pending.length) : this.pending.length;
    const tree = new Map(this.durableTree);
    for (const op of this.pending.slice(0, keep)) applyOp(tree, op);
    // An entry whose directory did not survive did not survive either.
    for (const p of [...tree.keys()].sort((a, b) => a.length - b.length)) {
      if (p !== ROOT && tree.get(path.posix.dirname(p))?.kind !== 'dir') tree.delete(p);
    }
    for (const [p, e] of tree) if (e.kind === 'file') this.afterPowerCut(p, e);
    this.live = tree;
    this.durableTree = new Map(tree);
    this.pending = [];
  }

  /** Flips one bit at rest (both what is written and what is durable): damage a later read must catch. */
  corrupt(file: string, position: number, bit = 0): void {
    const f = this.fileAt(this.norm(file), 'corrupt');
    if (position >= f.size) throw new Error(`corrupt ${file} at ${position}: the file has ${f.size} bytes`);
    f.data[position]! ^= 1 << bit;
    if (position < f.durable.length) f.durable[position]! ^= 1 << bit;
    f.version++;
    this.injected.push({ kind: 'at-rest-bit-flip', file, position, bit });
  }

  /** The durable bytes of a file (what a crash now would leave, before any tearing), or null. */
  durableContent(file: string): Buffer | null {
    const e = this.durableTree.get(this.norm(file));
    return e?.kind === 'file' ? Buffer.from(e.durable) : null;
  }

  /** Every file path, sorted. */
  listFiles(): string[] {
    return [...this.live]
      .filter(([, e]) => e.kind === 'file')
      .map(([p]) => p)
      .sort();
  }

  usedBytes(): number {
    let used = 0;
    for (const e of this.live.values()) if (e.kind === 'file') used += e.size;
    return used;
  }

  /** Descriptors still open (a leak check for the code above). */
  get openDescriptors(): number {
    return this.fds.size;
  }

  // ---- FileSystem ----

  open(file: string, mode: OpenMode): number {
    const p = this.norm(file);
    let entry = this.live.get(p);
    if (entry?.kind === 'dir') {
      if (mode !== 'r') throw fsError('EISDIR', 'open', file);
      // A directory opened to fsync it: nothing to read or write through the descriptor.
      return this.addFd({ file: emptyFile(), path: p, readable: false, writable: false, append: false });
    }
    if (entry === undefined) {
      if (mode === 'r' || mode === 'r+') throw fsError('ENOENT', 'open', file);
      this.checkParent(p, 'open');
      if (this.usedBytes() >= this.faults.capacityBytes) return this.noSpace('open', p);
      entry = emptyFile();
      this.changeTree([{ path: p, entry }]);
    } else if (mode === 'wx+') {
      throw fsError('EEXIST', 'open', file);
    } else if (mode === 'w') {
      this.resize(entry, 0);
    }
    return this.addFd({ file: entry, path: p, readable: mode !== 'w', writable: mode !== 'r', append: mode === 'a+' });
  }

  close(fd: number): void {
    if (!this.fds.delete(fd)) throw fsError('EBADF', 'close');
  }

  read(fd: number, buf: Buffer, offset: number, length: number, position: number): number {
    const o = this.fd(fd, 'read');
    if (!o.readable) throw fsError('EBADF', 'read', o.path);
    const f = o.file;
    if (position >= f.size || length <= 0) return 0;
    const n = Math.min(length, f.size - position);
    f.data.copy(buf, offset, position, position + n);
    this.maybeFlipOnRead(o.path, buf, offset, n, position);
    return n;
  }

  write(fd: number, buf: Buffer, offset: number, length: number, position: number): number {
    const o = this.fd(fd, 'write');
    if (!o.writable) throw fsError('EBADF', 'write', o.path);
    const f = o.file;
    const at = o.append ? f.size : position;
    let n = length;
    const growth = at + n - f.size;
    if (growth > 0) {
      const free = this.faults.capacityBytes - this.usedBytes();
      if (free <= 0) return this.noSpace('write', o.path);
      // A short write, as the kernel does when the space runs out mid-write; the next one fails.
      if (growth > free) n -= growth - free;
      if (n <= 0) return this.noSpace('write', o.path);
    }
    if (at + n > f.size) this.resize(f, at + n);
    buf.copy(f.data, at, offset, offset + n);
    f.version++;
    return n;
  }

  fsync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void {
    const o = this.fds.get(fd);
    const incarnation = this.incarnation;
    const delay = this.random.int(this.faults.fsyncDelayMs.min, this.faults.fsyncDelayMs.max);
    if (o === undefined) {
      this.schedule(delay, () => incarnation === this.incarnation && callback(fsError('EBADF', 'fsync')));
      return;
    }
    const f = o.file;
    const snapshot = Buffer.from(f.data.subarray(0, f.size));
    const version = f.version;
    const fails = this.random.bool(this.faults.fsyncEioProbability);
    this.schedule(delay, () => {
      if (incarnation !== this.incarnation) return; // the power went out first: it never completes
      if (fails) {
        this.injected.push({ kind: 'fsync-eio', file: o.path });
        callback(fsError('EIO', 'fsync', o.path));
        return;
      }
      // An fsync that finishes after a later one (sync, or started later) covers nothing new.
      if (version > f.durableVersion) {
        f.durable = snapshot;
        f.durableVersion = version;
      }
      callback(null);
    });
  }

  fsyncSync(fd: number): void {
    const o = this.fd(fd, 'fsync');
    if (this.random.bool(this.faults.fsyncEioProbability)) {
      this.injected.push({ kind: 'fsync-eio', file: o.path });
      throw fsError('EIO', 'fsync', o.path);
    }
    const f = o.file;
    f.durable = Buffer.from(f.data.subarray(0, f.size));
    f.durableVersion = f.version;
  }

  fsyncDir(dir: string): void {
    const d = this.norm(dir);
    if (this.live.get(d)?.kind !== 'dir') throw fsError('ENOENT', 'open', dir);
    if (this.random.bool(this.faults.fsyncEioProbability)) {
      this.injected.push({ kind: 'fsync-eio', file: d });
      throw fsError('EIO', 'fsync', dir);
    }
    // Every change of an entry in `d`, in order, becomes durable (with the rest of its operation).
    this.makeDurable((op) => touchesDir(op, d));
  }

  /** The pending directory operations `covered` picks become durable, in order; the rest stay pending. */
  private makeDurable(covered: (op: TreeOp) => boolean): void {
    const still: TreeOp[] = [];
    for (const op of this.pending) {
      if (covered(op)) applyOp(this.durableTree, op);
      else still.push(op);
    }
    this.pending = still;
  }

  fsyncDirAsync(dir: string, callback: (err: NodeJS.ErrnoException | null) => void): void {
    const d = this.norm(dir);
    const incarnation = this.incarnation;
    const delay = this.random.int(this.faults.fsyncDelayMs.min, this.faults.fsyncDelayMs.max);
    if (this.live.get(d)?.kind !== 'dir') {
      this.schedule(delay, () => incarnation === this.incarnation && callback(fsError('ENOENT', 'open', dir)));
      return;
    }
    // What it covers is decided when it starts: the changes of entries in `d` pending now.
    const covered = new Set(this.pending.filter((op) => touchesDir(op, d)));
    const fails = this.random.bool(this.faults.fsyncEioProbability);
    this.schedule(delay, () => {
      if (incarnation !== this.incarnation) return; // the power went out first: it never completes
      if (fails) {
        this.injected.push({ kind: 'fsync-eio', file: d });
        callback(fsError('EIO', 'fsync', dir));
        return;
      }
      this.makeDurable((op) => covered.has(op));
      callback(null);
    });
  }

  fileSize(fd: number): number {
    return this.fd(fd, 'fstat').file.size;
  }

  ftruncate(fd: number, length: number): void {
    const o = this.fd(fd, 'ftruncate');
    if (!o.writable) throw fsError('EBADF', 'ftruncate', o.path);
    this.resize(o.file, length);
    o.file.version++;
  }

  truncate(file: string, length: number): void {
    const f = this.fileAt(this.norm(file), 'truncate');
    this.resize(f, length);
    f.version++;
  }

  stat(file: string): FileStat {
    const e = this.live.get(this.norm(file));
    if (e === undefined) throw fsError('ENOENT', 'stat', file);
    return e.kind === 'dir' ? { size: 4096, isDirectory: true } : { size: e.size, isDirectory: false };
  }

  exists(file: string): boolean {
    return this.live.has(this.norm(file));
  }

  readdir(dir: string): string[] {
    const d = this.norm(dir);
    const e = this.live.get(d);
    if (e === undefined) throw fsError('ENOENT', 'scandir', dir);
    if (e.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', dir);
    const names: string[] = [];
    for (const p of this.live.keys()) if (p !== ROOT && path.posix.dirname(p) === d) names.push(path.posix.basename(p));
    // No order is promised: the code above must not depend on one.
    return this.orderRandom.shuffle(names.sort());
  }

  mkdirp(dir: string): void {
    const d = this.norm(dir);
    const missing: string[] = [];
    for (let p = d; !this.live.has(p); p = path.posix.dirname(p)) missing.unshift(p);
    const at = this.live.get(missing.length > 0 ? path.posix.dirname(missing[0]!) : d);
    if (at?.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', dir);
    for (const p of missing) this.changeTree([{ path: p, entry: { kind: 'dir' } }]);
  }

  rename(from: string, to: string): void {
    const a = this.norm(from);
    const b = this.norm(to);
    const e = this.live.get(a);
    if (e === undefined) throw fsError('ENOENT', 'rename', from);
    if (e.kind === 'dir') throw fsError('EPERM', 'rename', from); // storage renames files only
    if (this.live.get(b)?.kind === 'dir') throw fsError('EISDIR', 'rename', to);
    this.checkParent(b, 'rename');
    if (a !== b)
      this.changeTree([
        { path: a, entry: null },
        { path: b, entry: e },
      ]);
  }

  rm(file: string, options: { recursive?: boolean; force?: boolean } = {}): void {
    const p = this.norm(file);
    const e = this.live.get(p);
    if (e === undefined) {
      if (options.force) return;
      throw fsError('ENOENT', 'rm', file);
    }
    if (p === ROOT) throw fsError('EPERM', 'rm', file);
    if (e.kind === 'dir' && !options.recursive) throw fsError('EISDIR', 'rm', file);
    const prefix = `${p}/`;
    const gone = [...this.live.keys()].filter((k) => k === p || k.startsWith(prefix));
    // Children first, as a recursive removal does.
    gone.sort((x, y) => y.length - x.length);
    this.changeTree(gone.map((k) => ({ path: k, entry: null })));
  }

  readFile(file: string): Buffer {
    const p = this.norm(file);
    const f = this.fileAt(p, 'open');
    const out = Buffer.from(f.data.subarray(0, f.size));
    this.maybeFlipOnRead(p, out, 0, out.length, 0);
    return out;
  }

  writeFile(file: string, data: Buffer | string, exclusive = false): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const fd = this.open(file, exclusive ? 'wx+' : 'w');
    try {
      let written = 0;
      while (written < bytes.length) written += this.write(fd, bytes, written, bytes.length - written, written);
    } finally {
      this.close(fd);
    }
  }

  // ---- internals ----

  private norm(file: string): string {
    if (!path.posix.isAbsolute(file)) throw new Error(`SimDisk paths are absolute: ${file}`);
    const p = path.posix.normalize(file);
    return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
  }

  private addFd(o: OpenFile): number {
    const fd = this.nextFd++;
    this.fds.set(fd, o);
    return fd;
  }

  private fd(fd: number, syscall: string): OpenFile {
    const o = this.fds.get(fd);
    if (o === undefined) throw fsError('EBADF', syscall);
    return o;
  }

  private fileAt(p: string, syscall: string): SimFile {
    const e = this.live.get(p);
    if (e === undefined) throw fsError('ENOENT', syscall, p);
    if (e.kind === 'dir') throw fsError('EISDIR', syscall, p);
    return e;
  }

  private checkParent(p: string, syscall: string): void {
    const parent = this.live.get(path.posix.dirname(p));
    if (parent === undefined) throw fsError('ENOENT', syscall, p);
    if (parent.kind !== 'dir') throw fsError('ENOTDIR', syscall, p);
  }

  private changeTree(op: TreeOp): void {
    applyOp(this.live, op);
    this.pending.push(op);
  }

  private noSpace(syscall: string, p: string): never {
    this.injected.push({ kind: 'enospc', file: p });
    throw fsError('ENOSPC', syscall, p);
  }

  private resize(f: SimFile, size: number): void {
    if (size > f.data.length) {
      const grown = Buffer.alloc(Math.max(size, f.data.length * 2, 256));
      f.data.copy(grown, 0, 0, f.size);
      f.data = grown;
    } else if (size < f.size) {
      f.data.fill(0, size, f.size); // bytes past the end read back as zeros if the file grows again
    }
    f.size = size;
  }

  private maybeFlipOnRead(p: string, buf: Buffer, offset: number, n: number, position: number): void {
    if (n <= 0 || !this.random.bool(this.faults.readBitFlipProbability)) return;
    if (this.faults.bitFlipFilter && !this.faults.bitFlipFilter(p)) return;
    const i = this.random.int(0, n - 1);
    const bit = this.random.int(0, 7);
    buf[offset + i]! ^= 1 << bit;
    this.injected.push({ kind: 'read-bit-flip', file: p, position: position + i, bit });
  }

  /** What the power cut leaves of one file: its durable bytes, or a torn mix (see the class comment). */
  private afterPowerCut(p: string, f: SimFile): void {
    const durable = f.durable;
    const current = f.data.subarray(0, f.size);
    let out: Buffer = durable;
    if (f.version !== f.durableVersion && this.random.bool(this.faults.tornWriteProbability)) {
      out = this.tear(p, durable, current);
    }
    f.data = Buffer.from(out);
    f.size = out.length;
    f.durable = Buffer.from(out);
    f.version = 0;
    f.durableVersion = 0;
  }

  private tear(p: string, durable: Buffer, current: Buffer): Buffer {
    let first = 0;
    const common = Math.min(durable.length, current.length);
    while (first < common && durable[first] === current[first]) first++;
    if (first === common && durable.length === current.length) return durable;
    // Only a truncation pending: it happened or it did not.
    if (first === current.length) return this.random.bool() ? current : durable;
    const sector = SIM_SECTOR_BYTES;
    const firstSector = Math.floor(first / sector);
    const lastSector = Math.ceil(current.length / sector);
    const kept = Math.min(current.length, this.random.int(firstSector, lastSector) * sector);
    const length = Math.max(kept, current.length < durable.length ? current.length : durable.length);
    const out = Buffer.alloc(Math.max(length, kept));
    durable.copy(out, 0, 0, Math.min(durable.length, out.length));
    current.copy(out, 0, 0, kept);
    let garbage: { from: number; to: number } | null = null;
    if (kept < current.length && this.random.bool(this.faults.tornGarbageProbability)) {
      // The sector the write stopped in: its changed bytes are garbage, the rest as they were.
      const from = Math.max(kept, first);
      const to = Math.min(current.length, (Math.floor(kept / sector) + 1) * sector);
      if (to > from) {
        const grown = to > out.length ? Buffer.concat([out, Buffer.alloc(to - out.length)]) : out;
        for (let i = from; i < to; i++) grown[i] = this.random.int(0, 255);
        garbage = { from, to };
        this.injected.push({ kind: 'torn-write', file: p, durableBytes: durable.length, keptBytes: kept, garbage });
        return grown;
      }
    }
    this.injected.push({ kind: 'torn-write', file: p, durableBytes: durable.length, keptBytes: kept, garbage });
    return out;
  }
}

function emptyFile(): SimFile {
  return { kind: 'file', data: Buffer.alloc(0), size: 0, version: 0, durable: Buffer.alloc(0), durableVersion: 0 };
}

/** Whether an operation changes an entry of directory `dir`. */
function touchesDir(op: TreeOp, dir: string): boolean {
  return op.some((c) => path.posix.dirname(c.path) === dir);
}

function applyOp(tree: Map<string, Entry>, op: TreeOp): void {
  for (const c of op) {
    if (c.entry === null) tree.delete(c.path);
    else tree.set(c.path, c.entry);
  }
}
