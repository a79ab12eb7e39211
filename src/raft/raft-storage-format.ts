/**
 * The on-disk formats of RaftStorage, encoder beside decoder (style §5): the hard-state file, the
 * snapshot file and the framed entry log, plus the scan that tells a torn tail from corruption.
 * Pure: bytes in, values out. Layouts are described in raft-storage.ts and docs/raft.md.
 */
import * as path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { CairnError, ErrorCode, nodeId, term as toTerm } from '../common';
import { MAX_ENTRY_BYTES } from './limits';
import { decodeMembership, encodeMembership } from './membership';
import type { Entry, EntryKind, HardState, Snapshot } from './types';

export const HARD_STATE_FILE = 'raft-hard-state';
export const SNAPSHOT_FILE = 'raft-snapshot';
export const ENTRIES_FILE = 'raft-entries.log';
export const TMP_SUFFIX = '.tmp';

const HARD_STATE_MAGIC = 0x43524853; // "CRHS"
const SNAPSHOT_MAGIC = 0x4352534e; // "CRSN"
const FORMAT_VERSION = 1;
const HARD_STATE_BYTES = 28;
const SNAPSHOT_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 8;
const ENTRY_BODY_HEADER_BYTES = 17;
/** A frame longer than this was never written by us. */
export const MAX_FRAME_BODY_BYTES = ENTRY_BODY_HEADER_BYTES + MAX_ENTRY_BYTES;
const KIND_CODES = { data: 0, noop: 1, config: 2 } as const;
const KINDS_BY_CODE: readonly EntryKind[] = ['data', 'noop', 'config'];
/** Version 2 snapshots end with the membership in force (membership.ts); version 1 ones have none. */
const SNAPSHOT_FORMAT_VERSION = 2;

/** The raft directory cannot be trusted; the node must not start until an operator looks. */
export class RaftStorageError extends CairnError {
  constructor(message: string) {
    super(ErrorCode.KAFKA_STORAGE_ERROR, `raft storage: ${message}`);
  }
}

export function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.alloc(HARD_STATE_BYTES);
  b.writeUInt32BE(HARD_STATE_MAGIC, 0);
  b.writeUInt16BE(FORMAT_VERSION, 4);
  b.writeBigUInt64BE(BigInt(hs.term), 8);
  b.writeBigInt64BE(BigInt(hs.votedFor ?? -1), 16);
  b.writeUInt32BE(crc32c(b.subarray(0, 24)), 24);
  return b;
}

export function decodeHardState(b: Buffer | null, dir: string): HardState {
  if (b === null) return { term: toTerm(0), votedFor: null };
  const where = path.join(dir, HARD_STATE_FILE);
  if (b.length !== HARD_STATE_BYTES) throw new RaftStorageError(`${where} is ${b.length} bytes, expected ${HARD_STATE_BYTES}`);
  if (b.readUInt32BE(0) !== HARD_STATE_MAGIC) throw new RaftStorageError(`${where} does not start with the hard-state magic`);
  if (b.readUInt16BE(4) !== FORMAT_VERSION) throw new RaftStorageError(`${where} has unknown format version ${b.readUInt16BE(4)}`);
  if (crc32c(b.subarray(0, 24)) !== b.readUInt32BE(24)) throw new RaftStorageError(`${where} fails its CRC32C check`);
  const votedFor = Number(b.readBigInt64BE(16));
  return { term: toTerm(safe(b.readBigUInt64BE(8), where)), votedFor: votedFor < 0 ? null : nodeId(votedFor) };
}

/**
 * Header (32 bytes): magic, version, lastIndex, lastTerm, data length, CRC32C of everything else.
 * Then the data and, in version 2, a 4-byte membership length and the membership's bytes (empty
 * when the bootstrap voters hold).
 */
export function encodeSnapshot(s: Snapshot): Buffer {
  const membership = s.membership ? encodeMembership(s.membership) : new Uint8Array(0);
  const b = Buffer.alloc(SNAPSHOT_HEADER_BYTES + s.data.byteLength + 4 + membership.byteLength);
  b.writeUInt32BE(SNAPSHOT_MAGIC, 0);
  b.writeUInt16BE(SNAPSHOT_FORMAT_VERSION, 4);
  b.writeBigUInt64BE(BigInt(s.lastIndex), 8);
  b.writeBigUInt64BE(BigInt(s.lastTerm), 16);
  b.writeUInt32BE(s.data.byteLength, 24);
  b.set(s.data, SNAPSHOT_HEADER_BYTES);
  b.writeUInt32BE(membership.byteLength, SNAPSHOT_HEADER_BYTES + s.data.byteLength);
  b.set(membership, SNAPSHOT_HEADER_BYTES + s.data.byteLength + 4);
  const crc = crc32c(b.subarray(SNAPSHOT_HEADER_BYTES), crc32c(b.subarray(0, 28)));
  b.writeUInt32BE(crc, 28);
  return b;
}

