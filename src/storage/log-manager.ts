import * as path from 'node:path';
import { CairnError, ErrorCode, type LogConfig, type Logger, type TimerHandle, type Timers, tpKey } from '../common';
import { systemTimers } from '../common/io';
import { OffsetCheckpointFile, writeFileAtomicSync } from './checkpoint';
import type { FileSystem } from './file-system';
import { LogCleaner } from './log-cleaner';
import { CorruptSegmentError } from './log-segment';
import { type FlushPolicy, PartitionLog } from './partition-log';

export interface LogManagerOptions {
  /** The disk: `nodeFileSystem` in production (wrapped by the chaos faults), a SimDisk in the simulation. */
  fs: FileSystem;
  dataDir: string;
  flushPolicy: FlushPolicy;
  logger: Logger;
  /** Wall-clock time (segment roll times, time-based retention). */
  nowMs: () => number;
  /** How often retention runs. */
  retentionCheckIntervalMs?: number;
  /** How often recovery points, log start offsets and high watermarks are checkpointed. */
  checkpointIntervalMs?: number;
  cleanerBackoffMs?: number;
  /** Runs the background work (retention, checkpoints, interval flushes); `systemTimers` when absent. */
  timers?: Timers;
  /** Sees every log as it opens, before it takes a write: the whole-cluster simulation's seeded bugs break logs here (test/sim/cluster/bugs.ts). */
  onLogOpened?: (log: PartitionLog) => void;
}

const RECOVERY_POINTS = 'recovery-point-offset-checkpoint';
const LOG_START_OFFSETS = 'log-start-offset-checkpoint';
const HIGH_WATERMARKS = 'replication-offset-checkpoint';
const PARTITION_METADATA = 'partition.metadata';
/** Written by a clean close, removed at load: its absence means a crash (kill -9, power loss). */
const CLEAN_SHUTDOWN = '.clean-shutdown';

/** Parses `topic-partition` directory names (the topic may itself contain dashes). */
export function parsePartitionDir(name: string): { topic: string; partition: number } | null {
  const m = /^(.+)-(\d+)$/.exec(name);
  return m ? { topic: m[1]!, partition: Number(m[2]) } : null;
}

/**
 * All partition logs in one data directory (Kafka's LogManager): loads and recovers them at
 * start, creates and deletes them, and runs the background work — retention, compaction,
 * checkpoints and interval flushing. Holds a lock file so two processes never share a directory.
 */
export class LogManager {
  private readonly logs = new Map<string, PartitionLog>();
  private readonly timers: TimerHandle[] = [];
  private readonly fs: FileSystem;
  private readonly cleaner: LogCleaner;
  private readonly lockFile: string;
  private closed = false;
  /** The periodic checkpoint being written, if any (checkpointInBackground). */
  private checkpointRunning: Promise<void> | null = null;
  /** Checkpointed offsets read at load, used when a partition's log is first opened. */
  private recoveryPoints = new Map<string, number>();
  private logStartOffsets = new Map<string, number>();
  private highWatermarks = new Map<string, number>();
  /**
   * After a crash every segment is CRC-checked when its log opens, not only the unflushed tail:
   * a replica with damage at rest (bit rot, a truncated file) is then taken offline and rebuilt
   * from its peers before it can lead (reliability.md scenario 11; found by the chaos suite).
   */
  private verifyAll = false;

  constructor(private readonly o: LogManagerOptions) {
    this.fs = o.fs;
    this.cleaner = new LogCleaner(o.logger, o.fs);
    this.lockFile = path.join(o.dataDir, '.lock');
  }

  get dataDir(): string {
    return this.o.dataDir;
  }

  /**
   * Takes the directory lock and reads the checkpoints. Partition logs open lazily, when the
   * metadata says this broker hosts them (getOrCreate); `configFor` opens those it already knows.
   */
  load(configFor: (topic: string) => LogConfig | null = () => null): void {
    if (!this.fs.exists(this.o.dataDir)) {
      this.fs.mkdirp(this.o.dataDir);
      this.fs.fsyncDir(path.dirname(this.o.dataDir));
    }
    this.lock();
    const marker = path.join(this.o.dataDir, CLEAN_SHUTDOWN);
    const hasData = this.fs.readdir(this.o.dataDir).some((n) => parsePartitionDir(n) !== null);
    this.verifyAll = hasData && !this.fs.exists(marker);
    if (this.fs.exists(marker)) {
      this.fs.rm(marker);
      // Durably gone before anything is written: a marker that came back after a later power cut
      // would make that crash look like a clean shutdown, and skip the full verification.
      this.fs.fsyncDir(this.o.dataDir);
    }
    if (this.verifyAll) {
      this.o.logger.warn({ dataDir: this.o.dataDir }, 'unclean shutdown: verifying every segment as logs open');
      // The partition directories' own entries, likewise (each log fsyncs its directory as it opens).
      this.fs.fsyncDir(this.o.dataDir);
    }
    this.recoveryPoints = this.checkpointFile(RECOVERY_POINTS).read();
    this.logStartOffsets = this.checkpointFile(LOG_START_OFFSETS).read();
    this.highWatermarks = this.checkpointFile(HIGH_WATERMARKS).read();
    for (const name of this.fs.readdir(this.o.dataDir)) {
      const tp = parsePartitionDir(name);
      if (!tp || !this.fs.stat(path.join(this.o.dataDir, name)).isDirectory) continue;
      const config = configFor(tp.topic);
      if (config !== null) this.logs.set(name, this.openLog(tp.topic, tp.partition, config));
    }
  }

