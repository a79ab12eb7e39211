/**
 * Durable storage of one Raft node: the I/O edge of the core (this file may touch `fs`).
 *
 * Three files in the node's raft directory:
 *
 * - `raft-hard-state` (28 bytes): magic "CRHS", version, term, votedFor (-1 for none), CRC32C.
 *   Replaced atomically: temp file, fsync, rename, fsync the directory.
 * - `raft-snapshot`: magic "CRSN", version, lastIndex, lastTerm, data length, CRC32C over header
 *   and data, then the data. Replaced atomically the same way.
 * - `raft-entries.log`: the entries after the snapshot, append-only, one frame each:
 *
 *     bodyLength u32 | crc32c(bodyLength bytes ++ body) u32 | body
 *     body = index u64 | term u64 | kind u8 (0 data, 1 noop) | data
 *
 *   Appends are one write plus one fdatasync. Truncation cuts the file at a frame boundary.
 *   After a snapshot the retained frames are rewritten into a new file, atomically.
 *
 * Recovery on open: a torn tail — the last frame cut short, a bad CRC on the very last frame,
 * or a zero-filled tail — is cut off (those entries were never acknowledged: acknowledgements go
 * out only after the fsync). A bad frame with valid data after it is corruption in the middle:
 * open() throws RaftStorageError naming the file and offset, and the node must not start.
 *
 * All multi-byte integers are big-endian. persist() calls must not overlap (the driver awaits each).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { nodeId, term as toTerm } from '../common/types';
import { CairnError, ErrorCode, invariant } from '../common/errors';
import { MAX_ENTRY_BYTES } from './limits';
import type { Entry, HardState, RaftInitialState, Ready, Snapshot } from './types';

export const HARD_STATE_FILE = 'raft-hard-state';
export const SNAPSHOT_FILE = 'raft-snapshot';
export const ENTRIES_FILE = 'raft-entries.log';
const TMP_SUFFIX = '.tmp';

const HARD_STATE_MAGIC = 0x43524853; // "CRHS"
const SNAPSHOT_MAGIC = 0x4352534e; // "CRSN"
const FORMAT_VERSION = 1;
const HARD_STATE_BYTES = 28;
const SNAPSHOT_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 8;
const ENTRY_BODY_HEADER_BYTES = 17;
/** A frame longer than this was never written by us. */
export const MAX_FRAME_BODY_BYTES = ENTRY_BODY_HEADER_BYTES + MAX_ENTRY_BYTES;
const KIND_CODES = { data: 0, noop: 1 } as const;

/** The raft directory cannot be trusted; the node must not start until an operator looks. */
export class RaftStorageError extends CairnError {
  constructor(message: string) {
    super(ErrorCode.KAFKA_STORAGE_ERROR, `raft storage: ${message}`);
  }
}

export interface RaftStorageRecovery {
  /** Bytes of torn tail cut from the entry file on open (0 when the file was clean). */
  readonly tornTailBytes: number;
}

export type PersistRequest = Pick<Ready, 'hardState' | 'truncateFrom' | 'snapshotToSave' | 'entriesToAppend'>;

export class RaftStorage {
  private busy = false;

  private constructor(
    readonly dir: string,
    private entriesFile: fsp.FileHandle,
    /** Index of the persisted snapshot (0 without one); the entry file starts right after it. */
    private snapshotIndex: number,
    /** offsets[i] is the file position of the frame of entry snapshotIndex + 1 + i. */
    private offsets: number[],
    private fileEnd: number,
  ) {}

