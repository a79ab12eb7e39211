import { CairnError, type Clock, CONSUMER_OFFSETS_TOPIC, ErrorCode, type Logger, SeededRandom, type TimerHandle, type Timers } from '../../common';
import { type MetadataImage, NO_LEADER } from '../../metadata';
import type {
  CommittedOffsetInfo,
  ConsumerGroupHeartbeatRequest,
  ConsumerGroupHeartbeatResponse,
  DeleteGroupsResponse,
  DescribeGroupsResponse,
  FindCoordinatorResponse,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
} from '../../protocol';
import { partitionsFromWire, partitionsToWire } from '../../protocol';
import { batchIsControl, batchLastOffset, batchSize, decodeRecords, encodeBatch, validateBatches } from '../../record';
import type { Partition, ReplicaManager } from '../../replication/io';
import { type CoordinatorResult, decodeGroupRecord, encodeGroupRecord, type GroupCoordinatorConfig, GroupCoordinator, type GroupRecord, offsetsPartitionFor } from '..';

/** How often a loaded coordinator expires sessions and revocations. */
const TICK_MS = 250;
/** How long an append of group records may wait for the in-sync replicas. */
const APPEND_TIMEOUT_MS = 30_000;
/** How much of the log one read takes while loading. */
const LOAD_CHUNK_BYTES = 1 << 20;

export interface GroupCoordinatorShellOptions {
  nodeId: number;
  replicas: ReplicaManager;
  image: () => MetadataImage;
  /** Asks the controller for `__consumer_offsets` (partitions, compacted); TOPIC_ALREADY_EXISTS is fine. */
  createOffsetsTopic: () => Promise<void>;
  config: GroupCoordinatorConfig;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

interface Loaded {
  partition: Partition;
  leaderEpoch: number;
  coordinator: GroupCoordinator;
  state: 'loading' | 'active';
  tick: TimerHandle | null;
}

/**
 * The group coordinators of this broker: one GroupCoordinator core for each `__consumer_offsets`
 * partition it leads, loaded by replaying that partition when it becomes leader and dropped when
 * it stops. A request runs on its group's core. The core changes its state at once. The shell
 * appends the records (acks=all) in the same turn of the event loop, so the log has them in the
 * order the state took them, and it answers once they are committed. If an append fails, the
 * state is ahead of the log: the shell drops it and loads the partition again.
 */
export class GroupCoordinatorShell {
  private readonly loaded = new Map<number, Loaded>();
  private creating: Promise<void> | null = null;
  private seed = 1;

  constructor(private readonly o: GroupCoordinatorShellOptions) {}

