import { randomUUID } from 'node:crypto';
import { CairnError, type Clock, ErrorCode, isRetriable, Serial, TopicPartitionSets as tps, type TopicPartitions } from '../common';
import { systemClock } from '../common/io';
import type {
  CommittedOffsetInfo,
  ConsumerGroupHeartbeatRequest,
  ConsumerGroupHeartbeatResponse,
  FindCoordinatorResponse,
  MetadataResponse,
  OffsetCommitResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
} from '../protocol';
import { CoordinatorType, partitionsFromWire, partitionsToWire } from '../protocol';
import type { Cluster } from './cluster';
import { GroupMemberCore, type MemberEffect, type MemberHeartbeat } from './group-member';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A consumer's place in its group, as a transactional producer's offset commit names it (Kafka's ConsumerGroupMetadata). */
export interface ConsumerGroupMetadata {
  groupId: string;
  memberId: string;
  /** -1: not checked (offsets of a group without members). */
  memberEpoch: number;
}

/** A group's callbacks, as Kafka's ConsumerRebalanceListener (they may be async; the member waits). */
export interface RebalanceListener {
  /** Partitions given to this member; it reads them from their committed offsets. */
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>;
  /** Partitions it gives up (after their positions are committed when auto-commit is on). */
  onRevoked?: (partitions: TopicPartition[]) => void | Promise<void>;
  /** Partitions it lost without giving them up (fenced, or past a deadline): others may have them already. */
  onLost?: (partitions: TopicPartition[]) => void | Promise<void>;
}

export interface GroupMembershipOptions extends RebalanceListener {
  groupId: string;
  instanceId: string | null;
  rebalanceTimeoutMs: number;
  serverAssignor: string | null;
  clientId: string;
  autoCommit: boolean;
  autoCommitIntervalMs: number;
  requestTimeoutMs: number;
  /**
   * Fetch committed offsets with require_stable (KIP-447): wait while a transaction that commits
   * offsets of the group is undecided (a read_committed consumer does, so a copy job's new owner
   * never starts from an offset its predecessor's transaction is about to move).
   */
  requireStable?: boolean;
}

/** What the membership asks of its consumer. */
export interface MemberConsumer {
  /** Starts fetching these; `offset` undefined: by autoOffsetReset. */
  add(partitions: { topic: string; partition: number; offset: number | undefined }[]): void;
  remove(partitions: TopicPartition[]): void;
  /** Stops handing out records of these (they are being given up), so their positions hold still. */
  pause(partitions: TopicPartition[]): void;
  /** Positions to commit: for each owned partition, the offset after what the application is done with. */
  positions(): { topic: string; partition: number; offset: number }[];
  /** Resolves once the application is done with what it was given of these partitions. */
  whenProcessed(partitions: TopicPartition[]): Promise<void>;
}

const toList = (s: TopicPartitions): TopicPartition[] => [...tps.pairsOf(s)].map(([topic, partition]) => ({ topic, partition }));

/**
 * One attempt at FindCoordinator, at the known brokers in turn (`attempt` from 1): the address of
 * the group's coordinator, or its error (retriable while `__consumer_offsets` is being made).
 */
export async function askForCoordinator(cluster: Cluster, groupId: string, attempt: number, timeoutMs: number, keyType = CoordinatorType.GROUP): Promise<string> {
  const candidates = cluster.brokerCandidates();
  const res = await cluster
    .connection(candidates[(attempt - 1) % candidates.length]!)
    .rpc.unary<{ key: string; keyType: CoordinatorType }, FindCoordinatorResponse>('FindCoordinator', { key: groupId, keyType }, timeoutMs);
  if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage || undefined);
  return `${res.host}:${res.port}`;
}

/** An OffsetFetch request: the group's committed offsets of these partitions, or (none given) all of them. */
export function offsetFetchRequest(groupId: string, partitions?: readonly TopicPartition[], requireStable = false): OffsetFetchRequest {
  return { groupId, partitions: partitions ? partitionsToWire(tps.fromPairs(partitions.map((p) => [p.topic, p.partition] as const))) : null, requireStable };
}

