import * as path from 'node:path';
import { invariant, type Logger } from '../common';
import type { FileSystem } from './file-system';
import { CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, segmentFileName, TIME_INDEX_SUFFIX } from './log-segment';

/**
 * The base offsets of the segments in a partition directory, ascending. What an unfinished
 * compaction or checkpoint left behind (the originals are intact) and indexes without their
 * segment are removed on the way.
 */
export function segmentBasesIn(fsys: FileSystem, dir: string): number[] {
  const bases: number[] = [];
  for (const name of fsys.readdir(dir)) {
    if (name.endsWith(CLEANED_SUFFIX) || name.endsWith('.tmp')) {
      fsys.rm(path.join(dir, name), { force: true });
    } else if (name.endsWith(LOG_SUFFIX) && /^\d{20}\.log$/.test(name)) {
      bases.push(Number(name.slice(0, 20)));
    }
  }
  bases.sort((a, b) => a - b);
  for (const name of fsys.readdir(dir)) {
    const m = /^(\d{20})\.(index|timeindex)$/.exec(name);
    if (m && !bases.includes(Number(m[1]))) fsys.rm(path.join(dir, name), { force: true });
  }
  return bases;
}

export interface RecoveryInput {
  fs: FileSystem;
  dir: string;
  /** From segmentBasesIn: at least one. */
  bases: readonly number[];
  indexIntervalBytes: number;
  /** Everything below this offset was fsynced: damage there is corruption, never a torn tail. */
  fsyncedOffset: number;
  /** The last shutdown was not clean: check every batch of every segment. */
  verifyAll: boolean;
  logger: Logger;
}

export interface RecoveredSegments {
  /** The segments opened, in order — all of them, or those up to the damage when `offline`. */
  segments: LogSegment[];
  /** Why the log cannot be served (damage that is not a torn tail), or null. */
  offline: string | null;
  /** How many segments were scanned batch by batch. */
  scanned: number;
}

/**
 * Opens a partition's segments after a start (design brief §4): segments that may hold bytes never
 * fsynced — and every segment with `verifyAll` — are scanned batch by batch. Only a torn tail of the
 * last segment, past the fsynced offset, is cut; overlaps, gaps between segments past the fsynced
 * offset, damage in the middle of the log or below the fsynced offset, and a log ending below it
 * are reported as `offline`. What survived is fsynced before anything is acknowledged on top of it.
 */
export function recoverSegments(r: RecoveryInput): RecoveredSegments {
  const { bases, fsyncedOffset } = r;
  const segments: LogSegment[] = [];
  let scanned = 0;
  const offline = (reason: string): RecoveredSegments => ({ segments, offline: reason, scanned });
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const last = i === bases.length - 1;
    const mayHoldUnflushed = last || bases[i + 1]! > fsyncedOffset;
    const { segment, scan } = LogSegment.open(r.fs, r.dir, base, r.indexIntervalBytes, mayHoldUnflushed || r.verifyAll);
    segments.push(segment);
    const prev = segments[i - 1];
    if (prev && prev.nextOffset > base) return offline(`segment ${base} overlaps the previous one, which ends at ${prev.nextOffset - 1}`);
    // A roll starts the next segment exactly where the previous one ends. A gap there is a tail
    // the previous segment lost (a power cut that kept the new segment's data but not the old
    // one's); only compaction may leave one, and it cleans fsynced segments only.
    if (prev && prev.nextOffset < base && base > fsyncedOffset) {
      const missing = base - prev.nextOffset === 1 ? `offset ${prev.nextOffset} is missing` : `offsets ${prev.nextOffset}..${base - 1} are missing`;
      if (prev.nextOffset < fsyncedOffset) return offline(`offset gap: segment ${base} follows one that ends at offset ${prev.nextOffset - 1}, ${missing} (fsynced to offset ${fsyncedOffset})`);
      // Only offsets never fsynced are missing: the segments from here on were written after the
      // lost tail and cannot follow a hole. Drop them; the log ends where its fsynced data does.
      segments.pop()!.close();
      dropSegments(r, bases.slice(i), `${missing}, never fsynced`);
      break;
    }
    if (scan === null) continue;
    scanned++;
    if (scan.problem === null) continue;
    const where = `${segment.logFile} at byte ${scan.validBytes}`;
    if (scan.validDataAfterProblem) return offline(`corruption in the middle of the log, ${where}: ${scan.problem}`);
    if (segment.nextOffset < fsyncedOffset) return offline(`fsynced data is damaged, ${where} (fsynced to offset ${fsyncedOffset}): ${scan.problem}`);
    const cut = r.fs.stat(segment.logFile).size - scan.validBytes;
    segment.truncateToPosition(scan.validBytes);
    r.logger.warn({ file: segment.logFile, position: scan.validBytes, bytesRemoved: cut, reason: scan.problem, fsyncedOffset }, 'torn tail truncated');
    if (!last) {
      // A power cut after a roll: this segment's un-fsynced tail tore, and the segments after it
      // hold only offsets at or past the fsynced offset, written after the bytes just cut. They
      // cannot follow a hole: delete them, as Kafka's recovery deletes the segments after a
      // truncated one (found by the simulated disk, test/unit/storage/partition-log-on-sim-disk).
      dropSegments(r, bases.slice(i + 1), `after a torn tail at ${where}`);
      break;
    }
  }
  const logEndOffset = segments[segments.length - 1]!.nextOffset;
  if (logEndOffset < fsyncedOffset) {
    // Whole batches are gone (a file cut at a batch boundary, a segment missing): no scan problem, still lost data.
    return offline(`fsynced data is missing: the log ends at offset ${logEndOffset}, but it was fsynced to offset ${fsyncedOffset}`);
  }
  if (scanned > 0) {
    // What survived the crash sits in the page cache; make it durable before acknowledging anything on top of it.
    for (const s of segments) if (s.nextOffset > fsyncedOffset) s.syncSync();
  }
  if (r.verifyAll) {
    // After an unclean shutdown the directory's entries may be in the page cache only (a process
    // crash keeps them, a later power cut would not): the segments just counted as durable must
    // not vanish with them (found by the whole-cluster simulation: a follower's fsynced log gone).
    r.fs.fsyncDir(r.dir);
  }
  return { segments, offline: null, scanned };
}

/** Deletes segments that hold only offsets never fsynced, durably (one that came back would follow a hole again). */
function dropSegments(r: RecoveryInput, dropped: readonly number[], reason: string): void {
  for (const base of dropped) {
    invariant(base >= r.fsyncedOffset, 'recovery would delete a segment holding fsynced offsets', { base, fsyncedOffset: r.fsyncedOffset });
    for (const suffix of [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]) r.fs.rm(path.join(r.dir, segmentFileName(base, suffix)), { force: true });
  }
  r.fs.fsyncDir(r.dir);
  r.logger.warn({ dir: r.dir, segments: dropped, fsyncedOffset: r.fsyncedOffset, reason }, 'unflushed segments deleted');
}
