import { CairnError, type Clock, CONSUMER_OFFSETS_TOPIC, ErrorCode, type Logger, SeededRandom, type Timers } from '../../common';
import type { MetadataImage } from '../../metadata';
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
  TxnOffsetCommitRequest,
  TxnOffsetCommitResponse,
} from '../../protocol';
import { partitionsFromWire, partitionsToWire } from '../../protocol';
import { batchIsControl, batchIsTransactional, batchProducerId, decodeRecords, encodeBatch, readTxnMarker } from '../../record';
import type { ReplicaManager } from '../../replication/io';
import { type CoordinatorResult, decodeGroupRecord, encodeGroupRecord, type GroupCoordinatorConfig, GroupCoordinator, type GroupRecord, offsetsPartitionFor } from '..';
import { CoordinatorPartitions, type LoadedPartition } from './coordinator-partitions';
import type { TxnVerifier } from './txn-verifier';

/** How often a loaded coordinator expires sessions and revocations. */
const TICK_MS = 250;

export interface GroupCoordinatorShellOptions {
  nodeId: number;
  replicas: ReplicaManager;
  image: () => MetadataImage;
  /** Asks the controller for `__consumer_offsets` (partitions, compacted); TOPIC_ALREADY_EXISTS is fine. */
  createOffsetsTopic: () => Promise<void>;
  /** Confirms with a transaction coordinator that a group's offsets joined a transaction (TxnOffsetCommit; KIP-890). */
  verifier?: TxnVerifier;
  config: GroupCoordinatorConfig;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

type Loaded = LoadedPartition<GroupCoordinator>;

/**
 * The group coordinators of this broker: one GroupCoordinator core for each `__consumer_offsets`
 * partition it leads (CoordinatorPartitions: loaded by replaying the partition, dropped when it
 * stops leading, reloaded when an append fails). A request runs on its group's core; the shell
 * appends the records the core made (acks=all) and answers once they are committed. Offsets
 * committed inside a transaction are appended as the producer's transactional batch and become
 * committed when its marker reaches the partition (onTxnMarker).
 */
export class GroupCoordinatorShell {
  private readonly partitions: CoordinatorPartitions<GroupCoordinator>;
  private seed = 1;

  constructor(private readonly o: GroupCoordinatorShellOptions) {
    this.partitions = new CoordinatorPartitions<GroupCoordinator>({
      topic: CONSUMER_OFFSETS_TOPIC,
      what: 'group',
      keyName: 'group id',
      emptyKeyError: ErrorCode.INVALID_GROUP_ID,
      partitionFor: offsetsPartitionFor,
      createTopic: o.createOffsetsTopic,
      nodeId: o.nodeId,
      replicas: o.replicas,
      image: o.image,
      timers: o.timers,
      logger: o.logger,
      newCore: () => new GroupCoordinator(o.config, new SeededRandom(this.seed++)),
      replayBatch: (entry, buf, pos) => this.replayBatch(entry, buf, pos),
      onLoaded: (entry) => {
        entry.core.onLoaded(o.clock.nowMs());
        entry.timers.push(o.timers.every(TICK_MS, () => this.tick(entry)));
      },
    });
  }

  /** After the replica manager applied an image: load what this broker now leads, drop what it no longer does. */
  onImage(image: MetadataImage): void {
    this.partitions.onImage(image);
  }

  close(): void {
    this.partitions.close();
  }

  /**
   * A transaction marker was written (and replicated) to `__consumer_offsets-partition` here: the
   * producer's pending offsets there are committed or dropped.
   */
  onTxnMarker(partition: number, producerId: number, commit: boolean): void {
    for (const e of this.partitions.active()) if (e.partition.partition === partition) e.core.completeTxn(producerId, commit);
  }

  /** Replays one batch while loading: group records, a transaction's offsets (pending), or a marker that ends them. */
  private replayBatch(entry: Loaded, buf: Buffer, pos: number): number {
    if (batchIsControl(buf, pos)) {
      const marker = readTxnMarker(buf, pos);
      if (marker !== null) entry.core.completeTxn(marker.producerId, marker.commit);
      return 0;
    }
    const transactional = batchIsTransactional(buf, pos);
    let count = 0;
    for (const r of decodeRecords(buf, pos)) {
      try {
        const record = decodeGroupRecord(r.key, r.value);
        if (transactional) entry.core.replayTxnOffset(batchProducerId(buf, pos), record);
        else entry.core.replay(record);
        count++;
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        this.o.logger.warn({ topic: CONSUMER_OFFSETS_TOPIC, partition: entry.partition.partition, offset: r.offset, err: err.message }, 'skipping a group record that does not decode');
      }
    }
    return count;
  }

  private tick(entry: Loaded): void {
    if (!this.partitions.isCurrent(entry)) return;
    const { records, response } = entry.core.tick(this.o.clock.nowMs());
    for (const x of response) this.o.logger.info({ group: x.groupId, member: x.memberId, reason: x.reason }, 'group member removed');
    this.append(entry, records).catch(() => undefined);
  }

