import * as path from 'node:path';
import { CairnError, deletesByRetention, ErrorCode, invariant, type LogConfig, type Logger } from '../common';
import { encodeTxnMarker, stampBatch, stampLogAppendTime, type TxnMarker, validateBatches, type ValidatedBatch } from '../record';
import type { FileSystem } from './file-system';
import { FsyncedOffsetFile } from './fsynced-offset';
import { GroupCommit } from './group-commit';
import { LeaderEpochCache } from './leader-epoch-cache';
import { recoverSegments, segmentBasesIn } from './log-recovery';
import { CorruptSegmentError, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, MAX_BATCH_BYTES_ON_DISK, TIME_INDEX_SUFFIX } from './log-segment';
import { LogSegments } from './log-segments';
import { idempotentBatchOf, type ProducerEntry, type VerificationGuard } from './producer-state';
import { ProducerStateManager } from './producer-state-manager';
import { expiredByTime, retentionPlan } from './retention';

export type FlushPolicy = { kind: 'fsync' } | { kind: 'interval'; intervalMs: number };

export interface LogOpenOptions {
  /** The disk the log lives on: `nodeFileSystem` in production, a SimDisk in the simulation. */
  fs: FileSystem;
  dir: string;
  topic: string;
  partition: number;
  config: LogConfig;
  /**
   * Offset below which everything was fsynced before the last shutdown or crash (a checkpoint).
   * Recovery prefers the partition's own fsynced-offset file, which is more recent; this is the
   * fallback when that file is missing or damaged.
   */
  recoveryPoint: number;
  logStartOffset: number;
  /** The last shutdown was not clean: check every batch of every segment, not only the unflushed tail. */
  verifyAll?: boolean;
  flushPolicy: FlushPolicy;
  logger: Logger;
  nowMs: number;
  /**
   * Called after a truncation or reset, once the cut is durable: the owner writes the recovery
   * points again (as Kafka's LogManager checkpoints after a truncation), so the fallback recovery
   * uses when the fsynced-offset file is unreadable never describes the log before the cut.
   */
  onTruncated?: () => void;
}

export interface LeaderAppendOptions {
  /** A verification with the transaction coordinator, for a transactional batch that opens its producer's transaction here. */
  guard?: VerificationGuard | null;
  /** 'coordinator': written by a coordinator of this broker, not a client (no sequence; Kafka's AppendOrigin.COORDINATOR). */
  origin?: 'client' | 'coordinator';
}

export interface AppendInfo {
  firstOffset: number;
  lastOffset: number;
  /** The broker time stamped into the batches for LogAppendTime topics, else -1. */
  logAppendTimeMs: number;
  recordCount: number;
  /**
   * The batch repeats one this idempotent producer already wrote (a retry): nothing was appended,
   * and firstOffset/lastOffset are the original's. The caller answers once those are committed.
   */
  duplicate?: boolean;
}

/** How much log one read of the producer-state replay takes at a time. */
const PRODUCER_REPLAY_CHUNK_BYTES = 1 << 20;

/** Bound on relative offsets within a segment: indexes store them as int32. */
const MAX_RELATIVE_OFFSET = 2 ** 31 - 1;

const isDiskFull = (err: unknown) => ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException).code ?? '');

/**
 * One partition's log (Kafka's UnifiedLog, local part): its segments (LogSegments), the log
 * start and end offsets, durable (fsynced) offset, high watermark, leader-epoch cache and
 * producer state. All mutations run on the event loop; only fsync leaves it (group commit).
 */
export class PartitionLog {
  readonly dir: string;
  readonly topic: string;
  readonly partition: number;
  config: LogConfig;
  private segments = new LogSegments([]);
  logStartOffset = 0;
  highWatermark = 0;
  readonly epochs: LeaderEpochCache;
  private readonly commit: GroupCommit;
  private readonly fsynced: FsyncedOffsetFile;
  private readonly logger: Logger;
  private readonly fs: FileSystem;
  /**
   * Directories with entries created since they were last fsynced (a rolled segment; the
   * partition's own directory in the data directory): the next group commit fsyncs them before it
   * releases anyone, or a power cut could lose a whole file, acknowledged records and all.
   */
  private readonly unsyncedDirs = new Set<string>();
  private offlineReason: string | null = null;
  private closed = false;
  /** Idempotent producers' sequences, with their `<offset>.snapshot` files (KIP-98). */
  private readonly producers: ProducerStateManager;
  /**
   * The latest wall time this log was given (open, appends, maintenance): the append time
   * recorded for batches replayed from the log, whose real append time is not stored.
   */
  private wallClockMs: number;