  /** Opens (creating if needed) the raft directory and loads what it holds. */
  static async open(dir: string): Promise<{ storage: RaftStorage; state: RaftInitialState; recovery: RaftStorageRecovery }> {
    await fsp.mkdir(dir, { recursive: true });
    for (const name of await fsp.readdir(dir)) {
      if (name.endsWith(TMP_SUFFIX)) await fsp.rm(path.join(dir, name), { force: true });
    }
    const hardState = decodeHardState(await readIfExists(path.join(dir, HARD_STATE_FILE)), dir);
    const snapshot = decodeSnapshot(await readIfExists(path.join(dir, SNAPSHOT_FILE)), dir);
    const snapshotIndex = snapshot?.lastIndex ?? 0;
    const entriesPath = path.join(dir, ENTRIES_FILE);
    const bytes = (await readIfExists(entriesPath)) ?? Buffer.alloc(0);
    const scan = scanEntries(bytes, entriesPath);

    let keep = scan.entries;
    let offsets = scan.offsets;
    if (keep.length > 0 && keep[0]!.index > snapshotIndex + 1) {
      throw new RaftStorageError(`${entriesPath} starts at entry ${keep[0]!.index} but the snapshot ends at ${snapshotIndex}: entries are missing`);
    }
    let lastTerm = snapshot?.lastTerm ?? 0;
    for (const e of keep) {
      if (e.index > snapshotIndex && e.term < lastTerm) {
        throw new RaftStorageError(`${entriesPath}: entry ${e.index} has term ${e.term}, below the term ${lastTerm} before it`);
      }
      if (e.index > snapshotIndex) lastTerm = e.term;
    }

    let handle: fsp.FileHandle;
    const stale = keep.findIndex((e) => e.index > snapshotIndex);
    const dropped = stale === -1 ? keep.length : stale;
    if (dropped > 0) {
      // A crash between saving a snapshot and rewriting the entry file: finish the rewrite.
      const from = stale === -1 ? scan.validEnd : offsets[stale]!;
      await writeAtomic(dir, ENTRIES_FILE, bytes.subarray(from, scan.validEnd));
      keep = keep.slice(dropped);
      offsets = offsets.slice(dropped).map((o) => o - from);
      handle = await fsp.open(entriesPath, 'r+');
    } else {
      handle = await openForAppend(entriesPath);
      if (scan.validEnd < bytes.length) {
        await handle.truncate(scan.validEnd);
        await handle.sync();
      }
    }
    const fileEnd = offsets.length > 0 ? (offsets[offsets.length - 1]! + frameLength(keep[keep.length - 1]!)) : 0;
    const storage = new RaftStorage(dir, handle, snapshotIndex, offsets, fileEnd);
    return {
      storage,
      state: { hardState, snapshot, entries: keep },
      recovery: { tornTailBytes: bytes.length - scan.validEnd },
    };
  }

  /** The index of the last persisted entry (or of the snapshot when the entry file is empty). */
  get lastIndex(): number {
    return this.snapshotIndex + this.offsets.length;
  }

  /** Makes one ready()'s writes durable, in the order the core's contract fixes. */
  async persist(rd: PersistRequest): Promise<void> {
    invariant(!this.busy, 'overlapping persist() calls', { dir: this.dir });
    this.busy = true;
    try {
      if (rd.hardState) await writeAtomic(this.dir, HARD_STATE_FILE, encodeHardState(rd.hardState));
      if (rd.truncateFrom !== undefined) await this.truncateFrom(rd.truncateFrom);
      if (rd.snapshotToSave) await this.saveSnapshot(rd.snapshotToSave);
      if (rd.entriesToAppend.length > 0) await this.append(rd.entriesToAppend);
    } finally {
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    await this.entriesFile.close();
  }

  private async append(entries: readonly Entry[]): Promise<void> {
    invariant(entries[0]!.index === this.lastIndex + 1, 'append does not follow the last persisted entry', {
      first: entries[0]!.index,
      lastIndex: this.lastIndex,
    });
    const frames = entries.map(encodeFrame);
    const buf = Buffer.concat(frames);
    let at = this.fileEnd;
    for (const f of frames) {
      this.offsets.push(at);
      at += f.length;
    }
    await writeFully(this.entriesFile, buf, this.fileEnd);
    await this.entriesFile.datasync();
    this.fileEnd = at;
  }

  private async truncateFrom(index: number): Promise<void> {
    if (index > this.lastIndex) return;
    const keep = Math.max(0, index - this.snapshotIndex - 1);
    const cut = keep < this.offsets.length ? this.offsets[keep]! : this.fileEnd;
    await this.entriesFile.truncate(cut);
    await this.entriesFile.sync();
    this.offsets.length = keep;
    this.fileEnd = cut;
  }

  private async saveSnapshot(s: Snapshot): Promise<void> {
    invariant(s.lastIndex >= this.snapshotIndex, 'snapshot older than the persisted one', { lastIndex: s.lastIndex, persisted: this.snapshotIndex });
    await writeAtomic(this.dir, SNAPSHOT_FILE, encodeSnapshot(s));
    // Rewrite the entry file without the entries the snapshot now covers.
    const dropped = Math.min(this.offsets.length, s.lastIndex - this.snapshotIndex);
    const from = dropped < this.offsets.length ? this.offsets[dropped]! : this.fileEnd;
    const kept = Buffer.alloc(this.fileEnd - from);
    if (kept.length > 0) await this.entriesFile.read(kept, 0, kept.length, from);
    await this.entriesFile.close();
    await writeAtomic(this.dir, ENTRIES_FILE, kept);
    this.entriesFile = await fsp.open(path.join(this.dir, ENTRIES_FILE), 'r+');
    this.offsets = this.offsets.slice(dropped).map((o) => o - from);
    this.fileEnd = kept.length;
    this.snapshotIndex = s.lastIndex;
  }
}

// ---- encoding ----

function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.alloc(HARD_STATE_BYTES);
  b.writeUInt32BE(HARD_STATE_MAGIC, 0);
  b.writeUInt16BE(FORMAT_VERSION, 4);
  b.writeBigUInt64BE(BigInt(hs.term), 8);
  b.writeBigInt64BE(BigInt(hs.votedFor ?? -1), 16);
  b.writeUInt32BE(crc32c(b.subarray(0, 24)), 24);
  return b;
}

