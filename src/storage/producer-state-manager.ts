import * as path from 'node:path';
import type { Logger } from '../common';
import {
  BATCH_HEADER_BYTES,
  batchBaseOffset,
  batchBaseSequence,
  batchIsControl,
  batchIsTransactional,
  batchLastOffsetDelta,
  batchProducerEpoch,
  batchProducerId,
  batchSize,
  readTxnMarker,
  incrementSequence,
} from '../record';
import { writeFileAtomicSync } from './checkpoint';
import type { FileSystem } from './file-system';
import { type ProducerEntry, ProducerStateTable } from './producer-state';

export const PRODUCER_SNAPSHOT_SUFFIX = '.snapshot';
const SNAPSHOT_NAME = /^(\d{20})\.snapshot$/;

export function producerSnapshotFileName(offset: number): string {
  return String(offset).padStart(20, '0') + PRODUCER_SNAPSHOT_SUFFIX;
}

/**
 * A partition's producer state plus its snapshot files (Kafka's ProducerStateManager): the pure
 * ProducerStateTable, and `<20-digit offset>.snapshot` files in the partition directory, each the
 * state after every batch below its offset. PartitionLog decides when to snapshot, load and
 * replay; this class owns the files and the header walk that replays batches into the table.
 */
export class ProducerStateManager {
  readonly table: ProducerStateTable;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly logger: Logger,
    maxProducers?: number,
  ) {
    this.table = new ProducerStateTable(maxProducers === undefined ? {} : { maxProducers });
  }

  /** Offsets of the snapshot files on disk, ascending. */
  snapshotOffsets(): number[] {
    const offsets: number[] = [];
    for (const name of this.fs.readdir(this.dir)) {
      const m = SNAPSHOT_NAME.exec(name);
      if (m) offsets.push(Number(m[1]));
    }
    return offsets.sort((a, b) => a - b);
  }

  /** Writes the current table as the snapshot at `offset`, atomically (temp file, fsync, rename, fsync dir). */
  takeSnapshot(offset: number): void {
    writeFileAtomicSync(this.fs, this.fileFor(offset), this.table.encodeSnapshot());
  }

  /**
   * Replaces the table with the latest valid snapshot at or below `maxOffset` and at or above
   * `minOffset`; snapshots outside that range and damaged ones are deleted (a damaged one with a
   * warning). Returns the loaded snapshot's offset, or null (the table is then empty) when none
   * is usable and the caller must replay from the start of the log.
   */
  loadLatest(minOffset: number, maxOffset: number): number | null {
    this.table.clear();
    const offsets = this.snapshotOffsets();
    const doomed = offsets.filter((o) => o < minOffset || o > maxOffset);
    for (const o of doomed) this.fs.rm(this.fileFor(o), { force: true });
    const usable = offsets.filter((o) => o >= minOffset && o <= maxOffset);
    let loaded: number | null = null;
    for (let i = usable.length - 1; i >= 0 && loaded === null; i--) {
      const offset = usable[i]!;
      const file = this.fileFor(offset);
      let reason: string;
      try {
        const decoded = ProducerStateTable.decodeSnapshot(this.fs.readFile(file), { maxProducers: this.table.maxProducers });
        if (decoded.ok) {
          this.table.replaceWith(decoded.table);
          loaded = offset;
          break;
        }
        reason = decoded.reason;
      } catch (err) {
        reason = `unreadable: ${(err as Error).message}`;
      }
      this.logger.warn({ file, reason }, 'producer snapshot skipped');
      this.fs.rm(file, { force: true });
      doomed.push(offset);
    }
    // Removed snapshots must stay removed: one that came back after a power cut could describe batches the log no longer has.
    if (doomed.length > 0) this.fs.fsyncDir(this.dir);
    return loaded;
  }

  /** Deletes the snapshots above `offset` (the log was truncated to end there). */
  deleteAbove(offset: number): void {
    this.deleteWhere((o) => o > offset);
  }

  /** Deletes the snapshots below `offset` (retention removed the segments before it). */
  deleteBelow(offset: number): void {
    this.deleteWhere((o) => o < offset);
  }

  /** Forgets every producer and deletes every snapshot (the log was reset). */
  clear(): void {
    this.table.clear();
    this.deleteWhere(() => true);
  }

  private deleteWhere(match: (offset: number) => boolean): void {
    const doomed = this.snapshotOffsets().filter(match);
    for (const o of doomed) this.fs.rm(this.fileFor(o), { force: true });
    if (doomed.length > 0) this.fs.fsyncDir(this.dir);
  }

  private fileFor(offset: number): string {
    return path.join(this.dir, producerSnapshotFileName(offset));
  }

  /**
   * Replays the headers of the whole batches in `buf` (as stored: offsets stamped) into the
   * table, stopping before `endOffset`: sequences, transactions opened by transactional batches
   * and ended by markers. Batches without a producer id, and control batches that are not
   * markers, are skipped. Returns the offset after the last batch replayed, or null when `buf`
   * held none.
   */
  replay(buf: Buffer, endOffset: number, nowMs: number): number | null {
    let next: number | null = null;
    for (let pos = 0; pos + BATCH_HEADER_BYTES <= buf.length; pos += batchSize(buf, pos)) {
      const base = batchBaseOffset(buf, pos);
      if (base >= endOffset) break;
      const last = base + batchLastOffsetDelta(buf, pos);
      next = last + 1;
      const producerId = batchProducerId(buf, pos);
      if (producerId < 0) continue;
      if (batchIsControl(buf, pos)) {
        const marker = readTxnMarker(buf, pos);
        if (marker !== null) this.table.completeTxn(marker, base, nowMs);
        continue;
      }
      const firstSeq = batchBaseSequence(buf, pos);
      // Kafka's lastSequence counts offset deltas, not records: a compacted batch keeps its range.
      this.table.update(producerId, batchProducerEpoch(buf, pos), firstSeq, incrementSequence(firstSeq, batchLastOffsetDelta(buf, pos)), base, last, nowMs, batchIsTransactional(buf, pos));
    }
    return next;
  }

  /** Forgets producers idle for `expirationMs` at `nowMs`; returns how many. */
  expire(nowMs: number, expirationMs: number): number {
    const removed = this.table.removeExpired(nowMs, expirationMs);
    if (removed > 0) this.logger.info({ removed, producers: this.table.size }, 'idle producers expired');
    return removed;
  }

  /**
   * Expires idle producers, then writes the snapshot at `offset`. A failed write costs only replay
   * time at the next open (recovery falls back to an older snapshot), so it is logged, not raised;
   * segmentBasesIn removes the temporary file it may leave.
   */
  snapshotAt(offset: number, nowMs: number, expirationMs: number): void {
    this.expire(nowMs, expirationMs);
    try {
      this.takeSnapshot(offset);
    } catch (err) {
      this.logger.error({ offset, err: (err as Error).message }, 'producer snapshot not written');
    }
  }

  /**
   * The state for a log holding [start, end): the latest valid snapshot in that range, then the
   * headers of the batches after it, read through `read(offset, end)` (whose errors pass through).
   */
  rebuild(start: number, end: number, read: (offset: number, end: number) => Buffer, nowMs: number): void {
    const snapshot = this.loadLatest(start, end);
    let offset = snapshot ?? start;
    const from = offset;
    while (offset < end) {
      const next = this.replay(read(offset, end), end, nowMs);
      if (next === null) break;
      offset = next;
    }
    this.logger.info({ snapshotOffset: snapshot, replayedFrom: from, logEndOffset: end, producers: this.table.size }, 'producer state loaded');
  }

  get(producerId: number): ProducerEntry | undefined {
    return this.table.get(producerId);
  }
}
