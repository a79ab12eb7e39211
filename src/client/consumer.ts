import { CairnError, ErrorCode } from '../common';
import { IsolationLevel } from '../protocol';
import { Cluster, type ClientOptions } from './cluster';
import type { ConsumerRecord } from './fetched-records';
import { type Assigned, dropBuffered, EARLIEST, Fetcher, keyOf, LATEST, newAssigned } from './fetcher';
import { type ConsumerGroupMetadata, GroupMembership, type RebalanceListener } from './group-membership';

export interface ConsumerOptions extends ClientOptions {
  /** Where to start when a partition has no position or its position is out of range. */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  /** Long-poll: how long the broker may hold a fetch waiting for `minBytes`. */
  maxWaitMs?: number;
  minBytes?: number;
  maxBytes?: number;
  /** Per partition per fetch (Kafka's max.partition.fetch.bytes). */
  partitionMaxBytes?: number;
  /** Most records one poll() returns. */
  maxPollRecords?: number;
  /**
   * 'read_uncommitted' (the default, as Kafka's): every record below the high watermark.
   * 'read_committed': only records of committed transactions (and non-transactional ones), below
   * the last stable offset; records of aborted transactions are dropped (docs/transactions.md).
   */
  isolationLevel?: 'read_committed' | 'read_uncommitted';
  /** Bytes buffered per partition before prefetching pauses (bounded memory). */
  prefetchBytes?: number;
  /**
   * Fetch requests in flight per broker (default 2): the next leaves before the previous answer
   * has arrived, continuing where it will end (a fetch session), so reading is not bound by the
   * round trip. 1: one at a time.
   */
  fetchesInFlight?: number;
  /** Join this consumer group with subscribe() (docs/groups.md); without it, assign() partitions yourself. */
  groupId?: string;
  /** group.instance.id: a static member, whose partitions wait for it across a restart (KIP-345). */
  groupInstanceId?: string;
  /** How long the member may take to give partitions up (Kafka's max.poll.interval.ms). */
  rebalanceTimeoutMs?: number;
  /** The server-side assignor to ask for: 'uniform' (the group's default) or 'range'. */
  groupRemoteAssignor?: 'uniform' | 'range';
  /** Commit positions every autoCommitIntervalMs, before giving partitions up, and on close (default true). */
  enableAutoCommit?: boolean;
  autoCommitIntervalMs?: number;
  /** Partitions given to, taken from, or lost by this member. */
  onAssigned?: RebalanceListener['onAssigned'];
  onRevoked?: RebalanceListener['onRevoked'];
  onLost?: RebalanceListener['onLost'];
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset?: number;
}

/**
 * A consumer of explicitly assigned partitions (consumer groups build on it later): it fetches
 * from each partition's leader over that broker's fetch stream, one fetch in flight per broker,
 * prefetching while poll() hands out what arrived. seek() discards anything fetched for the old
 * position.
 */
export class Consumer {
  readonly cluster: Cluster;
  private readonly isolation: IsolationLevel;
  private readonly o: Required<
    Pick<ConsumerOptions, 'autoOffsetReset' | 'maxWaitMs' | 'minBytes' | 'maxBytes' | 'partitionMaxBytes' | 'maxPollRecords' | 'prefetchBytes' | 'fetchesInFlight' | 'isolationLevel'>
  >;
  /** The group membership, with groupId. */
  readonly group: GroupMembership | null;
  private readonly assigned = new Map<string, Assigned>();
  private readonly fetcher: Fetcher;
  private readonly dataWaiters: (() => void)[] = [];
  private readonly processedWaiters: { partitions: { topic: string; partition: number }[]; resolve: () => void }[] = [];
  /** The async iterator stopped inside a batch: close() then commits only what the loop finished. */
  private iteratorMidBatch = false;
  private closing = false;
  private fetchError: Error | null = null;
  private closed = false;

