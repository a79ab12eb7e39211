import { CairnError, ErrorCode, type Logger, type TimerHandle, type Timers } from '../../common';
import { type MetadataImage, NO_LEADER } from '../../metadata';
import type { FindCoordinatorResponse } from '../../protocol';
import { batchLastOffset, batchSize, validateBatches } from '../../record';
import type { Partition, ReplicaManager } from '../../replication/io';
import type { LeaderAppendOptions } from '../../storage';

/** How long an append of coordinator records may wait for the in-sync replicas. */
const APPEND_TIMEOUT_MS = 30_000;
/** How much of the log one read takes while loading. */
const LOAD_CHUNK_BYTES = 1 << 20;
/** How long after a failed load to try again. */
const RELOAD_AFTER_MS = 1_000;

/** One partition of a coordinator topic that this broker leads, with the core built from it. */
export interface LoadedPartition<C> {
  readonly partition: Partition;
  readonly leaderEpoch: number;
  readonly core: C;
  state: 'loading' | 'active';
  /** Timers of the loaded core (its tick), cancelled when it is dropped. */
  readonly timers: TimerHandle[];
  /** Settles when every append issued so far is committed; rejects once any of them failed. */
  written: Promise<void>;
}

export interface CoordinatorPartitionsOptions<C> {
  /** `__consumer_offsets` or `__transaction_state`. */
  topic: string;
  /** What the coordinator coordinates, for messages ("group", "transactional id"). */
  what: string;
  /** What a key is called ("group id", "transactional id"), and the error for an empty one. */
  keyName: string;
  emptyKeyError: ErrorCode;
  /** The partition of the topic a key belongs to, out of `partitions`. */
  partitionFor(key: string, partitions: number): number;
  /** Asks the controller for the topic (compacted); TOPIC_ALREADY_EXISTS is fine. */
  createTopic(): Promise<void>;
  nodeId: number;
  replicas: ReplicaManager;
  image: () => MetadataImage;
  timers: Timers;
  logger: Logger;
  newCore(partition: number): C;
  /** Replays the batch at `pos` of a loading partition into `core`; returns how many records it took. */
  replayBatch(entry: LoadedPartition<C>, buf: Buffer, pos: number): number;
  /** The partition is loaded and serves from now on (start its timers here). */
  onLoaded(entry: LoadedPartition<C>): void;
}

/**
 * The coordinator partitions of one broker (the template both the group and the transaction
 * coordinator follow; design brief §7, §8): a core for each partition of the coordinator topic
 * that this broker leads, loaded by replaying the partition when it becomes leader (off the turn
 * that learnt it) and dropped when it stops. A core changes its state at once; `append` writes
 * its records (acks=all) in the same turn, so the log has them in the order the state took them.
 * If an append fails the state is ahead of the log: the partition is dropped and loaded again.
 */
export class CoordinatorPartitions<C> {
  private readonly loaded = new Map<number, LoadedPartition<C>>();
  private creating: Promise<void> | null = null;

  constructor(private readonly o: CoordinatorPartitionsOptions<C>) {}

  /** After the replica manager applied an image: load what this broker now leads, drop what it no longer does. */
  onImage(image: MetadataImage): void {
    const topic = image.topicsByName.get(this.o.topic);
    const leading = new Set<number>();
    for (const reg of topic?.partitions ?? []) {
      if (reg.leader !== this.o.nodeId) continue;
      const p = this.o.replicas.get(this.o.topic, reg.partition);
      if (!p || p.role !== 'leader') continue;
      leading.add(reg.partition);
      const cur = this.loaded.get(reg.partition);
      if (cur && cur.leaderEpoch === p.leaderEpoch && cur.partition === p) continue;
      if (cur) this.unload(reg.partition, 'new leader epoch');
      this.load(p);
    }
    for (const partition of [...this.loaded.keys()]) if (!leading.has(partition)) this.unload(partition, 'no longer the leader');
  }

  close(): void {
    for (const partition of [...this.loaded.keys()]) this.unload(partition, 'shutting down');
  }