  private constructor(o: LogOpenOptions) {
    this.dir = o.dir;
    this.topic = o.topic;
    this.partition = o.partition;
    this.config = o.config;
    this.fs = o.fs;
    this.logger = o.logger.child({ topic: o.topic, partition: o.partition });
    this.epochs = LeaderEpochCache.load(o.fs, path.join(o.dir, 'leader-epoch-checkpoint'));
    const opened = FsyncedOffsetFile.open(o.fs, o.dir);
    this.fsynced = opened.file;
    if (opened.created) this.fs.fsyncDir(o.dir);
    this.commit = new GroupCommit({ sync: () => this.syncUnflushed(), endOffset: () => this.logEndOffset, synced: (offset) => this.fsynced.write(offset) }, 0, (err) =>
      this.goOffline(`fsync failed: ${err.message}`),
    );
    this.flushPolicy = o.flushPolicy;
    this.onTruncated = o.onTruncated;
    this.producers = new ProducerStateManager(o.fs, o.dir, this.logger);
    this.wallClockMs = o.nowMs;
  }

  readonly flushPolicy: FlushPolicy;
  private readonly onTruncated: (() => void) | undefined;

  /** Opens (creating if needed) and recovers the log in `dir`. A corrupt log opens offline, not at all silently. */
  static open(o: LogOpenOptions): PartitionLog {
    const created = !o.fs.exists(o.dir);
    if (created) o.fs.mkdirp(o.dir);
    const log = new PartitionLog(o);
    // The partition's own entry in the data directory, made durable by the first group commit
    // (not here: creating a topic of thousands of partitions would pay one fsync each).
    if (created) log.unsyncedDirs.add(path.dirname(o.dir));
    log.load(o);
    return log;
  }

  private load(o: LogOpenOptions): void {
    const bases = segmentBasesIn(this.fs, this.dir);
    if (bases.length === 0) {
      const start = Math.max(0, o.logStartOffset);
      this.segments.push(LogSegment.create(this.fs, this.dir, start, this.config.indexIntervalBytes));
      this.fs.fsyncDir(this.dir);
      this.logStartOffset = start;
      this.commit.durableOffset = start;
      this.fsynced.writeSync(start);
      // Snapshots without their segments (a directory emptied by hand) describe nothing here.
      this.producers.clear();
      return;
    }
    const recorded = this.fsynced.read();
    if (recorded === null) this.logger.warn({ file: this.fsynced.file, recoveryPoint: o.recoveryPoint }, 'no fsynced offset recorded; using the recovery point');
    const recovered = recoverSegments({
      fs: this.fs,
      dir: this.dir,
      bases,
      indexIntervalBytes: this.config.indexIntervalBytes,
      fsyncedOffset: recorded ?? o.recoveryPoint,
      verifyAll: o.verifyAll === true,
      logger: this.logger,
    });
    this.segments = new LogSegments(recovered.segments);
    if (recovered.offline !== null) {
      this.goOffline(recovered.offline);
      return;
    }
    this.logStartOffset = Math.max(o.logStartOffset, this.segments.oldest.baseOffset);
    this.commit.durableOffset = this.logEndOffset;
    this.fsynced.writeSync(this.logEndOffset);
    this.epochs.truncateFromEnd(this.logEndOffset);
    this.rebuildProducerState();
    if (this.offlineReason !== null) return;
    this.logger.info({ logStartOffset: this.logStartOffset, logEndOffset: this.logEndOffset, segments: this.segments.count, segmentsScanned: recovered.scanned }, 'log loaded');
  }

  // ---- state ----

  get logEndOffset(): number {
    return this.segments.endOffset;
  }

  /** Offset below which every record is fsynced (under the interval policy: written). */
  get durableEndOffset(): number {
    return this.flushPolicy.kind === 'fsync' ? this.commit.durableOffset : this.logEndOffset;
  }

  /** Offset below which every record is fsynced, whatever the flush policy. */
  get fsyncedEndOffset(): number {
    return this.commit.durableOffset;
  }

  get activeSegment(): LogSegment {
    return this.segments.active;
  }

  get sizeInBytes(): number {
    return this.segments.sizeInBytes;
  }

  get segmentCount(): number {
    return this.segments.count;
  }