  constructor(opts: ConsumerOptions = {}) {
    this.cluster = new Cluster(opts);
    this.o = {
      autoOffsetReset: opts.autoOffsetReset ?? 'latest',
      maxWaitMs: opts.maxWaitMs ?? 500,
      minBytes: opts.minBytes ?? 1,
      maxBytes: opts.maxBytes ?? 50 * 1024 * 1024,
      partitionMaxBytes: opts.partitionMaxBytes ?? 1024 * 1024,
      maxPollRecords: opts.maxPollRecords ?? 10_000,
      prefetchBytes: opts.prefetchBytes ?? 4 * 1024 * 1024,
      fetchesInFlight: opts.fetchesInFlight ?? 2,
      isolationLevel: opts.isolationLevel ?? 'read_uncommitted',
    };
    if (this.o.isolationLevel !== 'read_committed' && this.o.isolationLevel !== 'read_uncommitted') {
      throw new CairnError(ErrorCode.INVALID_CONFIG, `isolationLevel "${String(this.o.isolationLevel)}" must be read_committed or read_uncommitted`);
    }
    this.isolation = this.o.isolationLevel === 'read_committed' ? IsolationLevel.READ_COMMITTED : IsolationLevel.READ_UNCOMMITTED;
    if (!Number.isInteger(this.o.fetchesInFlight) || this.o.fetchesInFlight < 1 || this.o.fetchesInFlight > 16) {
      throw new CairnError(ErrorCode.INVALID_CONFIG, `fetchesInFlight ${this.o.fetchesInFlight} must be 1..16`);
    }
    this.fetcher = new Fetcher(this.cluster, this.assigned, this.isolation, this.o, {
      data: () => {
        for (const w of this.dataWaiters.splice(0)) w();
      },
      failed: (err) => this.fail(err),
    });
    this.group =
      opts.groupId === undefined
        ? null
        : new GroupMembership(
            this.cluster,
            {
              add: (ps) => this.addPartitions(ps),
              remove: (ps) => this.removePartitions(ps),
              pause: (ps) => this.pause(ps.filter((p) => this.assigned.has(keyOf(p.topic, p.partition)))),
              positions: () => [...this.assigned.values()].filter((a) => a.processed !== null).map((a) => ({ topic: a.topic, partition: a.partition, offset: a.processed! })),
              whenProcessed: (ps) => this.whenProcessed(ps),
            },
            {
              groupId: opts.groupId,
              instanceId: opts.groupInstanceId ?? null,
              rebalanceTimeoutMs: opts.rebalanceTimeoutMs ?? 300_000,
              serverAssignor: opts.groupRemoteAssignor ?? null,
              clientId: 'cairn-consumer',
              autoCommit: opts.enableAutoCommit ?? true,
              autoCommitIntervalMs: opts.autoCommitIntervalMs ?? 5_000,
              requestTimeoutMs: this.cluster.requestTimeoutMs,
              requireStable: opts.isolationLevel === 'read_committed',
              onAssigned: opts.onAssigned,
              onRevoked: opts.onRevoked,
              onLost: opts.onLost,
            },
          );
  }

  /**
   * Joins the group (options.groupId) for these topics, or for every topic matching the pattern
   * (matched here against the cluster's topic list, every 10 s): the coordinator assigns this
   * member its share, moved incrementally as members come and go.
   */
  subscribe(topics: readonly string[] | RegExp): void {
    if (!this.group) throw new CairnError(ErrorCode.INVALID_REQUEST, 'subscribe() needs the groupId option; assign() partitions without a group');
    this.group.subscribe(topics);
  }

  /**
   * Commits offsets for the group, with this member's epoch. Without `offsets`, as Kafka's
   * commitSync(): everything poll() returned counts as done (under `for await`, what the loop has
   * finished), and every owned partition's position is committed.
   */
  async commit(offsets?: { topic: string; partition: number; offset: number }[]): Promise<void> {
    if (!this.group) throw new CairnError(ErrorCode.INVALID_REQUEST, 'commit() needs the groupId option');
    if (offsets === undefined) this.finishHandedOut();
    await this.group.commit(offsets);
  }