  /** After the replica manager applied an image: load what this broker now leads, drop what it no longer does. */
  onImage(image: MetadataImage): void {
    const topic = image.topicsByName.get(CONSUMER_OFFSETS_TOPIC);
    const leading = new Set<number>();
    for (const reg of topic?.partitions ?? []) {
      if (reg.leader !== this.o.nodeId) continue;
      const p = this.o.replicas.get(CONSUMER_OFFSETS_TOPIC, reg.partition);
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

  private load(p: Partition): void {
    const entry: Loaded = { partition: p, leaderEpoch: p.leaderEpoch, coordinator: new GroupCoordinator(this.o.config, new SeededRandom(this.seed++)), state: 'loading', tick: null };
    this.loaded.set(p.partition, entry);
    // Off this turn: loading reads the whole partition.
    this.o.timers.after(0, () => {
      if (this.loaded.get(p.partition) !== entry) return;
      try {
        const records = this.replay(entry);
        entry.state = 'active';
        entry.coordinator.onLoaded(this.o.clock.nowMs());
        entry.tick = this.o.timers.every(TICK_MS, () => this.tick(entry));
        this.o.logger.info({ topic: CONSUMER_OFFSETS_TOPIC, partition: p.partition, epoch: p.leaderEpoch, records, groups: entry.coordinator.state.groups.size }, 'group coordinator loaded');
      } catch (err) {
        this.o.logger.error({ topic: CONSUMER_OFFSETS_TOPIC, partition: p.partition, err: (err as Error).message }, 'group coordinator load failed; trying again');
        this.unload(p.partition, 'load failed');
        this.o.timers.after(1_000, () => this.onImage(this.o.image()));
      }
    });
  }

  /** Replays the partition from its start to its end; a record that does not decode is logged and skipped. */
  private replay(entry: Loaded): number {
    const log = entry.partition.log;
    const end = log.logEndOffset;
    let offset = log.logStartOffset;
    let count = 0;
    while (offset < end) {
      const buf = log.read(offset, LOAD_CHUNK_BYTES, end, true);
      if (buf.length === 0) break;
      for (let pos = 0; pos < buf.length; pos += batchSize(buf, pos)) {
        offset = batchLastOffset(buf, pos) + 1;
        if (batchIsControl(buf, pos)) continue;
        for (const r of decodeRecords(buf, pos)) {
          try {
            entry.coordinator.replay(decodeGroupRecord(r.key, r.value));
            count++;
          } catch (err) {
            if (!(err instanceof CairnError)) throw err;
            this.o.logger.warn({ topic: CONSUMER_OFFSETS_TOPIC, partition: entry.partition.partition, offset: r.offset, err: err.message }, 'skipping a group record that does not decode');
          }
        }
      }
    }
    return count;
  }

  private unload(partition: number, reason: string): void {
    const e = this.loaded.get(partition);
    if (!e) return;
    e.tick?.cancel();
    this.loaded.delete(partition);
    this.o.logger.info({ topic: CONSUMER_OFFSETS_TOPIC, partition, epoch: e.leaderEpoch, reason }, 'group coordinator unloaded');
  }

  private tick(entry: Loaded): void {
    if (this.loaded.get(entry.partition.partition) !== entry || entry.state !== 'active') return;
    const { records, response } = entry.coordinator.tick(this.o.clock.nowMs());
    for (const x of response) this.o.logger.info({ group: x.groupId, member: x.memberId, reason: x.reason }, 'group member removed');
    this.append(entry, records).catch(() => undefined);
  }

  /** Appends records the core just made; on failure the core is ahead of the log, so it is reloaded. (Protected: the simulation's seeded bugs break it.) */
  protected async append(entry: Loaded, records: readonly GroupRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      const now = this.o.clock.wallMs();
      const buf = encodeBatch(records.map(encodeGroupRecord), {}, now);
      const v = validateBatches(buf, { maxBatchBytes: Number.MAX_SAFE_INTEGER, requireKeys: true });
      if (!v.ok) throw new CairnError(ErrorCode.UNKNOWN_SERVER_ERROR, `group records do not validate: ${v.message}`);
      await this.o.replicas.appendAsLeader(entry.partition, buf, v.batches, -1, APPEND_TIMEOUT_MS, now).acked;
    } catch (err) {
      const e = err instanceof CairnError ? err : new CairnError(ErrorCode.UNKNOWN_SERVER_ERROR, (err as Error).message);
      this.o.logger.warn({ topic: CONSUMER_OFFSETS_TOPIC, partition: entry.partition.partition, err: e.message }, 'group records not written; reloading the coordinator');
      if (this.loaded.get(entry.partition.partition) === entry) {
        this.unload(entry.partition.partition, 'append failed');
        this.o.timers.after(0, () => this.onImage(this.o.image()));
      }
      throw e.code === ErrorCode.NOT_LEADER_OR_FOLLOWER || e.code === ErrorCode.FENCED_LEADER_EPOCH
        ? new CairnError(ErrorCode.NOT_COORDINATOR, e.message)
        : new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, e.message);
    }
  }

