import { CairnError, type Clock, ErrorCode, errorInfo, type LogConfig, type Logger, resolveLogConfig, type TimerHandle, type Timers, tpKey } from '../../common';
import { type ImageChanges, type MetadataImage, partitionKey } from '../../metadata';
import type { ReplicaFetchRequest, ReplicaFetchResponse } from '../../protocol';
import type { TxnMarker, ValidatedBatch } from '../../record';
import type { LeaderAppendOptions, LogManager } from '../../storage';
import { Partition } from './partition';
import { type LeaderAppend, ReplicaDriver, type ReplicaDriverOptions } from './replica-driver';
import { ReplicaFetchServer } from './replica-fetch-shell';
import type { AlterPartitionTransport, ReplicaFetchTransport } from '..';

/** How long one turn of the event loop may spend applying a metadata image's partitions. */
const APPLY_SLICE_MS = 50;

export interface ReplicaManagerOptions {
  nodeId: number;
  /** This process's incarnation: partitions are acted on once its registration is in the image. */
  incarnationId: string;
  /** The broker epoch of this incarnation's registration (-1 before it has one). */
  brokerEpoch: () => number;
  logs: LogManager;
  logDefaults: Readonly<LogConfig>;
  fetchTransport: ReplicaFetchTransport;
  alterPartitionTransport: AlterPartitionTransport;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  replicaLagTimeMaxMs: number;
  replicaFetchWaitMaxMs?: number;
  /** Builds the replication core (the simulation's seeded bugs); a plain ReplicaCore when absent. */
  createCore?: ReplicaDriverOptions['createCore'];
}

/**
 * The partitions this broker hosts (Kafka's ReplicaManager): it creates, updates and removes
 * Partition objects as metadata images arrive, hands their registrations to the replication core
 * (through its ReplicaDriver), and is where produce, fetch and follower logic find their partition.
 * `appendAsLeader` and `handleReplicaFetch` are the in-process entry points that the gRPC handlers
 * in server/ (and the whole-cluster simulation) call.
 */
export class ReplicaManager {
  private readonly partitions = new Map<string, Partition>();
  private image: MetadataImage | null = null;
  /** Told of every image once applied (the coordinators). */
  private readonly listeners: ((image: MetadataImage) => void)[] = [];
  /** `topicId:partition` keys still to apply from the newest image, in arrival order. */
  private readonly pending = new Set<string>();
  private continuation: TimerHandle | null = null;
  /** When the current run of slices began, while one is under way. */
  private deferredSince: number | null = null;
  private stopped = false;

  readonly driver: ReplicaDriver;
  private readonly fetchServer: ReplicaFetchServer;
  readonly nodeId: number;
  readonly logs: LogManager;
  readonly clock: Clock;
  readonly logger: Logger;
  private readonly defaults: Readonly<LogConfig>;

  constructor(private readonly o: ReplicaManagerOptions) {
    this.nodeId = o.nodeId;
    this.logs = o.logs;
    this.clock = o.clock;
    this.logger = o.logger;
    this.defaults = o.logDefaults;
    this.driver = new ReplicaDriver({
      nodeId: o.nodeId,
      incarnationId: o.incarnationId,
      brokerEpoch: o.brokerEpoch,
      replicaLagTimeMaxMs: o.replicaLagTimeMaxMs,
      replicaFetchWaitMaxMs: o.replicaFetchWaitMaxMs,
      createCore: o.createCore,
      fetchTransport: o.fetchTransport,
      alterPartitionTransport: o.alterPartitionTransport,
      clock: o.clock,
      timers: o.timers,
      logger: o.logger,
    });
    this.fetchServer = new ReplicaFetchServer({
      driver: this.driver,
      lookup: (topic, partition) => this.lookup(topic, partition),
      get: (topic, partition) => this.get(topic, partition),
      registration: (id) => this.image?.brokers.get(id),
      toErrorResult: (err) => toErrorResult(err, this.logger),
      clock: o.clock,
      timers: o.timers,
      logger: o.logger,
    });
  }

  /**
   * Appends validated batches to `p` as its leader; `acked` settles when `acks` are met (see
   * ReplicaDriver.appendAsLeader). Throws a CairnError, with nothing appended, when it may not.
   */
  appendAsLeader(p: Partition, buf: Buffer, validated: readonly ValidatedBatch[], acks: number, timeoutMs: number, wallMs: number, opts?: LeaderAppendOptions): LeaderAppend {
    return this.driver.appendAsLeader(p, buf, validated, acks, timeoutMs, wallMs, opts);
  }

  /** Writes a transaction marker to `p` as its leader, acks=all; throws a CairnError, with nothing written, when it may not. */
  appendMarkerAsLeader(p: Partition, marker: TxnMarker, timeoutMs: number, wallMs: number): LeaderAppend {
    return this.driver.appendMarkerAsLeader(p, marker, timeoutMs, wallMs);
  }