  private openLog(topic: string, partition: number, config: LogConfig): PartitionLog {
    const key = tpKey(topic, partition);
    const log = PartitionLog.open({
      fs: this.fs,
      dir: path.join(this.o.dataDir, key),
      topic,
      partition,
      config,
      recoveryPoint: this.recoveryPoints.get(key) ?? 0,
      logStartOffset: this.logStartOffsets.get(key) ?? 0,
      flushPolicy: this.o.flushPolicy,
      logger: this.o.logger,
      nowMs: this.o.nowMs(),
      verifyAll: this.verifyAll,
      onTruncated: () => this.checkpointAfterTruncation(),
    });
    log.resetHighWatermark(this.highWatermarks.get(key) ?? 0);
    this.o.onLogOpened?.(log);
    return log;
  }

  private lock(): void {
    try {
      this.fs.writeFile(this.lockFile, String(process.pid), true);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(this.fs.readFile(this.lockFile).toString('utf8'));
    let alive = false;
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid) {
      try {
        process.kill(holder, 0);
        alive = true;
      } catch {
        alive = false;
      }
    }
    if (alive) throw new Error(`data directory ${this.o.dataDir} is in use by process ${holder}`);
    this.fs.writeFile(this.lockFile, String(process.pid));
  }

  /**
   * Directories on disk for partitions the metadata no longer assigns here (deleted while this
   * node was down). Only directories this manager created count — they hold `partition.metadata` —
   * so nothing else in the data directory (the metadata log, an operator's files) is ever touched.
   */
  strayPartitionDirs(isKnown: (topic: string, partition: number) => boolean): string[] {
    if (!this.fs.exists(this.o.dataDir)) return [];
    return this.fs
      .readdir(this.o.dataDir)
      .filter((name) => {
        const tp = parsePartitionDir(name);
        if (tp === null || this.logs.has(name)) return false;
        return this.fs.exists(path.join(this.o.dataDir, name, PARTITION_METADATA)) && !isKnown(tp.topic, tp.partition);
      })
      .map((name) => path.join(this.o.dataDir, name));
  }

  get(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(tpKey(topic, partition));
  }

  all(): PartitionLog[] {
    return [...this.logs.values()];
  }

  /**
   * The log for a partition, created if missing. `topicId` guards against a recreated topic
   * reusing the data of a deleted one with the same name.
   */
  getOrCreate(topic: string, partition: number, config: LogConfig, topicId: string): PartitionLog {
    if (this.closed) throw new CairnError(ErrorCode.SHUTTING_DOWN, 'log manager is closed');
    const key = tpKey(topic, partition);
    const dir = path.join(this.o.dataDir, key);
    const metaFile = path.join(dir, PARTITION_METADATA);
    const existing = this.logs.get(key);
    if (existing) {
      const storedId = readTopicId(this.fs, metaFile);
      if (storedId === null || storedId === topicId) {
        existing.config = config;
        if (storedId === null && !existing.isOffline) writeFileAtomicSync(this.fs, metaFile, `version: 0\ntopic_id: ${topicId}\n`);
        return existing;
      }
      this.o.logger.warn({ topic, partition, storedId, topicId }, 'partition data belongs to an older topic of the same name; deleting it');
      void existing.delete();
      this.logs.delete(key);
      this.forgetCheckpoints(key);
    } else if (this.fs.exists(dir) && readTopicId(this.fs, metaFile) !== topicId) {
      this.fs.rm(dir, { recursive: true, force: true });
      this.forgetCheckpoints(key);
    }
    const log = this.openLog(topic, partition, config);
    if (!log.isOffline) writeFileAtomicSync(this.fs, metaFile, `version: 0\ntopic_id: ${topicId}\n`);
    this.logs.set(key, log);
    return log;
  }

  private forgetCheckpoints(key: string): void {
    this.recoveryPoints.delete(key);
    this.logStartOffsets.delete(key);
    this.highWatermarks.delete(key);
  }

  async delete(topic: string, partition: number): Promise<void> {
    const key = tpKey(topic, partition);
    this.forgetCheckpoints(key);
    const log = this.logs.get(key);
    this.logs.delete(key);
    if (log) await log.delete();
    else this.fs.rm(path.join(this.o.dataDir, key), { recursive: true, force: true });
  }

