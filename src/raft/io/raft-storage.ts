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
import { invariant } from '../../common';
import {
  decodeHardState,
  decodeSnapshot,
  encodeFrame,
  encodeHardState,
  encodeSnapshot,
  ENTRIES_FILE,
  type Entry,
  frameLength,
  HARD_STATE_FILE,
  type RaftInitialState,
  RaftStorageError,
  type Ready,
  scanEntries,
  type Snapshot,
  SNAPSHOT_FILE,
  TMP_SUFFIX,
} from '..';
import { recordDurable } from '../../storage';

export { ENTRIES_FILE, HARD_STATE_FILE, RaftStorageError, SNAPSHOT_FILE } from '..';

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
    const fileEnd = offsets.length > 0 ? offsets[offsets.length - 1]! + frameLength(keep[keep.length - 1]!) : 0;
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
    recordDurable(path.join(this.dir, ENTRIES_FILE), at);
  }

  private async truncateFrom(index: number): Promise<void> {
    if (index > this.lastIndex) return;
    const keep = Math.max(0, index - this.snapshotIndex - 1);
    const cut = keep < this.offsets.length ? this.offsets[keep]! : this.fileEnd;
    await this.entriesFile.truncate(cut);
    await this.entriesFile.sync();
    recordDurable(path.join(this.dir, ENTRIES_FILE), cut);
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

// ---- file helpers ----

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
  recordDurable(target, bytes.length);
}