  /** Appends records the core just made; on failure the core is ahead of the log, so it is reloaded. (Protected: the simulation's seeded bugs break it.) */
  protected async append(entry: Loaded, records: readonly GroupRecord[]): Promise<void> {
    // An answer from state alone still waits for the records that made that state.
    if (records.length === 0) return this.partitions.committed(entry);
    const now = this.o.clock.wallMs();
    await this.partitions.append(entry, encodeBatch(records.map(encodeGroupRecord), {}, now), now);
  }

  /** The loaded core of a group's partition, or the error a client should see. */
  private coordinatorOf(groupId: string): Loaded {
    return this.partitions.entryForKey(groupId, false);
  }

  /** Runs a handler on the group's core, appends its records and answers once they are committed. */
  private async run<T>(groupId: string, fn: (c: GroupCoordinator, nowMs: number) => CoordinatorResult<T>): Promise<T> {
    const e = this.coordinatorOf(groupId);
    const { records, response } = fn(e.core, this.o.clock.nowMs());
    await this.append(e, records);
    return response;
  }

  async findCoordinator(key: string): Promise<FindCoordinatorResponse> {
    return this.partitions.findCoordinator(key);
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

  /**
   * TxnOffsetCommit (KIP-447): the offsets are appended as the producer's transactional batch
   * (after the transaction coordinator confirms this partition is in its transaction, KIP-890),
   * and are committed only when the transaction commits.
   */
  async txnOffsetCommit(req: TxnOffsetCommitRequest): Promise<TxnOffsetCommitResponse> {
    try {
      const e = this.coordinatorOf(req.groupId);
      const log = e.partition.log;
      if (!Number.isSafeInteger(req.producerId) || req.producerId < 0 || !Number.isInteger(req.producerEpoch) || req.producerEpoch < 0) {
        throw new CairnError(ErrorCode.INVALID_REQUEST, 'a transactional offset commit needs a producer id and epoch');
      }
      let guard = null;
      if (log.needsTxnVerification(req.producerId, req.producerEpoch)) {
        if (!this.o.verifier) throw new CairnError(ErrorCode.INVALID_TXN_STATE, 'this broker cannot verify transactions');
        guard = log.startTxnVerification(req.producerId, req.producerEpoch);
        await this.o.verifier.verify({ ...req, topic: CONSUMER_OFFSETS_TOPIC, partition: e.partition.partition, verifyOnly: true });
      }
      const current = this.coordinatorOf(req.groupId);
      if (current !== e) throw new CairnError(ErrorCode.NOT_COORDINATOR, `group "${req.groupId}" moved while its transaction was verified`);
      const { records, response } = e.core.txnOffsetCommit(req, req.producerId, Math.floor(this.o.clock.wallMs()));
      if (records.length > 0) {
        const now = this.o.clock.wallMs();
        const buf = encodeBatch(records.map(encodeGroupRecord), { producerId: req.producerId, producerEpoch: req.producerEpoch, transactional: true }, now);
        await this.partitions.append(e, buf, now, { origin: 'coordinator', guard });
      }
      return response;
    } catch (err) {
      return { ...refusal(err), results: [] };
    }
  }

  async fetchOffsets(req: OffsetFetchRequest): Promise<OffsetFetchResponse> {
    try {
      const e = this.coordinatorOf(req.groupId);
      const partitions = req.partitions === null ? null : partitionsFromWire(req.partitions);
      if (req.requireStable === true && e.core.hasPendingTxnOffsets(req.groupId, partitions)) {
        throw new CairnError(ErrorCode.UNSTABLE_OFFSET_COMMIT, `a transaction commits offsets of group "${req.groupId}" and is not decided yet`);
      }
      const offsets = e.core.fetchOffsets(req.groupId, partitions) as CommittedOffsetInfo[];
      // The core holds a commit as soon as it is made: answer only once the records behind these
      // offsets are committed, so a failed append cannot take back an offset a reader was shown.
      await this.partitions.committed(e);
      return { errorCode: ErrorCode.NONE, offsets };
    } catch (err) {
      return { ...refusal(err), offsets: [] };
    }
  }

  listGroups(): ListGroupsResponse {
    const groups = this.partitions.active().flatMap((e) => e.core.listGroups());
    return { errorCode: ErrorCode.NONE, groups: groups.sort((a, b) => (a.groupId < b.groupId ? -1 : 1)) };
  }

  /** Every committed offset of the groups this broker coordinates (the metrics' group offsets and lag). */
  committedOffsets(): { groupId: string; topic: string; partition: number; offset: number }[] {
    return this.partitions
      .active()
      .flatMap((e) => e.core.listGroups().flatMap(({ groupId }) => e.core.fetchOffsets(groupId, null).map(({ topic, partition, offset }) => ({ groupId, topic, partition, offset }))));
  }

  describeGroups(groupIds: readonly string[]): DescribeGroupsResponse {
    return {
      groups: groupIds.map((groupId) => {
        const empty = { groupId, state: '', groupEpoch: -1, assignmentEpoch: -1, members: [], offsets: [] };
        try {
          const d = this.coordinatorOf(groupId).core.describeGroup(groupId);
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