  /** The group's committed offsets of these partitions (-1: none). */
  /** This member's group, id and epoch, for a transactional producer's sendOffsetsToTransaction (consume-transform-produce). */
  groupMetadata(): ConsumerGroupMetadata {
    if (!this.group) throw new CairnError(ErrorCode.INVALID_REQUEST, 'groupMetadata() needs the groupId option');
    return this.group.groupMetadata();
  }

  async committed(partitions: { topic: string; partition: number }[]): Promise<{ topic: string; partition: number; offset: number }[]> {
    if (!this.group) throw new CairnError(ErrorCode.INVALID_REQUEST, 'committed() needs the groupId option');
    return (await this.group.committed(partitions)).map(({ topic, partition, offset }) => ({ topic, partition, offset }));
  }

  private addPartitions(partitions: readonly TopicPartitionOffset[]): void {
    for (const p of partitions) this.assigned.set(keyOf(p.topic, p.partition), newAssigned(p.topic, p.partition, p.offset));
    this.kick();
  }

  private removePartitions(partitions: { topic: string; partition: number }[]): void {
    for (const p of partitions) this.assigned.delete(keyOf(p.topic, p.partition));
    this.notifyProcessed();
  }

  /** Resolves once the application is done with every record it was given of these partitions (or they are gone). */
  private whenProcessed(partitions: { topic: string; partition: number }[]): Promise<void> {
    return new Promise((resolve) => {
      this.processedWaiters.push({ partitions, resolve });
      this.notifyProcessed();
    });
  }

  private notifyProcessed(): void {
    for (let i = this.processedWaiters.length - 1; i >= 0; i--) {
      const w = this.processedWaiters[i]!;
      const settled =
        this.closing ||
        w.partitions.every((p) => {
          const a = this.assigned.get(keyOf(p.topic, p.partition));
          return !a || a.position === null || a.processed === a.position;
        });
      if (!settled) continue;
      this.processedWaiters.splice(i, 1);
      w.resolve();
    }
  }

  /** The application says it is done with what it was handed (commit, close), unless an async loop broke out mid-batch. */
  private finishHandedOut(): void {
    if (!this.iteratorMidBatch) this.markAllProcessed();
  }

  /** Everything handed out so far is done with (poll was called again). */
  private markAllProcessed(): void {
    for (const a of this.assigned.values()) a.processed = a.position;
    this.notifyProcessed();
  }

  /** Replaces the assignment. Partitions given an offset start there; others by autoOffsetReset. */
  assign(partitions: TopicPartitionOffset[]): void {
    if (this.group) throw new CairnError(ErrorCode.INVALID_REQUEST, 'a consumer with a groupId gets its partitions from the group: use subscribe()');
    this.assigned.clear();
    this.addPartitions(partitions);
  }

  /** Assigns every partition of `topic` (each from `offset`, or by autoOffsetReset). */
  async assignTopic(topic: string, offset?: number): Promise<void> {
    const t = await this.cluster.waitForTopic(topic);
    this.assign(t.partitions.map((p) => ({ topic, partition: p.partition, offset })));
  }

  assignment(): { topic: string; partition: number }[] {
    return [...this.assigned.values()].map((a) => ({ topic: a.topic, partition: a.partition }));
  }