/** The member core's heartbeat as the ConsumerGroupHeartbeat request on the wire. */
export function heartbeatToWire(hb: MemberHeartbeat): ConsumerGroupHeartbeatRequest {
  const r = hb.request;
  return {
    groupId: r.groupId,
    memberId: r.memberId,
    memberEpoch: r.memberEpoch,
    instanceId: r.instanceId ?? '',
    rebalanceTimeoutMs: r.rebalanceTimeoutMs,
    subscribedTopicNames: { names: [...r.subscribedTopicNames] },
    serverAssignor: r.serverAssignor ?? '',
    owned: partitionsToWire(r.ownedPartitions),
    clientId: r.clientId,
  };
}

/**
 * A Consumer's membership in a group (KIP-848; docs/groups.md): the shell around GroupMemberCore.
 * It finds the coordinator, heartbeats on a timer of its own (not tied to poll, so a slow handler
 * is not evicted while it heartbeats), carries out the core's effects on the consumer, commits
 * offsets with the member epoch, and leaves on close.
 */
export class GroupMembership {
  readonly core: GroupMemberCore;
  private coordinator: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextHeartbeatAt = 0;
  private closed = false;
  /** Effects are carried out one at a time, in order. */
  private readonly effects = new Serial();
  private regex: RegExp | null = null;
  private nextCommitAt = 0;
  private regexCheckedAt = -Infinity;
  /** Commits go one after another. */
  private readonly commits = new Serial();

  constructor(
    private readonly cluster: Cluster,
    private readonly consumer: MemberConsumer,
    private readonly o: GroupMembershipOptions,
    private readonly clock: Clock = systemClock,
  ) {
    this.core = new GroupMemberCore(
      { groupId: o.groupId, memberId: randomUUID(), instanceId: o.instanceId, rebalanceTimeoutMs: o.rebalanceTimeoutMs, serverAssignor: o.serverAssignor, clientId: o.clientId },
      clock.nowMs(),
    );
  }