  /** The loaded partitions that serve. */
  active(): LoadedPartition<C>[] {
    return [...this.loaded.values()].filter((e) => e.state === 'active');
  }

  /** Whether `entry` is still the loaded, serving core of its partition. */
  isCurrent(entry: LoadedPartition<C>): boolean {
    return this.loaded.get(entry.partition.partition) === entry && entry.state === 'active';
  }

  /**
   * FindCoordinator: the broker that leads `key`'s partition, from this broker's image. While the
   * topic does not exist this asks the controller for it, and answers COORDINATOR_NOT_AVAILABLE.
   */
  findCoordinator(key: string): FindCoordinatorResponse {
    const none = { nodeId: -1, host: '', port: -1 };
    if (typeof key !== 'string' || key.length === 0) return { errorCode: this.o.emptyKeyError, errorMessage: `${this.o.keyName} is empty`, ...none };
    const image = this.o.image();
    const topic = image.topicsByName.get(this.o.topic);
    if (!topic) {
      this.ensureTopic();
      return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `creating ${this.o.topic}; retry shortly`, ...none };
    }
    const reg = topic.partitions[this.o.partitionFor(key, topic.partitions.length)]!;
    const broker = reg.leader === NO_LEADER ? undefined : image.brokers.get(reg.leader);
    if (!broker) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `${this.o.topic}-${reg.partition} has no leader`, ...none };
    return { errorCode: ErrorCode.NONE, nodeId: broker.id, host: broker.host, port: broker.port };
  }

  /** The serving core of `key`'s partition, or the error a client should see; `createTopic`: ask for the topic if it does not exist yet. */
  entryForKey(key: string, createTopic: boolean): LoadedPartition<C> {
    if (typeof key !== 'string' || key.length === 0) throw new CairnError(this.o.emptyKeyError, `${this.o.keyName} is empty`);
    const topic = this.o.image().topicsByName.get(this.o.topic);
    if (!topic) {
      if (createTopic) this.ensureTopic();
      throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${this.o.topic} does not exist yet`);
    }
    return this.entryFor(this.o.partitionFor(key, topic.partitions.length), key);
  }

  private ensureTopic(): void {
    this.creating ??= this.o
      .createTopic()
      .catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, `${this.o.topic} not created`))
      .finally(() => (this.creating = null));
  }

  /** The serving core of partition `partition`, or the error a client should see. */
  private entryFor(partition: number, key: string): LoadedPartition<C> {
    const e = this.loaded.get(partition);
    if (!e) throw new CairnError(ErrorCode.NOT_COORDINATOR, `broker ${this.o.nodeId} does not coordinate ${this.o.what} "${key}" (${this.o.topic}-${partition})`);
    if (e.state === 'loading') throw new CairnError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, `${this.o.topic}-${partition} is loading`);
    return e;
  }

  private load(p: Partition): void {
    const entry: LoadedPartition<C> = { partition: p, leaderEpoch: p.leaderEpoch, core: this.o.newCore(p.partition), state: 'loading', timers: [], written: Promise.resolve() };
    this.loaded.set(p.partition, entry);
    const where = { topic: this.o.topic, partition: p.partition, epoch: p.leaderEpoch };
    // Off this turn: loading reads the whole partition.
    this.o.timers.after(0, () => {
      if (this.loaded.get(p.partition) !== entry) return;
      try {
        const records = this.replay(entry);
        entry.state = 'active';
        this.o.onLoaded(entry);
        this.o.logger.info({ ...where, records }, `${this.o.what} coordinator loaded`);
      } catch (err) {
        this.o.logger.error({ ...where, err: (err as Error).message }, `${this.o.what} coordinator load failed; trying again`);
        this.unload(p.partition, 'load failed');
        this.o.timers.after(RELOAD_AFTER_MS, () => this.onImage(this.o.image()));
      }
    });
  }

  /** Replays the partition from its start to its end, batch by batch. */
  private replay(entry: LoadedPartition<C>): number {
    const log = entry.partition.log;
    const end = log.logEndOffset;
    let offset = log.logStartOffset;
    let count = 0;
    while (offset < end) {
      const buf = log.read(offset, LOAD_CHUNK_BYTES, end, true);
      if (buf.length === 0) break;
      for (let pos = 0; pos < buf.length; pos += batchSize(buf, pos)) {
        offset = batchLastOffset(buf, pos) + 1;
        count += this.o.replayBatch(entry, buf, pos);
      }
    }
    return count;
  }

  private unload(partition: number, reason: string): void {
    const e = this.loaded.get(partition);
    if (!e) return;
    for (const t of e.timers) t.cancel();
    this.loaded.delete(partition);
    this.o.logger.info({ topic: this.o.topic, partition, epoch: e.leaderEpoch, reason }, `${this.o.what} coordinator unloaded`);
  }

  /**
   * Appends `buf` (one batch the core's records make) to the entry's partition, acks=all. On
   * failure the core is ahead of the log: the partition is loaded again, and the caller gets
   * NOT_COORDINATOR (leadership moved) or COORDINATOR_NOT_AVAILABLE.
   */
  append(entry: LoadedPartition<C>, buf: Buffer, nowMs: number, opts?: LeaderAppendOptions): Promise<void> {
    const appended = this.appendOne(entry, buf, nowMs, opts);
    entry.written = Promise.all([entry.written, appended]).then(() => undefined);
    entry.written.catch(() => undefined);
    return appended;
  }

  /**
   * Resolves once every record the core made so far is committed: what an answer that changes
   * nothing must wait for when it reads state that earlier records made (a repeated request sees
   * a partition already added, a group already joined). Without this wait it could confirm what a
   * failed append then takes back. Rejects as the failed append did.
   */
  committed(entry: LoadedPartition<C>): Promise<void> {
    return entry.written;
  }

  private async appendOne(entry: LoadedPartition<C>, buf: Buffer, nowMs: number, opts?: LeaderAppendOptions): Promise<void> {
    try {
      const v = validateBatches(buf, { maxBatchBytes: Number.MAX_SAFE_INTEGER, requireKeys: true });
      if (!v.ok) throw new CairnError(ErrorCode.UNKNOWN_SERVER_ERROR, `${this.o.what} records do not validate: ${v.message}`);
      await this.o.replicas.appendAsLeader(entry.partition, buf, v.batches, -1, APPEND_TIMEOUT_MS, nowMs, opts).acked;
    } catch (err) {
      const e = err instanceof CairnError ? err : new CairnError(ErrorCode.UNKNOWN_SERVER_ERROR, (err as Error).message);
      this.failed(entry, e);
      throw e.code === ErrorCode.NOT_LEADER_OR_FOLLOWER || e.code === ErrorCode.FENCED_LEADER_EPOCH ? new CairnError(ErrorCode.NOT_COORDINATOR, e.message) : refusalOf(e);
    }
  }

  /** A write of the core's records failed: drop the partition and load it again. */
  private failed(entry: LoadedPartition<C>, e: CairnError): void {
    this.o.logger.warn({ topic: this.o.topic, partition: entry.partition.partition, err: e.message }, `${this.o.what} records not written; reloading the coordinator`);
    if (this.loaded.get(entry.partition.partition) === entry) {
      this.unload(entry.partition.partition, 'append failed');
      this.o.timers.after(0, () => this.onImage(this.o.image()));
    }
  }
}

/**
 * What a client sees of a failed coordinator write: a refusal the log made before writing
 * (a fenced producer epoch, an invalid transaction state) keeps its code; anything else is
 * COORDINATOR_NOT_AVAILABLE (retry).
 */
function refusalOf(e: CairnError): CairnError {
  switch (e.code) {
    case ErrorCode.INVALID_PRODUCER_EPOCH:
    case ErrorCode.INVALID_TXN_STATE:
    case ErrorCode.PRODUCER_FENCED:
      return e;
    default:
      return new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, e.message);
  }
}