  /** The leader's side of a follower's fetch (design brief §6), long poll included. */
  handleReplicaFetch(req: ReplicaFetchRequest, cancelled?: () => boolean): Promise<ReplicaFetchResponse> {
    return this.fetchServer.handle(req, cancelled);
  }

  /** Stops fetching and the core's timers (node shutdown). */
  stop(): void {
    this.stopApplying();
    this.driver.stop();
  }

  private stopApplying(): void {
    this.stopped = true;
    this.continuation?.cancel();
    this.continuation = null;
  }

  get currentImage(): MetadataImage | null {
    return this.image;
  }

  get(topic: string, partition: number): Partition | undefined {
    return this.partitions.get(tpKey(topic, partition));
  }

  all(): Partition[] {
    return [...this.partitions.values()];
  }

  logConfigFor(image: MetadataImage, topic: string): LogConfig {
    return resolveLogConfig(Object.fromEntries(image.topicConfigs(topic)), this.defaults);
  }

  /** `topicId:partition` of every hosted replica whose log is offline, for the controller. */
  offlinePartitions(): string[] {
    return this.all()
      .filter((p) => p.log.isOffline)
      .map((p) => partitionKey(p.topicId, p.partition));
  }

  /**
   * Rebuilds offline replicas from their leader (reliability.md scenario 11): once the controller
   * has taken the replica out of the ISR and another broker leads, the damaged log is deleted and
   * replaced by an empty one that fetches everything again. Never while this replica is in the ISR.
   */
  private readonly repairing = new Set<string>();

  private async repairOffline(image: MetadataImage): Promise<void> {
    for (const p of this.all()) {
      if (!p.log.isOffline || this.repairing.has(tpKey(p.topic, p.partition))) continue;
      const reg = image.partition(p.topic, p.partition);
      if (!reg || reg.isr.includes(this.nodeId) || reg.leader < 0 || reg.leader === this.nodeId) continue;
      this.logger.warn({ topic: p.topic, partition: p.partition, leader: reg.leader, reason: p.log.offlineMessage }, 'rebuilding offline replica from the leader');
      const key = tpKey(p.topic, p.partition);
      this.repairing.add(key);
      this.partitions.delete(key);
      this.driver.remove(p);
      p.close();
      try {
        await this.logs.delete(p.topic, p.partition);
        const log = this.logs.getOrCreate(reg.topic, reg.partition, this.logConfigFor(image, reg.topic), reg.topicId);
        const fresh = new Partition(this.driver.core, this.nodeId, reg.topicId, log);
        this.partitions.set(key, fresh);
        this.driver.apply(fresh, this.image?.partition(reg.topic, reg.partition) ?? reg, log.config.minInsyncReplicas);
      } catch (err) {
        this.logger.error({ topic: p.topic, partition: p.partition, err: (err as Error).message }, 'cannot rebuild replica');
      } finally {
        this.repairing.delete(key);
      }
    }
  }

  /** The log manager's view of which topics exist, for loading logs at start. */
  configForExistingTopic(image: MetadataImage, topic: string): LogConfig | null {
    return image.topicsByName.has(topic) ? this.logConfigFor(image, topic) : null;
  }

  /**
   * Applies a new metadata image: becomes leader or follower, creates logs, deletes removed ones —
   * only once this incarnation's registration is in the image (ReplicaCore.admitImage), and then
   * the whole first image, `changes` after that.
   *
   * The touched partitions are applied in slices of at most APPLY_SLICE_MS, the rest after the
   * event loop has had a turn: creating a log or taking a new leader epoch fsyncs, and a topic of
   * thousands of partitions applied in one go held a loaded node's event loop for 16 s — its
   * broker session expired and its clients' connections failed their keepalives (a CreateTopics
   * retried that way was answered TOPIC_ALREADY_EXISTS). Each partition is applied from the
   * newest image when its turn comes, as a broker applying one merged metadata delta would.
   * Listeners (the coordinators) hear of every image, and again once deferred partitions are in.
   */
  applyImage(image: MetadataImage, changes: ImageChanges | null): void {
    const admitted = this.driver.admitImage(image.brokers.get(this.nodeId)?.incarnationId === this.o.incarnationId);
    if (admitted !== 'ignore') {
      if (admitted === 'all') changes = null;
      this.image = image;
      for (const t of changes?.removedTopics ?? []) {
        for (let p = 0; p < t.partitions.length; p++) void this.remove(t.name, p, 'topic deleted');
      }
      if (changes === null) {
        for (const t of image.topicsByName.values()) for (const reg of t.partitions) this.pending.add(partitionKey(reg.topicId, reg.partition));
      } else {
        for (const key of changes.partitions) this.pending.add(key);
      }
      // Config-only changes (retention, segment size) apply to live logs at once.
      for (const p of this.partitions.values()) p.log.config = this.logConfigFor(image, p.topic);
      this.applyPending();
      void this.repairOffline(image).catch((err) => this.logger.error({ err: (err as Error).message }, 'replica repair failed'));
    }
    this.notify(image);
  }