export function decodeSnapshot(b: Buffer | null, dir: string): Snapshot | null {
  if (b === null) return null;
  const where = path.join(dir, SNAPSHOT_FILE);
  if (b.length < SNAPSHOT_HEADER_BYTES) throw new RaftStorageError(`${where} is ${b.length} bytes, shorter than its header`);
  if (b.readUInt32BE(0) !== SNAPSHOT_MAGIC) throw new RaftStorageError(`${where} does not start with the snapshot magic`);
  const version = b.readUInt16BE(4);
  if (version !== FORMAT_VERSION && version !== SNAPSHOT_FORMAT_VERSION) throw new RaftStorageError(`${where} has unknown format version ${version}`);
  const crc = crc32c(b.subarray(SNAPSHOT_HEADER_BYTES), crc32c(b.subarray(0, 28)));
  if (crc !== b.readUInt32BE(28)) throw new RaftStorageError(`${where} fails its CRC32C check`);
  const dataLength = b.readUInt32BE(24);
  const dataEnd = SNAPSHOT_HEADER_BYTES + dataLength;
  const membershipLength = version === SNAPSHOT_FORMAT_VERSION && b.length >= dataEnd + 4 ? b.readUInt32BE(dataEnd) : 0;
  const expected = version === SNAPSHOT_FORMAT_VERSION ? dataEnd + 4 + membershipLength : dataEnd;
  if (b.length !== expected) throw new RaftStorageError(`${where} is ${b.length} bytes but its header says ${expected}`);
  let membership: Snapshot['membership'];
  if (membershipLength > 0) {
    const decoded = decodeMembership(new Uint8Array(b.subarray(dataEnd + 4)));
    if ('problem' in decoded) throw new RaftStorageError(`${where}: ${decoded.problem}`);
    membership = decoded.membership;
  }
  return {
    lastIndex: safe(b.readBigUInt64BE(8), where),
    lastTerm: toTerm(safe(b.readBigUInt64BE(16), where)),
    data: new Uint8Array(b.subarray(SNAPSHOT_HEADER_BYTES, dataEnd)),
    ...(membership ? { membership } : {}),
  };
}

export function frameLength(e: Entry): number {
  return FRAME_HEADER_BYTES + ENTRY_BODY_HEADER_BYTES + e.data.byteLength;
}

export function encodeFrame(e: Entry): Buffer {
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

export interface Scan {
  readonly entries: Entry[];
  readonly offsets: number[];
  /** Where the valid frames end; anything after is a torn tail. */
  readonly validEnd: number;
}

/** Parses the entry file; cuts a torn tail, throws on corruption in the middle. */
export function scanEntries(buf: Buffer, where: string): Scan {
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
          `${where}: frame at byte ${pos} claims ${bodyLength} bytes, past the end of the file, yet an intact frame ` + `follows at byte ${later}: corruption in the middle of the log`,
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
    const kind = KINDS_BY_CODE[kindCode];
    if (kind === undefined) throw new RaftStorageError(`${where}: entry ${index} at byte ${pos} has unknown kind ${kindCode}`);
    const data = new Uint8Array(buf.subarray(pos + FRAME_HEADER_BYTES + ENTRY_BODY_HEADER_BYTES, end));
    if (kind === 'config') {
      const decoded = decodeMembership(data);
      if ('problem' in decoded) throw new RaftStorageError(`${where}: config entry ${index} at byte ${pos} has a valid CRC but ${decoded.problem}`);
    }
    const previous = entries[entries.length - 1];
    if (previous && index !== previous.index + 1) {
      throw new RaftStorageError(`${where}: entry ${index} at byte ${pos} follows entry ${previous.index}`);
    }
    entries.push({
      index,
      term: toTerm(t),
      kind,
      data,
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

// ---- helpers ----

export function safe(v: bigint, where: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RaftStorageError(`${where}: value ${v} is beyond 2^53`);
  return Number(v);
}

function isZeroFrom(buf: Buffer, pos: number): boolean {
  for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