  private get(topic: string, partition: number): Assigned {
    const a = this.assigned.get(keyOf(topic, partition));
    if (!a) throw new CairnError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${partition} is not assigned to this consumer`);
    return a;
  }

  seek(topic: string, partition: number, offset: number): void {
    const a = this.get(topic, partition);
    a.position = offset;
    a.processed = offset;
    a.fetchPosition = offset;
    dropBuffered(a);
    a.generation++;
    a.sessionLeader = -1;
    this.kick();
  }

  async seekToBeginning(tps = this.assignment()): Promise<void> {
    await this.resetTo(tps, EARLIEST);
  }

  async seekToEnd(tps = this.assignment()): Promise<void> {
    await this.resetTo(tps, LATEST);
  }

  /** Each partition to its first record with a timestamp ≥ `timestampMs`, or to its end when none is that late. */
  async seekToTimestamp(timestampMs: number, tps = this.assignment()): Promise<void> {
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new CairnError(ErrorCode.INVALID_REQUEST, `timestamp ${timestampMs} is not valid`);
    await this.resetTo(tps, timestampMs);
  }

  position(topic: string, partition: number): number | null {
    return this.get(topic, partition).position;
  }

  pause(tps: { topic: string; partition: number }[]): void {
    for (const tp of tps) this.get(tp.topic, tp.partition).paused = true;
  }

  resume(tps: { topic: string; partition: number }[]): void {
    for (const tp of tps) this.get(tp.topic, tp.partition).paused = false;
    this.kick();
  }

  /** Records not yet read, per partition: high watermark (as of the last fetch) minus position. */
  lag(): { topic: string; partition: number; lag: number }[] {
    return [...this.assigned.values()].map((a) => ({ topic: a.topic, partition: a.partition, lag: a.position === null || a.highWatermark < 0 ? -1 : Math.max(0, a.highWatermark - a.position) }));
  }

  /** Up to maxPollRecords records, waiting at most `timeoutMs` for the first. */
  async poll(timeoutMs = 1000): Promise<ConsumerRecord[]> {
    if (this.closed) throw new CairnError(ErrorCode.NETWORK_EXCEPTION, 'consumer is closed');
    const deadline = Date.now() + timeoutMs;
    // What the last poll handed out is done with: a group may commit past it, a revocation may finish.
    this.markAllProcessed();
    for (;;) {
      // A member past its session or rebalance deadline drops its partitions before handing out another record.
      this.group?.enforceDeadlines();
      if (this.fetchError) {
        const e = this.fetchError;
        this.fetchError = null;
        throw e;
      }
      const out = this.drainBuffered();
      if (out.length > 0) {
        this.kick();
        return out;
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      this.kick();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.dataWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Yields records one by one, forever (until close). */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumerRecord> {
    while (!this.closed) {
      const records = await this.poll(1000);
      this.iteratorMidBatch = records.length > 0;
      for (const r of records) {
        try {
          yield r;
        } finally {
          // The loop came back for more, or broke out after r: either way it is done with r.
          const a = this.assigned.get(keyOf(r.topic, r.partition));
          if (a && a.processed !== null && r.offset + 1 > a.processed) {
            a.processed = r.offset + 1;
            this.notifyProcessed();
          }
        }
      }
      this.iteratorMidBatch = false;
    }
  }

  private drainBuffered(): ConsumerRecord[] {
    const out: ConsumerRecord[] = [];
    const max = this.o.maxPollRecords;
    for (const a of this.assigned.values()) {
      if (a.paused) continue;
      if (out.length >= max) break;
      a.position = a.fetched.take(a.position, out, max);
    }
    return out;
  }

  private kick(): void {
    if (!this.closed) this.fetcher.kick();
  }

  private async resetTo(tps: { topic: string; partition: number }[], which: number): Promise<void> {
    await Promise.all(
      tps.map(async (tp) => {
        let offset = await this.fetcher.listOffset(tp.topic, tp.partition, which);
        if (offset < 0) offset = await this.fetcher.listOffset(tp.topic, tp.partition, LATEST);
        this.seek(tp.topic, tp.partition, offset);
      }),
    );
  }

  /** Stops; a group member first commits (with auto-commit), gives its partitions up and leaves the group. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Closing says the application is done with what poll gave it.
    this.finishHandedOut();
    // A revocation in progress stops waiting for the application: it commits what was finished.
    this.closing = true;
    this.notifyProcessed();
    if (this.group) await this.group.close().catch(() => undefined);
    this.closed = true;
    this.fetcher.stop();
    for (const w of this.dataWaiters.splice(0)) w();
    this.cluster.close();
  }

  /** An error no retry changes: the next poll() throws it. */
  private fail(err: Error): void {
    this.fetchError = err;
    for (const w of this.dataWaiters.splice(0)) w();
  }
}