function decodeHardState(b: Buffer | null, dir: string): HardState {
  if (b === null) return { term: toTerm(0), votedFor: null };
  const where = path.join(dir, HARD_STATE_FILE);
  if (b.length !== HARD_STATE_BYTES) throw new RaftStorageError(`${where} is ${b.length} bytes, expected ${HARD_STATE_BYTES}`);
  if (b.readUInt32BE(0) !== HARD_STATE_MAGIC) throw new RaftStorageError(`${where} does not start with the hard-state magic`);
  if (b.readUInt16BE(4) !== FORMAT_VERSION) throw new RaftStorageError(`${where} has unknown format version ${b.readUInt16BE(4)}`);
  if (crc32c(b.subarray(0, 24)) !== b.readUInt32BE(24)) throw new RaftStorageError(`${where} fails its CRC32C check`);
  const votedFor = Number(b.readBigInt64BE(16));
  return { term: toTerm(safe(b.readBigUInt64BE(8), where)), votedFor: votedFor < 0 ? null : nodeId(votedFor) };
}

function encodeSnapshot(s: Snapshot): Buffer {
  const b = Buffer.alloc(SNAPSHOT_HEADER_BYTES + s.data.byteLength);
  b.writeUInt32BE(SNAPSHOT_MAGIC, 0);
  b.writeUInt16BE(FORMAT_VERSION, 4);
  b.writeBigUInt64BE(BigInt(s.lastIndex), 8);
  b.writeBigUInt64BE(BigInt(s.lastTerm), 16);
  b.writeUInt32BE(s.data.byteLength, 24);
  b.set(s.data, SNAPSHOT_HEADER_BYTES);
  const crc = crc32c(b.subarray(SNAPSHOT_HEADER_BYTES), crc32c(b.subarray(0, 28)));
  b.writeUInt32BE(crc, 28);
  return b;
}

function decodeSnapshot(b: Buffer | null, dir: string): Snapshot | null {
  if (b === null) return null;
  const where = path.join(dir, SNAPSHOT_FILE);
  if (b.length < SNAPSHOT_HEADER_BYTES) throw new RaftStorageError(`${where} is ${b.length} bytes, shorter than its header`);
  if (b.readUInt32BE(0) !== SNAPSHOT_MAGIC) throw new RaftStorageError(`${where} does not start with the snapshot magic`);
  if (b.readUInt16BE(4) !== FORMAT_VERSION) throw new RaftStorageError(`${where} has unknown format version ${b.readUInt16BE(4)}`);
  const dataLength = b.readUInt32BE(24);
  if (b.length !== SNAPSHOT_HEADER_BYTES + dataLength) {
    throw new RaftStorageError(`${where} is ${b.length} bytes but its header says ${SNAPSHOT_HEADER_BYTES + dataLength}`);
  }
  const crc = crc32c(b.subarray(SNAPSHOT_HEADER_BYTES), crc32c(b.subarray(0, 28)));
  if (crc !== b.readUInt32BE(28)) throw new RaftStorageError(`${where} fails its CRC32C check`);
  return {
    lastIndex: safe(b.readBigUInt64BE(8), where),
    lastTerm: toTerm(safe(b.readBigUInt64BE(16), where)),
    data: new Uint8Array(b.subarray(SNAPSHOT_HEADER_BYTES)),
  };
}

function frameLength(e: Entry): number {
  return FRAME_HEADER_BYTES + ENTRY_BODY_HEADER_BYTES + e.data.byteLength;
}

function encodeFrame(e: Entry): Buffer {
  const f = Buffer.alloc(frameLength(e));
  f.writeUInt32BE(ENTRY_BODY_HEADER_BYTES + e.data.byteLength, 0);
  f.writeBigUInt64BE(BigInt(e.index), 8);
  f.writeBigUInt64BE(BigInt(e.term), 16);
  f.writeUInt8(KIND_CODES[e.kind], 24);
  f.set(e.data, FRAME_HEADER_BYTES + ENTRY_BODY_HEADER_BYTES);
  f.writeUInt32BE(frameCrc(f, 0, f.length), 4);
  return f;
}

function frameCrc(buf: Buffer, start: number, end: number): number {
  return crc32c(buf.subarray(start + FRAME_HEADER_BYTES, end), crc32c(buf.subarray(start, start + 4)));
}