  get isOffline(): boolean {
    return this.offlineReason !== null;
  }

  get offlineMessage(): string | null {
    return this.offlineReason;
  }

  segmentBaseOffsets(): number[] {
    return this.segments.baseOffsets();
  }

  /** For the cleaner: the segments, oldest first. */
  allSegments(): readonly LogSegment[] {
    return this.segments.all();
  }

  private checkUsable(): void {
    if (this.offlineReason !== null) throw new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, `${this.topic}-${this.partition} is offline: ${this.offlineReason}`);
    if (this.closed) throw new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, `${this.topic}-${this.partition} is closed`);
  }

  /** Takes the log offline: every later request gets KAFKA_STORAGE_ERROR. Loud, once. */
  goOffline(reason: string): void {
    if (this.offlineReason !== null) return;
    this.offlineReason = reason;
    this.logger.error({ reason }, 'log offline');
    this.commit.failAll(new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, reason));
  }

  // ---- append ----

  private maybeRoll(incomingBytes: number, lastOffset: number, nowMs: number): void {
    const seg = this.activeSegment;
    if (seg.size === 0) return;
    const full = seg.size + incomingBytes > this.config.segmentBytes;
    const old = seg.rollStartMs !== null && nowMs - seg.rollStartMs >= this.config.segmentMs;
    const overflow = lastOffset - seg.baseOffset > MAX_RELATIVE_OFFSET;
    if (full || old || overflow) this.roll();
  }

  /** Starts a new active segment at the log end offset. */
  roll(): void {
    this.checkUsable();
    const seg = this.activeSegment;
    if (seg.size === 0) return;
    seg.onBecomeInactive();
    this.segments.push(LogSegment.create(this.fs, this.dir, this.logEndOffset, this.config.indexIntervalBytes));
    this.unsyncedDirs.add(this.dir);
    this.logger.info({ baseOffset: this.logEndOffset }, 'segment rolled');
    // Recovery then replays at most the active segment's batches (Kafka snapshots at every roll too).
    this.snapshotProducers();
  }

  private write(buf: Buffer, batches: readonly { pos: number; size: number; lastOffset: number; maxTimestamp: number }[], nowMs: number): void {
    const first = batches[0]!;
    const last = batches[batches.length - 1]!;
    try {
      this.activeSegment.append(buf, first.pos, last.pos + last.size, batches, nowMs);
    } catch (err) {
      if ((err as { truncateFailed?: unknown }).truncateFailed !== undefined || !isDiskFull(err)) {
        this.goOffline(`write failed: ${(err as Error).message}`);
        throw new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, `write to ${this.topic}-${this.partition} failed: ${(err as Error).message}`);
      }
      // Disk full: the partial write was cut off, the log is intact and takes writes again once space returns.
      this.logger.error({ err: (err as Error).message }, 'append failed: disk full');
      throw new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, `disk full writing ${this.topic}-${this.partition}; nothing was appended`);
    }
  }

  /**
   * Appends client batches that passed validation: stamps base offsets and the leader epoch in
   * place (and the broker time for LogAppendTime topics), then writes them as they are. A
   * transactional batch that opens its producer's transaction here needs the `guard` of a
   * verification with the coordinator (see startTxnVerification).
   */
  appendAsLeader(buf: Buffer, validated: readonly ValidatedBatch[], leaderEpoch: number, nowMs: number, opts: LeaderAppendOptions = {}): AppendInfo {
    this.checkUsable();
    invariant(leaderEpoch >= this.epochs.latestEpoch, 'append with an epoch older than the log has', { leaderEpoch, latest: this.epochs.latestEpoch });
    this.wallClockMs = Math.max(this.wallClockMs, nowMs);
    // Sequence rules first: a refusal or a duplicate writes nothing.
    const producerBatch = idempotentBatchOf(validated);
    if (producerBatch !== null) {
      const { producerId, producerEpoch } = producerBatch;
      if (opts.origin === 'coordinator') {
        // A coordinator's own transactional write (offsets of a transaction) carries no sequence: only its epoch is checked.
        this.producers.table.checkEpoch(producerId, producerEpoch);
      } else {
        const verdict = this.producers.table.check(producerId, producerEpoch, producerBatch.firstSeq, producerBatch.lastSeq);
        if (verdict.kind === 'duplicate') {
          this.logger.debug({ producerId, firstSeq: producerBatch.firstSeq, firstOffset: verdict.firstOffset }, 'duplicate batch');
          return { firstOffset: verdict.firstOffset, lastOffset: verdict.lastOffset, logAppendTimeMs: -1, recordCount: validated[0]!.recordCount, duplicate: true };
        }
      }
      this.producers.table.checkTransactional(producerId, producerEpoch, producerBatch.transactional, opts.guard ?? null);
    }
    // The caller waits for this write's fsync: refuse it before writing when too many already wait.
    if (this.flushPolicy.kind === 'fsync') this.commit.admit();
    let next = this.logEndOffset;
    const firstOffset = next;
    let records = 0;
    let bytes = 0;
    for (const b of validated) bytes += b.size;
    this.maybeRoll(bytes, next + validated.reduce((n, b) => n + b.lastOffsetDelta + 1, 0), nowMs);
    const logAppendTime = this.config.messageTimestampType === 'LogAppendTime';
    const placed = validated.map((b) => {
      stampBatch(buf, b.pos, next, leaderEpoch);
      if (logAppendTime) stampLogAppendTime(buf, b.pos, b.size, nowMs);
      const lastOffset = next + b.lastOffsetDelta;
      next = lastOffset + 1;
      records += b.recordCount;
      return { pos: b.pos, size: b.size, lastOffset, maxTimestamp: logAppendTime ? nowMs : b.maxTimestamp };
    });
    this.epochs.assign(leaderEpoch, firstOffset);
    this.write(buf, placed, nowMs);
    if (producerBatch !== null) {
      const p = producerBatch;
      this.producers.table.update(p.producerId, p.producerEpoch, p.firstSeq, p.lastSeq, firstOffset, next - 1, nowMs, p.transactional);
    }
    return { firstOffset, lastOffset: next - 1, logAppendTimeMs: logAppendTime ? nowMs : -1, recordCount: records };
  }

  /**
   * Writes a transaction marker (on the coordinator's word): ends the producer's transaction
   * here. Refused, with nothing written, when it comes from an older producer epoch or an
   * older coordinator than the partition already saw (ProducerStateTable.checkMarker).
   */
  appendMarkerAsLeader(marker: TxnMarker, leaderEpoch: number, nowMs: number): AppendInfo {
    this.checkUsable();
    invariant(leaderEpoch >= this.epochs.latestEpoch, 'marker with an epoch older than the log has', { leaderEpoch, latest: this.epochs.latestEpoch });
    this.wallClockMs = Math.max(this.wallClockMs, nowMs);
    this.producers.table.checkMarker(marker);
    if (this.flushPolicy.kind === 'fsync') this.commit.admit();
    const buf = encodeTxnMarker(marker, nowMs);
    const offset = this.logEndOffset;
    this.maybeRoll(buf.length, offset, nowMs);
    stampBatch(buf, 0, offset, leaderEpoch);
    this.epochs.assign(leaderEpoch, offset);
    this.write(buf, [{ pos: 0, size: buf.length, lastOffset: offset, maxTimestamp: nowMs }], nowMs);
    this.producers.table.completeTxn(marker, offset, nowMs);
    this.logger.debug({ producerId: marker.producerId, producerEpoch: marker.producerEpoch, commit: marker.commit, offset }, 'transaction marker written');
    return { firstOffset: offset, lastOffset: offset, logAppendTimeMs: -1, recordCount: 1 };
  }

  /**
   * Appends batches copied from the leader, offsets and epochs already stamped. They must start
   * exactly at the log end offset; the caller truncates first when logs diverge.
   */
  appendAsFollower(buf: Buffer, nowMs: number): AppendInfo | null {
    this.checkUsable();
    if (buf.length === 0) return null;
    const v = validateBatches(buf, { maxBatchBytes: MAX_BATCH_BYTES_ON_DISK, allowControl: true, allowOffsetGaps: true, shallow: true });
    if (!v.ok) throw new CairnError(v.code, `replicated data for ${this.topic}-${this.partition}: ${v.message}`);
    let expected = this.logEndOffset;
    this.wallClockMs = Math.max(this.wallClockMs, nowMs);
    const placed = v.batches.map((b) => {
      const base = buf.readInt32BE(b.pos) * 4294967296 + buf.readUInt32BE(b.pos + 4);
      if (base < expected) throw new CairnError(ErrorCode.CORRUPT_MESSAGE, `replicated batch at offset ${base} is below the log end ${expected}`);
      const epoch = buf.readInt32BE(b.pos + 12);
      this.epochs.assign(epoch, base);
      expected = base + b.lastOffsetDelta + 1;
      return { pos: b.pos, size: b.size, lastOffset: expected - 1, maxTimestamp: b.maxTimestamp };
    });
    const firstOffset = this.logEndOffset;
    this.maybeRoll(buf.length, expected - 1, nowMs);
    // A batch that starts past the end (after a compacted gap on the leader) may not fit the active segment's base.
    this.write(buf, placed, nowMs);
    // The leader already judged these batches: record them without checking (Kafka's follower path), as recovery replays them.
    this.producers.replay(buf, expected, nowMs);
    return { firstOffset, lastOffset: expected - 1, logAppendTimeMs: -1, recordCount: v.recordCount };
  }

  // ---- durability ----

  /** Resolves once every offset below `offset` is durable under the flush policy. */
  waitDurable(offset: number): Promise<void> {
    if (this.flushPolicy.kind === 'interval') return Promise.resolve();
    this.checkUsable();
    return this.commit.waitFor(offset);
  }

  /** Fsyncs everything written so far (interval flushing, shutdown). */
  flush(): Promise<void> {
    if (this.offlineReason !== null || this.closed) return Promise.resolve();
    return this.commit.flushNow();
  }

  get pendingFlushWaiters(): number {
    return this.commit.pending;
  }

  private async syncUnflushed(): Promise<void> {
    for (const dir of this.unsyncedDirs) {
      this.fs.fsyncDir(dir);
      this.unsyncedDirs.delete(dir);
    }
    await Promise.all(this.segments.unflushed(this.commit.durableOffset).map((s) => s.syncAsync()));
  }

  // ---- read ----

  /**
   * Whole batches from the one holding `startOffset`, at most `maxBytes` (at least one batch when
   * `minOneBatch`), nothing at or past `maxOffset` (the high watermark for consumers).
   */
  read(startOffset: number, maxBytes: number, maxOffset: number, minOneBatch: boolean): Buffer {
    this.checkUsable();
    if (startOffset < this.logStartOffset || startOffset > this.logEndOffset) {
      throw new CairnError(ErrorCode.OFFSET_OUT_OF_RANGE, `offset ${startOffset} is outside ${this.logStartOffset}..${this.logEndOffset} of ${this.topic}-${this.partition}`);
    }
    if (startOffset >= maxOffset) return Buffer.alloc(0);
    return this.offlineOnCorruption(() => this.segments.read(startOffset, maxBytes, maxOffset, minOneBatch));
  }

  /**
   * Runs a read of segment files: damage found there (a CRC failure, a batch length that does not
   * fit) takes the log offline and surfaces as KAFKA_STORAGE_ERROR, never as a short or empty answer.
   */
  private offlineOnCorruption<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof CorruptSegmentError) {
        this.goOffline(err.message);
        throw new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, `${this.topic}-${this.partition} is offline: ${err.message}`);
      }
      throw err;
    }
  }

  /** The earliest offset whose record timestamp is ≥ `timestamp`, or null if none (ListOffsets by time). */
  offsetForTimestamp(timestamp: number, maxOffset: number): { offset: number; timestamp: number } | null {
    this.checkUsable();
    return this.offlineOnCorruption(() => this.segments.offsetForTimestamp(timestamp, maxOffset, this.logStartOffset));
  }

  // ---- truncation and retention ----

  /** Removes every batch at or above `offset` (follower truncation to the leader's epoch end). */
  truncateTo(offset: number): void {
    this.checkUsable();
    if (offset >= this.logEndOffset) {
      // Nothing to cut, but an epoch that starts here holds no record of this log (KIP-101).
      this.epochs.truncateFromEnd(this.logEndOffset);
      return;
    }
    const target = Math.max(offset, this.logStartOffset);
    // Lower the recorded fsynced offset first, durably, to at most what the cut leaves: recovery
    // after a crash mid-cut must not take the removed records for fsynced data that went missing.
    this.fsynced.writeSync(Math.min(this.commit.durableOffset, this.segments.floor(target).baseOffset));
    const removedSegments = this.segments.popFrom(target);
    for (const seg of removedSegments) seg.deleteFiles();
    // Removed segments must stay removed: one that came back after a power cut would serve the cut records.
    if (removedSegments.length > 0) this.fs.fsyncDir(this.dir);
    const removed = this.offlineOnCorruption(() => this.activeSegment.truncateTo(target));
    // Make the cut durable now: truncated records that came back after a crash would carry epochs the cache no longer knows.
    this.activeSegment.syncSync();
    this.fsynced.writeSync(Math.min(this.commit.durableOffset, this.logEndOffset));
    this.commit.truncated(this.logEndOffset, new CairnError(ErrorCode.NOT_LEADER_OR_FOLLOWER, 'the log was truncated under a pending write'));
    this.epochs.truncateFromEnd(this.logEndOffset);
    this.highWatermark = Math.min(this.highWatermark, this.logEndOffset);
    // The cut batches may have been a producer's latest: rebuild from what the log still holds.
    this.rebuildProducerState();
    this.logger.info({ truncateTo: offset, logEndOffset: this.logEndOffset, bytesRemoved: removed }, 'log truncated');
    this.onTruncated?.();
  }

  /** Deletes everything and starts empty at `offset` (a follower far behind a leader's log start). */
  truncateFullyAndStartAt(offset: number): void {
    this.checkUsable();
    // Nothing is known fsynced while the old segments go (a crash in between leaves any subset).
    this.fsynced.writeSync(0);
    for (const s of this.segments.all()) s.deleteFiles();
    this.segments.resetTo(LogSegment.create(this.fs, this.dir, offset, this.config.indexIntervalBytes));
    this.fs.fsyncDir(this.dir);
    this.logStartOffset = offset;
    this.highWatermark = offset;
    this.commit.truncated(offset, new CairnError(ErrorCode.NOT_LEADER_OR_FOLLOWER, 'the log was reset under a pending write'));
    this.commit.durableOffset = offset;
    this.fsynced.writeSync(offset);
    this.epochs.clear();
    this.producers.clear();
    this.logger.info({ startOffset: offset }, 'log reset');
    this.onTruncated?.();
  }

  updateHighWatermark(offset: number): boolean {
    const hw = Math.min(offset, this.logEndOffset);
    if (hw <= this.highWatermark) return false;
    this.highWatermark = hw;
    return true;
  }

  /** Sets the high watermark without the monotonic guard (a new follower adopting the leader's). */
  resetHighWatermark(offset: number): void {
    this.highWatermark = Math.min(Math.max(offset, this.logStartOffset), this.logEndOffset);
  }

  /**
   * Applies retention (time, size) to inactive segments, never deleting data at or above the
   * high watermark. Returns the number of segments deleted.
   */
  applyRetention(nowMs: number): number {
    if (this.offlineReason !== null || this.closed || !deletesByRetention(this.config)) return 0;
    const { retentionMs, retentionBytes } = this.config;
    // Kafka rolls an expired active segment so that it, too, can go.
    const active = this.activeSegment;
    if (active.size > 0 && expiredByTime(active, retentionMs, nowMs) && active.nextOffset <= this.highWatermark) this.roll();
    const plan = retentionPlan(this.segments.all(), { retentionMs, retentionBytes, highWatermark: this.highWatermark, logStartOffset: this.logStartOffset, nowMs });
    for (const reason of plan) {
      const oldest = this.segments.shiftOldest();
      oldest.deleteFiles();
      this.logger.info({ baseOffset: oldest.baseOffset, reason }, 'segment deleted');
    }
    if (plan.length > 0) {
      const base = this.segments.oldest.baseOffset;
      this.logStartOffset = Math.max(this.logStartOffset, base);
      this.epochs.truncateFromStart(this.logStartOffset);
      // The snapshot at the first remaining segment's base stays: recovery starts there.
      this.producers.deleteBelow(base);
      this.producers.table.removeAbortedBelow(this.logStartOffset);
    }
    return plan.length;
  }

  /** Replaces segment `old` with a compacted copy (see LogCleaner); the caller wrote `cleanedFile` and synced it. */
  replaceSegment(old: LogSegment, cleanedFile: string): LogSegment {
    invariant(this.segments.all().includes(old) && old !== this.activeSegment, 'replaceSegment on an unknown or active segment', { base: old.baseOffset });
    // The cleaned copy may end before the next segment's base (its last batch compacted away).
    // Recovery accepts such a gap only below the recorded fsynced offset, so make that durable first.
    this.fsynced.writeSync(this.commit.durableOffset);
    // Remove the indexes first: after the rename, a stale index must be rebuilt, never trusted.
    old.close();
    this.fs.rm(path.join(this.dir, old.logFile.replace(LOG_SUFFIX, INDEX_SUFFIX)), { force: true });
    this.fs.rm(path.join(this.dir, old.logFile.replace(LOG_SUFFIX, TIME_INDEX_SUFFIX)), { force: true });
    this.fs.rename(cleanedFile, old.logFile);
    const { segment } = LogSegment.open(this.fs, this.dir, old.baseOffset, this.config.indexIntervalBytes, true);
    segment.onBecomeInactive();
    segment.syncSync();
    this.segments.replace(old, segment);
    return segment;
  }

  // ---- producer state (KIP-98) and transactions ----

  /** The first offset a read_committed consumer may not read yet (≤ the high watermark; see ProducerStateTable.lastStableOffset). */
  get lastStableOffset(): number {
    return this.producers.table.lastStableOffset(this.highWatermark);
  }

  /** The aborted transactions a read_committed read of [fetchOffset, upperBound) needs. */
  abortedTransactions(fetchOffset: number, upperBound: number): { producerId: number; firstOffset: number }[] {
    return this.producers.table.abortedIn(fetchOffset, upperBound);
  }

  /** Every producer this partition knows, least recently written first. */
  producerEntries(): ProducerEntry[] {
    return this.producers.table.all();
  }

  /** Open transactions here, oldest first (what holds the last stable offset back). */
  openTransactions(): { producerId: number; firstOffset: number; startTimestampMs: number }[] {
    return this.producers.table.openTransactions();
  }

  /** Whether a transactional write of `producerId` at `epoch` must first be verified with the coordinator. */
  needsTxnVerification(producerId: number, epoch: number): boolean {
    return this.producers.table.needsVerification(producerId, epoch);
  }

  /** Starts a verification: append with the guard once the coordinator confirmed (a marker in between voids it). */
  startTxnVerification(producerId: number, epoch: number): VerificationGuard {
    return this.producers.table.startVerification(producerId, epoch);
  }

  /** What this partition knows of an idempotent producer (its epoch and latest batches), or undefined. */
  producerState(producerId: number): ProducerEntry | undefined {
    return this.producers.get(producerId);
  }

  /** Forgets producers idle for producer.id.expiration.ms at `nowMs` (with the periodic retention pass). */
  expireProducers(nowMs: number): number {
    if (this.offlineReason !== null || this.closed) return 0;
    this.wallClockMs = Math.max(this.wallClockMs, nowMs);
    return this.producers.expire(this.wallClockMs, this.config.producerIdExpirationMs);
  }

  /** The producer snapshot at the log end offset, after expiring idle producers (a failed write is logged, not raised). */
  private snapshotProducers(): void {
    this.producers.snapshotAt(this.logEndOffset, this.wallClockMs, this.config.producerIdExpirationMs);
  }

  /** Rebuilds the producer state for the current log (open, truncation); damage found while replaying takes the log offline, as any read would. */
  private rebuildProducerState(): void {
    try {
      this.producers.rebuild(this.segments.oldest.baseOffset, this.logEndOffset, (offset, end) => this.segments.read(offset, PRODUCER_REPLAY_CHUNK_BYTES, end, true), this.wallClockMs);
    } catch (err) {
      if (!(err instanceof CorruptSegmentError)) throw err;
      this.producers.table.clear();
      this.goOffline(err.message);
    }
  }

  // ---- lifecycle ----

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.offlineReason === null) {
      try {
        await this.commit.flushNow();
      } catch {
        // Already reported by the flush path.
      }
    }
    this.closed = true;
    if (this.offlineReason === null) {
      try {
        this.fsynced.writeSync(this.commit.durableOffset);
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'fsynced offset not recorded at close');
      }
      // A clean close leaves a snapshot at the log end: the next open replays nothing.
      this.snapshotProducers();
    }
    this.fsynced.close();
    this.segments.closeAll();
  }

  /** Makes the recorded fsynced offset durable in the background (with the periodic checkpoints). */
  checkpointFsyncedOffset(): void {
    if (this.offlineReason === null && !this.closed) this.fsynced.syncInBackground();
  }

  /** Closes and removes the partition directory (topic deletion). */
  async delete(): Promise<void> {
    this.closed = true;
    this.commit.failAll(new CairnError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'partition deleted'));
    this.fsynced.close();
    this.segments.closeAll();
    this.fs.rm(this.dir, { recursive: true, force: true });
  }
}