  /** Topic names, or a pattern matched against the cluster's topics here (never on the broker). */
  subscribe(topics: readonly string[] | RegExp): void {
    if (topics instanceof RegExp) {
      this.regex = topics;
      this.regexCheckedAt = -Infinity;
    } else {
      this.regex = null;
      this.core.subscribe(topics);
    }
    this.nextHeartbeatAt = 0;
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.step(), delayMs);
  }

  /** One turn: deadlines, the pattern's topics, then a heartbeat if one is due. */
  private async step(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    const now = this.clock.nowMs();
    this.enforceDeadlines();
    try {
      // The pattern is matched again as often as metadata is refreshed (Kafka: metadata.max.age.ms), at least every 10 s.
      if (this.regex && now - this.regexCheckedAt > Math.min(10_000, this.cluster.metadataMaxAgeMs)) await this.resolvePattern(now);
      if (now >= this.nextHeartbeatAt) await this.heartbeatOnce();
      if (this.o.autoCommit && now >= this.nextCommitAt && this.core.epoch > 0) {
        this.nextCommitAt = now + this.o.autoCommitIntervalMs;
        void this.commit().catch(() => undefined);
      }
    } catch {
      // The next turn tries again (the error is retriable, or the coordinator is looked up again).
      this.coordinator = null;
      this.nextHeartbeatAt = this.clock.nowMs() + this.cluster.backoff.retryBackoffMs;
    }
    const deadline = this.core.nextDeadline() - this.clock.nowMs();
    const nextCommit = this.o.autoCommit ? this.nextCommitAt - this.clock.nowMs() : Infinity;
    this.schedule(Math.max(0, Math.min(this.nextHeartbeatAt - this.clock.nowMs(), deadline, nextCommit, 1_000)));
  }

  /**
   * The member's own deadlines, now: partitions past one leave the consumer at once (the consumer
   * calls this before it hands out records, so a member resumed after a pause longer than its
   * session hands out nothing of what others may own by now); onLost follows in order.
   */
  enforceDeadlines(): void {
    this.run(this.core.checkDeadlines(this.clock.nowMs()));
  }

  private async resolvePattern(now: number): Promise<void> {
    this.regexCheckedAt = now;
    const address = this.cluster.brokerCandidates()[0]!;
    const md = await this.cluster.connection(address).rpc.unary<{ topics: string[] }, MetadataResponse>('Metadata', { topics: [] }, this.o.requestTimeoutMs);
    const names = md.topics.map((t) => t.name).filter((n) => !n.startsWith('__') && this.regex!.test(n));
    this.core.subscribe(names);
  }

  private async coordinatorAddress(): Promise<string> {
    if (this.coordinator !== null) return this.coordinator;
    const found = await this.cluster.retrying(`the coordinator of group "${this.o.groupId}"`, (attempt) => askForCoordinator(this.cluster, this.o.groupId, attempt, this.o.requestTimeoutMs));
    this.coordinator = found;
    return found;
  }

  private async heartbeatOnce(): Promise<void> {
    const address = await this.coordinatorAddress();
    const hb = this.core.heartbeat(this.clock.nowMs());
    if (hb === null) return;
    const req = heartbeatToWire(hb);
    let res: ConsumerGroupHeartbeatResponse;
    try {
      res = await this.cluster.connection(address).rpc.unary<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse>('ConsumerGroupHeartbeat', req, this.o.requestTimeoutMs);
    } catch (err) {
      this.core.onNoAnswer(hb.id);
      throw err;
    }
    let assignment: TopicPartitions | null;
    try {
      assignment = res.assignment ? partitionsFromWire(res.assignment) : null;
    } catch (err) {
      // A malformed answer counts as none: the next heartbeat goes as if this one were lost.
      this.core.onNoAnswer(hb.id);
      throw err;
    }
    const effects = this.core.onAnswer(hb.id, { ...res, assignment });
    this.nextHeartbeatAt = this.clock.nowMs() + (res.errorCode === ErrorCode.NONE ? this.core.heartbeatIntervalMs : this.cluster.backoff.retryBackoffMs);
    if (
      res.errorCode !== ErrorCode.NONE &&
      !isRetriable(res.errorCode) &&
      res.errorCode !== ErrorCode.FENCED_MEMBER_EPOCH &&
      res.errorCode !== ErrorCode.UNKNOWN_MEMBER_ID &&
      res.errorCode !== ErrorCode.UNRELEASED_INSTANCE_ID
    ) {
      throw new CairnError(res.errorCode, res.errorMessage || undefined);
    }
    this.run(effects);
  }

  private run(effects: MemberEffect[]): void {
    for (const e of effects) {
      // Lost partitions stop at once, ahead of any effect still in progress: others may own them already.
      if (e.kind === 'lost') this.consumer.remove(toList(e.partitions));
      this.effects.run(() => this.apply(e)).catch(() => undefined);
    }
  }

  private async apply(e: MemberEffect): Promise<void> {
    switch (e.kind) {
      case 'rediscover':
        this.coordinator = null;
        return;
      case 'lost':
        await this.o.onLost?.(toList(e.partitions));
        return;
      case 'assign': {
        const list = toList(e.partitions);
        const committed = await this.committed(list).catch(() => [] as CommittedOffsetInfo[]);
        // Lost while the offsets were looked up: nothing to start.
        const still = list.filter((p) => tps.has(this.core.owned, p.topic, p.partition));
        if (still.length === 0) return;
        this.consumer.add(still.map((p) => ({ ...p, offset: committed.find((c) => c.topic === p.topic && c.partition === p.partition && c.offset >= 0)?.offset })));
        await this.o.onAssigned?.(still);
        return;
      }
      case 'revoke': {
        const list = toList(e.partitions);
        // Nothing more of them goes to the application; once it is done with what it was given (it
        // polls again, as in Kafka), that is what gets committed.
        this.consumer.pause(list);
        await this.consumer.whenProcessed(list);
        // Lost meanwhile (past the rebalance timeout, or fenced): onLost has been called instead.
        if (this.core.revoking === null) return;
        if (this.o.autoCommit) await this.commit(this.consumer.positions().filter((p) => tps.has(e.partitions, p.topic, p.partition))).catch(() => undefined);
        await this.o.onRevoked?.(list);
        this.consumer.remove(toList(this.core.revocationDone()));
        // Say so at once: the partitions go to their next owner only after this heartbeat.
        this.nextHeartbeatAt = 0;
        this.schedule(0);
        return;
      }
      case 'left':
        return;
    }
  }

  /**
   * Commits offsets with this member's epoch (default: the positions of what it owns). Commits go
   * one after another, so an older one never lands after a newer one (a revocation's last commit
   * waits for an auto-commit still in flight).
   */
  commit(offsets = this.consumer.positions()): Promise<void> {
    return this.commits.run(() => this.commitNow(offsets));
  }

  private async commitNow(offsets: { topic: string; partition: number; offset: number }[]): Promise<void> {
    if (offsets.length === 0) return;
    const address = await this.coordinatorAddress();
    const res = await this.cluster
      .connection(address)
      .rpc.unary<object, OffsetCommitResponse>(
        'OffsetCommit',
        { groupId: this.o.groupId, memberId: this.core.settings.memberId, memberEpoch: this.core.epoch, offsets: offsets.map((o) => ({ ...o, leaderEpoch: -1, metadata: '' })) },
        this.o.requestTimeoutMs,
      );
    if (res.errorCode !== ErrorCode.NONE) {
      if (res.errorCode === ErrorCode.NOT_COORDINATOR || res.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE) this.coordinator = null;
      throw new CairnError(res.errorCode, res.errorMessage || undefined);
    }
    const failed = res.results.find((r) => r.errorCode !== ErrorCode.NONE);
    if (failed) throw new CairnError(failed.errorCode, `${failed.topic}-${failed.partition}: ${failed.errorMessage ?? ''}`);
  }

  /** The group's committed offsets of `partitions`, retrying what is retriable (a moving coordinator, an undecided transaction) up to defaultApiTimeoutMs. */
  committed(partitions: TopicPartition[]): Promise<CommittedOffsetInfo[]> {
    return this.cluster.retrying(`OffsetFetch ${this.o.groupId}`, async () => {
      const address = await this.coordinatorAddress();
      const res = await this.cluster
        .connection(address)
        .rpc.unary<OffsetFetchRequest, OffsetFetchResponse>('OffsetFetch', offsetFetchRequest(this.o.groupId, partitions, this.o.requireStable === true), this.o.requestTimeoutMs);
      if (res.errorCode !== ErrorCode.NONE) {
        if (res.errorCode === ErrorCode.NOT_COORDINATOR || res.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE) this.coordinator = null;
        throw new CairnError(res.errorCode, res.errorMessage || undefined);
      }
      return res.offsets;
    });
  }

  /** What a transactional producer commits offsets with (sendOffsetsToTransaction): the group, this member and its epoch. */
  groupMetadata(): ConsumerGroupMetadata {
    return { groupId: this.o.groupId, memberId: this.core.settings.memberId, memberEpoch: this.core.epoch };
  }

  /** Leaves: commits (with auto-commit) and gives up everything, then says so to the coordinator. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.effects.idle();
    const owned = toList(this.core.owned);
    if (this.o.autoCommit) await this.commit().catch(() => undefined);
    if (owned.length > 0) await this.o.onRevoked?.(owned);
    this.consumer.remove(toList(this.core.leave()));
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.heartbeatOnce().catch(() => undefined);
  }
}