interface Scan {
  readonly entries: Entry[];
  readonly offsets: number[];
  /** Where the valid frames end; anything after is a torn tail. */
  readonly validEnd: number;
}

/** Parses the entry file; cuts a torn tail, throws on corruption in the middle. */
function scanEntries(buf: Buffer, where: string): Scan {
  const entries: Entry[] = [];
  const offsets: number[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (isZeroFrom(buf, pos) || buf.length - pos < FRAME_HEADER_BYTES) break;
    const bodyLength = buf.readUInt32BE(pos);
    const end = pos + FRAME_HEADER_BYTES + bodyLength;
    if (end > buf.length) {
      // The last frame was cut short — unless its length field is what broke: then an intact
      // frame follows somewhere, and cutting here would silently drop acknowledged entries.
      const expected = entries.length > 0 ? entries[entries.length - 1]!.index + 1 : null;
      const later = findLaterFrame(buf, pos + 1, expected);
      if (later !== null) {
        throw new RaftStorageError(
          `${where}: frame at byte ${pos} claims ${bodyLength} bytes, past the end of the file, yet an intact frame ` +
            `follows at byte ${later}: corruption in the middle of the log`,
        );
      }
      break;
    }
    if (frameCrc(buf, pos, end) !== buf.readUInt32BE(pos + 4)) {
      if (end === buf.length) break; // a torn write of the very last frame
      throw new RaftStorageError(
        `${where}: frame at byte ${pos} (after entry ${entries.length > 0 ? entries[entries.length - 1]!.index : 'none'}) fails its CRC32C check ` +
          `and ${buf.length - end} bytes follow it: corruption in the middle of the log`,
      );
    }
    if (bodyLength < ENTRY_BODY_HEADER_BYTES || bodyLength > MAX_FRAME_BODY_BYTES) {
      throw new RaftStorageError(`${where}: frame at byte ${pos} has a valid CRC but an impossible length ${bodyLength}`);
    }
    const index = safe(buf.readBigUInt64BE(pos + 8), where);
    const t = safe(buf.readBigUInt64BE(pos + 16), where);
    const kindCode = buf.readUInt8(pos + 24);
    if (kindCode !== KIND_CODES.data && kindCode !== KIND_CODES.noop) {
      throw new RaftStorageError(`${where}: entry ${index} at byte ${pos} has unknown kind ${kindCode}`);
    }
    const previous = entries[entries.length - 1];
    if (previous && index !== previous.index + 1) {
      throw new RaftStorageError(`${where}: entry ${index} at byte ${pos} follows entry ${previous.index}`);
    }
    entries.push({
      index,
      term: toTerm(t),
      kind: kindCode === KIND_CODES.data ? 'data' : 'noop',
      data: new Uint8Array(buf.subarray(pos + FRAME_HEADER_BYTES + ENTRY_BODY_HEADER_BYTES, end)),
    });
    offsets.push(pos);
    pos = end;
  }
  return { entries, offsets, validEnd: pos };
}

/** The position of an intact frame (valid length and CRC, index at least `minIndex` when known) at or after `from`. */
function findLaterFrame(buf: Buffer, from: number, minIndex: number | null): number | null {
  for (let p = from; p + FRAME_HEADER_BYTES + ENTRY_BODY_HEADER_BYTES <= buf.length; p++) {
    const bodyLength = buf.readUInt32BE(p);
    if (bodyLength < ENTRY_BODY_HEADER_BYTES || bodyLength > MAX_FRAME_BODY_BYTES) continue;
    const end = p + FRAME_HEADER_BYTES + bodyLength;
    if (end > buf.length) continue;
    if (minIndex !== null && buf.readBigUInt64BE(p + 8) < BigInt(minIndex)) continue;
    if (frameCrc(buf, p, end) === buf.readUInt32BE(p + 4)) return p;
  }
  return null;
}

// ---- file helpers ----

function safe(v: bigint, where: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RaftStorageError(`${where}: value ${v} is beyond 2^53`);
  return Number(v);
}

function isZeroFrom(buf: Buffer, pos: number): boolean {
  for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function openForAppend(file: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await writeAtomic(path.dirname(file), path.basename(file), Buffer.alloc(0));
    return await fsp.open(file, 'r+');
  }
}

async function writeFully(handle: fsp.FileHandle, buf: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < buf.length) {
    const { bytesWritten } = await handle.write(buf, written, buf.length - written, position + written);
    written += bytesWritten;
  }
}

/** Temp file, fsync, rename over the target, fsync the directory. */
async function writeAtomic(dir: string, name: string, bytes: Buffer): Promise<void> {
  const target = path.join(dir, name);
  const tmp = target + TMP_SUFFIX;
  const handle = await fsp.open(tmp, 'w');
  try {
    await writeFully(handle, bytes, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, target);
  const d = await fsp.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