  /** The loaded core of a group's partition, or the error a client should see. */
  private coordinatorOf(groupId: string): Loaded {
    if (typeof groupId !== 'string' || groupId.length === 0) throw new CairnError(ErrorCode.INVALID_GROUP_ID, 'group id is empty');
    const topic = this.o.image().topicsByName.get(CONSUMER_OFFSETS_TOPIC);
    if (!topic) throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${CONSUMER_OFFSETS_TOPIC} does not exist yet`);
    const partition = offsetsPartitionFor(groupId, topic.partitions.length);
    const e = this.loaded.get(partition);
    if (!e) throw new CairnError(ErrorCode.NOT_COORDINATOR, `broker ${this.o.nodeId} does not coordinate group "${groupId}" (${CONSUMER_OFFSETS_TOPIC}-${partition})`);
    if (e.state === 'loading') throw new CairnError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, `${CONSUMER_OFFSETS_TOPIC}-${partition} is loading`);
    return e;
  }

  /** Runs a handler on the group's core, appends its records and answers once they are committed. */
  private async run<T>(groupId: string, fn: (c: GroupCoordinator, nowMs: number) => CoordinatorResult<T>): Promise<T> {
    const e = this.coordinatorOf(groupId);
    const { records, response } = fn(e.coordinator, this.o.clock.nowMs());
    await this.append(e, records);
    return response;
  }

  async findCoordinator(key: string): Promise<FindCoordinatorResponse> {
    const none = { nodeId: -1, host: '', port: -1 };
    if (typeof key !== 'string' || key.length === 0) return { errorCode: ErrorCode.INVALID_GROUP_ID, errorMessage: 'group id is empty', ...none };
    const image = this.o.image();
    const topic = image.topicsByName.get(CONSUMER_OFFSETS_TOPIC);
    if (!topic) {
      this.ensureOffsetsTopic();
      return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `creating ${CONSUMER_OFFSETS_TOPIC}; retry shortly`, ...none };
    }
    const reg = topic.partitions[offsetsPartitionFor(key, topic.partitions.length)]!;
    const broker = reg.leader === NO_LEADER ? undefined : image.brokers.get(reg.leader);
    if (!broker) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `${CONSUMER_OFFSETS_TOPIC}-${reg.partition} has no leader`, ...none };
    return { errorCode: ErrorCode.NONE, nodeId: broker.id, host: broker.host, port: broker.port };
  }

  private ensureOffsetsTopic(): void {
    this.creating ??= this.o
      .createOffsetsTopic()
      .catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, `${CONSUMER_OFFSETS_TOPIC} not created`))
      .finally(() => (this.creating = null));
  }

  async heartbeat(req: ConsumerGroupHeartbeatRequest, clientHost: string): Promise<ConsumerGroupHeartbeatResponse> {
    try {
      const res = await this.run(req.groupId, (c, now) =>
        c.heartbeat(
          {
            groupId: req.groupId,
            memberId: req.memberId,
            memberEpoch: req.memberEpoch,
            instanceId: req.instanceId === '' ? null : req.instanceId,
            rebalanceTimeoutMs: req.rebalanceTimeoutMs,
            subscribedTopicNames: req.subscribedTopicNames === null ? null : req.subscribedTopicNames.names,
            serverAssignor: req.serverAssignor === '' ? null : req.serverAssignor,
            ownedPartitions: req.owned === null ? null : partitionsFromWire(req.owned),
            clientId: req.clientId,
            clientHost,
          },
          { partitionCount: (t) => this.o.image().topicsByName.get(t)?.partitions.length },
          now,
        ),
      );
      return { ...res, assignment: res.assignment === null ? null : partitionsToWire(res.assignment) };
    } catch (err) {
      return {
        ...refusal(err),
        memberId: req.memberId,
        memberEpoch: req.memberEpoch,
        heartbeatIntervalMs: this.o.config.heartbeatIntervalMs,
        sessionTimeoutMs: this.o.config.sessionTimeoutMs,
        assignment: null,
      };
    }
  }

  async commitOffsets(req: OffsetCommitRequest): Promise<OffsetCommitResponse> {
    try {
      // The commit's timestamp is wall time (it is written to the log and shown), the sessions' clock is not.
      return await this.run(req.groupId, (c) => c.commitOffsets(req, Math.floor(this.o.clock.wallMs())));
    } catch (err) {
      return { ...refusal(err), results: [] };
    }
  }

  async fetchOffsets(req: OffsetFetchRequest): Promise<OffsetFetchResponse> {
    try {
      const e = this.coordinatorOf(req.groupId);
      return { errorCode: ErrorCode.NONE, offsets: e.coordinator.fetchOffsets(req.groupId, req.partitions === null ? null : partitionsFromWire(req.partitions)) as CommittedOffsetInfo[] };
    } catch (err) {
      return { ...refusal(err), offsets: [] };
    }
  }

  listGroups(): ListGroupsResponse {
    const groups = [...this.loaded.values()].filter((e) => e.state === 'active').flatMap((e) => e.coordinator.listGroups());
    return { errorCode: ErrorCode.NONE, groups: groups.sort((a, b) => (a.groupId < b.groupId ? -1 : 1)) };
  }

  describeGroups(groupIds: readonly string[]): DescribeGroupsResponse {
    return {
      groups: groupIds.map((groupId) => {
        const empty = { groupId, state: '', groupEpoch: -1, assignmentEpoch: -1, members: [], offsets: [] };
        try {
          const d = this.coordinatorOf(groupId).coordinator.describeGroup(groupId);
          if (!d) return { ...empty, errorCode: ErrorCode.GROUP_ID_NOT_FOUND, errorMessage: `no group "${groupId}"` };
          return {
            ...d,
            errorCode: ErrorCode.NONE,
            members: d.members.map((m) => ({
              ...m,
              instanceId: m.instanceId ?? '',
              subscribedTopics: [...m.subscribedTopics],
              assigned: partitionsToWire(m.assigned),
              pendingRevocation: partitionsToWire(m.pendingRevocation),
              target: partitionsToWire(m.target),
            })),
          };
        } catch (err) {
          return { ...empty, ...refusal(err) };
        }
      }),
    };
  }

  async deleteGroups(groupIds: readonly string[]): Promise<DeleteGroupsResponse> {
    const results = await Promise.all(
      groupIds.map(async (groupId) => {
        try {
          return { groupId, ...(await this.run(groupId, (c) => c.deleteGroup(groupId))) };
        } catch (err) {
          return { groupId, ...refusal(err) };
        }
      }),
    );
    return { results };
  }
}

function refusal(err: unknown): { errorCode: ErrorCode; errorMessage: string } {
  if (err instanceof CairnError) return { errorCode: err.code, errorMessage: err.message };
  throw err;
}