  /** A log was truncated: its recovery point goes down in the checkpoint now, durably (a failure is logged; the periodic checkpoint tries again). */
  private checkpointAfterTruncation(): void {
    try {
      this.checkpoint();
    } catch (err) {
      this.o.logger.error({ err: (err as Error).message }, 'checkpoint after a truncation failed');
    }
  }

  /** Writes recovery points, log start offsets and high watermarks of every online log (on the event loop: shutdown, tests). */
  checkpoint(): void {
    for (const [file, entries] of this.checkpointEntries()) this.checkpointFile(file).write(entries);
  }

  /**
   * The periodic checkpoint: the same files, with their fsyncs off the event loop. Six
   * synchronous fsyncs every checkpoint interval stalled every append and fetch behind them (tens
   * of milliseconds on a slow disk, the tail of the produce latency). One at a time: a checkpoint
   * still running when the next is due makes that one a no-op; close() waits for it. Resolves
   * when the running one is done (a failure is logged; the next interval tries again).
   */
  checkpointInBackground(): Promise<void> {
    if (this.checkpointRunning !== null) return this.checkpointRunning;
    if (this.closed) return Promise.resolve();
    const writes = [...this.checkpointEntries()].map(([file, entries]) => this.checkpointFile(file).writeAsync(entries));
    this.checkpointRunning = Promise.all(writes).then(
      () => {
        this.checkpointRunning = null;
      },
      (err: Error) => {
        this.checkpointRunning = null;
        this.o.logger.error({ err: err.message }, 'checkpoint failed');
      },
    );
    return this.checkpointRunning;
  }

  /** One of the data directory's checkpoint files, by name. */
  private checkpointFile(name: string): OffsetCheckpointFile {
    return new OffsetCheckpointFile(this.fs, path.join(this.o.dataDir, name));
  }

  /** What each checkpoint file holds now, by file name; also records each log's fsynced offset. */
  private checkpointEntries(): Map<string, Map<string, { topic: string; partition: number; offset: number }>> {
    const recovery = new Map<string, { topic: string; partition: number; offset: number }>();
    const starts = new Map<string, { topic: string; partition: number; offset: number }>();
    const hws = new Map<string, { topic: string; partition: number; offset: number }>();
    for (const [key, log] of this.logs) {
      if (log.isOffline) continue;
      const tp = { topic: log.topic, partition: log.partition };
      recovery.set(key, { ...tp, offset: log.durableEndOffset });
      starts.set(key, { ...tp, offset: log.logStartOffset });
      hws.set(key, { ...tp, offset: log.highWatermark });
      log.checkpointFsyncedOffset();
    }
    return new Map([
      [RECOVERY_POINTS, recovery],
      [LOG_START_OFFSETS, starts],
      [HIGH_WATERMARKS, hws],
    ]);
  }

  /** One pass of retention, producer-id expiry and compaction over every log. */
  runMaintenance(): void {
    const now = this.o.nowMs();
    for (const log of this.logs.values()) {
      try {
        log.applyRetention(now);
        log.expireProducers(now);
        if (this.cleaner.shouldClean(log)) this.cleaner.clean(log, now);
      } catch (err) {
        // Damage found by the cleaner is damage: the log goes offline as it would on a read.
        if (err instanceof CorruptSegmentError) log.goOffline(err.message);
        else this.o.logger.error({ topic: log.topic, partition: log.partition, err: (err as Error).message }, 'log maintenance failed');
      }
    }
  }

  startBackgroundTasks(): void {
    const timers = this.o.timers ?? systemTimers;
    const every = (ms: number, fn: () => void) => {
      this.timers.push(
        timers.every(ms, () => {
          try {
            fn();
          } catch (err) {
            this.o.logger.error({ err: (err as Error).message }, 'background task failed');
          }
        }),
      );
    };
    every(this.o.retentionCheckIntervalMs ?? 30_000, () => this.runMaintenance());
    every(this.o.checkpointIntervalMs ?? 5_000, () => void this.checkpointInBackground());
    if (this.o.flushPolicy.kind === 'interval') {
      every(this.o.flushPolicy.intervalMs, () => {
        for (const log of this.logs.values()) void log.flush().catch(() => undefined);
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) t.cancel();
    await this.checkpointRunning;
    await Promise.all([...this.logs.values()].map((l) => l.close()));
    try {
      this.checkpoint();
      writeFileAtomicSync(this.fs, path.join(this.o.dataDir, CLEAN_SHUTDOWN), `${new Date(this.o.nowMs()).toISOString()}\n`);
    } finally {
      this.fs.rm(this.lockFile, { force: true });
    }
  }
}

function readTopicId(fsys: FileSystem, file: string): string | null {
  try {
    const m = /topic_id: (\S+)/.exec(fsys.readFile(file).toString('utf8'));
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}