  /** `fn` hears every image after this manager applied it, and again once partitions deferred to a later slice are in. */
  addListener(fn: (image: MetadataImage) => void): void {
    this.listeners.push(fn);
  }

  private notify(image: MetadataImage): void {
    for (const fn of this.listeners) fn(image);
  }

  /** Applies pending partitions until none are left or the slice is spent; then the rest after a turn of the event loop. */
  private applyPending(): void {
    const start = this.clock.nowMs();
    for (const key of this.pending) {
      if (this.stopped) return;
      this.pending.delete(key);
      this.applyPartition(key);
      if (this.pending.size > 0 && this.clock.nowMs() - start >= APPLY_SLICE_MS) {
        if (this.deferredSince === null) {
          this.deferredSince = start;
          this.logger.info({ remaining: this.pending.size }, 'applying the rest of the partitions in slices');
        }
        this.continuation ??= this.o.timers.after(0, () => {
          this.continuation = null;
          this.applyPending();
          if (this.image && !this.stopped) this.notify(this.image);
        });
        return;
      }
    }
    if (this.deferredSince !== null) {
      this.logger.info({ tookMs: this.clock.nowMs() - this.deferredSince, partitions: this.partitions.size }, 'partitions applied');
      this.deferredSince = null;
    }
  }

  private applyPartition(key: string): void {
    const image = this.image;
    const reg = image?.partitionByKey(key);
    if (!image || !reg) return; // its topic was deleted meanwhile
    const tp = tpKey(reg.topic, reg.partition);
    const existing = this.partitions.get(tp);
    if (!reg.replicas.includes(this.nodeId)) {
      if (existing) void this.remove(reg.topic, reg.partition, 'replica moved away');
      return;
    }
    try {
      if (existing && existing.topicId === reg.topicId) {
        // Its config is the newest image's already (applyImage sets every live log's).
        this.driver.apply(existing, reg, existing.log.config.minInsyncReplicas);
        return;
      }
      const log = this.logs.getOrCreate(reg.topic, reg.partition, this.logConfigFor(image, reg.topic), reg.topicId);
      const p = new Partition(this.driver.core, this.nodeId, reg.topicId, log);
      this.partitions.set(tp, p);
      this.driver.apply(p, reg, log.config.minInsyncReplicas);
    } catch (err) {
      this.logger.error({ topic: reg.topic, partition: reg.partition, err: (err as Error).message }, 'cannot host partition');
    }
  }

  private async remove(topic: string, partition: number, reason: string): Promise<void> {
    const key = tpKey(topic, partition);
    const p = this.partitions.get(key);
    this.partitions.delete(key);
    if (p) {
      this.driver.remove(p);
      p.close();
    }
    this.logger.info({ topic, partition, reason }, 'partition removed');
    await this.logs.delete(topic, partition);
  }

  /** The partition, or the typed error a client should see for it. */
  lookup(topic: string, partition: number): Partition {
    const p = this.partitions.get(tpKey(topic, partition));
    if (p) return p;
    const reg = this.image?.partition(topic, partition);
    if (reg) throw new CairnError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${this.nodeId} does not host ${topic}-${partition} (leader: ${reg.leader})`);
    throw new CairnError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic-partition ${topic}-${partition}`);
  }

  /** Leader hint for a partition from the image, sent with NOT_LEADER_OR_FOLLOWER so clients can retry directly. */
  leaderHint(topic: string, partition: number): { leaderId: number; leaderEpoch: number } | null {
    const reg = this.image?.partition(topic, partition);
    return reg ? { leaderId: reg.leader, leaderEpoch: reg.leaderEpoch } : null;
  }

  async close(): Promise<void> {
    this.stopApplying();
    this.driver.stop();
    for (const p of this.partitions.values()) {
      this.driver.remove(p);
      p.close();
    }
  }
}

/** Maps any error to the code and message a partition result carries. */
export function toErrorResult(err: unknown, logger: Logger): { errorCode: ErrorCode; errorMessage: string } {
  if (err instanceof CairnError) return { errorCode: err.code, errorMessage: err.message };
  logger.error({ err: (err as Error)?.stack ?? String(err) }, 'unexpected error in request');
  return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: errorInfo(ErrorCode.UNKNOWN_SERVER_ERROR).meaning };
}
