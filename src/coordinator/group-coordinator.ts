import { CairnError, ErrorCode, JOIN_GROUP_MEMBER_EPOCH, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH, type Random, TopicPartitionSets, type TopicPartitions } from '../common';
import { ASSIGNORS, type AssignmentMember } from './assignors';
import type {
  ConsumerHeartbeatRequest,
  ConsumerHeartbeatResponse,
  CoordinatorResult,
  ExpiryReason,
  FetchedOffset,
  GroupCoordinatorConfig,
  GroupDescription,
  GroupStateName,
  OffsetCommitRequest,
  OffsetCommitResponse,
  PartitionResult,
  TopicsView,
} from './group-messages';
import {
  assignmentInputsDiffer,
  checkEpoch,
  checkName,
  MAX_ID_LENGTH,
  MAX_NAME_LENGTH,
  checkTopics,
  chooseAssignor,
  newMemberId,
  sameCounts,
  sameSubscription,
  stateOf,
  subscribedCounts,
} from './group-rules';
import { type ConsumerGroup, type GroupRecord, GroupsState, type Member, type MemberAssignment, type MemberSubscription, offsetKey } from './group-state';
import { reconcile } from './reconcile';

const { equals, isEmpty, NO_PARTITIONS } = TopicPartitionSets;

/**
 * The group coordinator of one `__consumer_offsets` partition: a pure state machine (no I/O, time
 * passed in). Handlers validate first, then make records and replay each into the state as they
 * make it, so the next request sees them; the shell appends them and answers once they are
 * durable (and reloads the partition if the append fails). The persisted state changes only by
 * replaying records, which is also how a new coordinator loads it. Sessions and revocation
 * deadlines are timers, not records: a coordinator that loads a group gives every member a full
 * session from then on (as Kafka does).
 */
export class GroupCoordinator {
  readonly state = new GroupsState();
  private readonly sessionDeadlines = new Map<string, number>();
  private readonly revocationDeadlines = new Map<string, number>();
  /**
   * Offsets committed inside transactions not yet decided, by producer id (KIP-447): they become
   * committed offsets when the producer's commit marker reaches this partition, and vanish with
   * its abort marker.
   */
  private readonly pendingTxnOffsets = new Map<number, GroupRecord[]>();

  constructor(
    private readonly config: GroupCoordinatorConfig,
    private readonly random: Random,
  ) {}

  /** Replays a record read from the partition (loading). */
  replay(r: GroupRecord): void {
    this.state.replay(r);
  }

  /** Loading done: every member's session (and any revocation in progress) starts now. */
  onLoaded(nowMs: number): void {
    for (const g of this.state.groups.values()) {
      for (const m of g.members.values()) {
        this.sessionDeadlines.set(timerKey(g.groupId, m.memberId), nowMs + this.config.sessionTimeoutMs);
        if (m.assignment.state === 'unrevoked') this.revocationDeadlines.set(timerKey(g.groupId, m.memberId), nowMs + m.subscription.rebalanceTimeoutMs);
      }
    }
  }

  heartbeat(req: ConsumerHeartbeatRequest, topics: TopicsView, nowMs: number): CoordinatorResult<ConsumerHeartbeatResponse> {
    return this.run(
      (emit) => this.doHeartbeat(req, topics, nowMs, emit),
      (err) => ({
        ...errorOf(err),
        memberId: req.memberId,
        memberEpoch: req.memberEpoch,
        heartbeatIntervalMs: this.config.heartbeatIntervalMs,
        sessionTimeoutMs: this.config.sessionTimeoutMs,
        assignment: null,
      }),
    );
  }

  /** `wallMs` (an integer, wall-clock time) is recorded as the commit's timestamp. */
  commitOffsets(req: OffsetCommitRequest, wallMs: number): CoordinatorResult<OffsetCommitResponse> {
    return this.run(
      (emit) => this.doCommit(req, wallMs, emit),
      (err) => ({ ...errorOf(err), results: [] }),
    );
  }

  /**
   * TxnOffsetCommit: the same checks as a commit, but the records stay pending for producer
   * `producerId` (the shell appends them as its transactional batch) until its transaction ends.
   */
  txnOffsetCommit(req: OffsetCommitRequest, producerId: number, wallMs: number): CoordinatorResult<OffsetCommitResponse> {
    const result = this.run(
      (emit) => this.doCommit(req, wallMs, emit, false),
      (err) => ({ ...errorOf(err), results: [] }),
    );
    if (result.records.length > 0) this.pendingTxnOffsets.set(producerId, [...(this.pendingTxnOffsets.get(producerId) ?? []), ...result.records]);
    return result;
  }

  /** Replays an offset record of a transactional batch of `producerId` (loading): pending until its marker. */
  replayTxnOffset(producerId: number, r: GroupRecord): void {
    this.pendingTxnOffsets.set(producerId, [...(this.pendingTxnOffsets.get(producerId) ?? []), r]);
  }

  /** The transaction of `producerId` ended here: its pending offsets are committed, or dropped. */
  completeTxn(producerId: number, commit: boolean): void {
    const pending = this.pendingTxnOffsets.get(producerId);
    this.pendingTxnOffsets.delete(producerId);
    if (commit) for (const r of pending ?? []) this.state.replay(r);
  }

  /** Whether a transaction not yet decided commits offsets of `groupId` (in `partitions`, or any). */
  hasPendingTxnOffsets(groupId: string, partitions: TopicPartitions | null): boolean {
    for (const records of this.pendingTxnOffsets.values()) {
      for (const r of records) {
        if (r.kind !== 'offset' || r.groupId !== groupId) continue;
        if (partitions === null || partitions[r.topic]?.includes(r.partition)) return true;
      }
    }
    return false;
  }

  /** Committed offsets of `partitions` (all of the group's when null); -1 where nothing is committed. */
  fetchOffsets(groupId: string, partitions: TopicPartitions | null): FetchedOffset[] {
    const g = this.state.groups.get(groupId);
    const all = [...(g?.offsets.values() ?? [])].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    if (partitions === null) return all.map(({ topic, partition, offset, leaderEpoch, metadata }) => ({ topic, partition, offset, leaderEpoch, metadata }));
    const out: FetchedOffset[] = [];
    for (const topic of Object.keys(partitions)) {
      for (const partition of partitions[topic]!) {
        const o = g?.offsets.get(offsetKey(topic, partition));
        out.push({ topic, partition, offset: o?.offset ?? -1, leaderEpoch: o?.leaderEpoch ?? -1, metadata: o?.metadata ?? '' });
      }
    }
    return out;
  }

  /** Deletes an empty group and its committed offsets. */
  deleteGroup(groupId: string): CoordinatorResult<{ errorCode: ErrorCode; errorMessage: string }> {
    return this.run(
      (emit) => {
        const g = this.state.groups.get(groupId);
        if (!g) throw new CairnError(ErrorCode.GROUP_ID_NOT_FOUND, `no group "${groupId}"`);
        if (!g.isEmpty) throw new CairnError(ErrorCode.NON_EMPTY_GROUP, `group "${groupId}" has ${g.members.size} members`);
        for (const o of [...g.offsets.values()]) emit({ kind: 'offset', groupId, topic: o.topic, partition: o.partition, value: null });
        for (const memberId of [...g.target.keys()]) emit({ kind: 'target', groupId, memberId, value: null });
        if (g.assignmentEpoch !== 0) emit({ kind: 'targetEpoch', groupId, value: null });
        if (g.hasMetadata) emit({ kind: 'group', groupId, value: null });
        return { errorCode: ErrorCode.NONE, errorMessage: '' };
      },
      (err) => errorOf(err),
    );
  }

  /** Removes members whose session or revocation deadline has passed. */
  tick(nowMs: number): CoordinatorResult<{ groupId: string; memberId: string; reason: ExpiryReason }[]> {
    const records: GroupRecord[] = [];
    const emit = this.emitter(records);
    const expired: { groupId: string; memberId: string; reason: ExpiryReason }[] = [];
    for (const [deadlines, reason] of [
      [this.sessionDeadlines, 'session timeout'],
      [this.revocationDeadlines, 'rebalance timeout'],
    ] as const) {
      for (const [key, deadline] of [...deadlines]) {
        if (deadline > nowMs) continue;
        const [groupId, memberId] = JSON.parse(key) as [string, string];
        const g = this.state.groups.get(groupId);
        if (g?.members.has(memberId)) {
          this.removeMember(g, memberId, emit);
          expired.push({ groupId, memberId, reason });
        }
        this.clearTimers(groupId, memberId);
      }
    }
    return { records, response: expired };
  }

  listGroups(): { groupId: string; state: GroupStateName; members: number }[] {
    return [...this.state.groups.values()].map((g) => ({ groupId: g.groupId, state: stateOf(g), members: g.members.size })).sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  describeGroup(groupId: string): GroupDescription | null {
    const g = this.state.groups.get(groupId);
    if (!g) return null;
    return {
      groupId,
      state: stateOf(g),
      groupEpoch: g.epoch,
      assignmentEpoch: g.assignmentEpoch,
      members: [...g.members.values()]
        .sort((a, b) => (a.memberId < b.memberId ? -1 : 1))
        .map((m) => ({
          memberId: m.memberId,
          instanceId: m.subscription.instanceId,
          clientId: m.subscription.clientId,
          clientHost: m.subscription.clientHost,
          memberEpoch: m.assignment.memberEpoch,
          state: m.assignment.state,
          subscribedTopics: m.subscription.topics,
          assigned: m.assignment.assigned,
          pendingRevocation: m.assignment.pendingRevocation,
          target: g.target.get(m.memberId) ?? NO_PARTITIONS,
        })),
      offsets: this.fetchOffsets(groupId, null),
    };
  }

  // ---- heartbeat ----

  private doHeartbeat(req: ConsumerHeartbeatRequest, topics: TopicsView, nowMs: number, emit: (r: GroupRecord) => void): ConsumerHeartbeatResponse {
    checkName(req.groupId, ErrorCode.INVALID_GROUP_ID, 'group id');
    if (req.memberEpoch === LEAVE_GROUP_MEMBER_EPOCH || req.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) return this.leave(req, emit);
    if (!Number.isInteger(req.memberEpoch) || req.memberEpoch < 0) throw new CairnError(ErrorCode.INVALID_REQUEST, `member epoch ${req.memberEpoch} is not valid`);
    if (req.serverAssignor !== null && !ASSIGNORS.has(req.serverAssignor))
      throw new CairnError(ErrorCode.UNSUPPORTED_ASSIGNOR, `no assignor "${req.serverAssignor}" (there are ${[...ASSIGNORS.keys()].join(', ')})`);
    const subscribed = req.subscribedTopicNames === null ? null : checkTopics(req.subscribedTopicNames);
    let memberId = req.memberId;
    let membershipChanged = false;
    if (req.memberEpoch === JOIN_GROUP_MEMBER_EPOCH) {
      if (subscribed === null) throw new CairnError(ErrorCode.INVALID_REQUEST, 'a joining member must send its subscribed topics');
      if (!(req.rebalanceTimeoutMs > 0)) throw new CairnError(ErrorCode.INVALID_REQUEST, 'a joining member must send its rebalance timeout');
      if (req.ownedPartitions !== null && !isEmpty(req.ownedPartitions)) throw new CairnError(ErrorCode.INVALID_REQUEST, 'a joining member owns no partitions');
      if (memberId === '') memberId = newMemberId(this.random);
      checkName(memberId, ErrorCode.INVALID_REQUEST, 'member id', MAX_ID_LENGTH);
      if (req.instanceId !== null) checkName(req.instanceId, ErrorCode.INVALID_REQUEST, 'group.instance.id', MAX_ID_LENGTH);
      const g = this.state.groups.get(req.groupId);
      const sub = this.subscriptionOf(req, subscribed, undefined);
      const returning = req.instanceId !== null ? g?.memberByInstanceId(req.instanceId) : undefined;
      if (returning && returning.assignment.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH && returning.memberId !== memberId) {
        throw new CairnError(ErrorCode.UNRELEASED_INSTANCE_ID, `group.instance.id "${req.instanceId}" is in use by member ${returning.memberId}`);
      }
      const existing = g?.members.get(memberId);
      if (g && !returning && !existing && g.members.size >= this.config.maxGroupSize) throw new CairnError(ErrorCode.GROUP_MAX_SIZE_REACHED, `group "${req.groupId}" has ${g.members.size} members`);
      // Records from here on.
      if (returning && returning.assignment.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
        membershipChanged = this.takeOverStaticMember(g!, returning, memberId, sub, emit);
      } else {
        // A member joining again under its id was fenced or lost its partitions: what it held is free.
        if (existing) this.removeMember(g!, memberId, emit);
        emit({ kind: 'member', groupId: req.groupId, memberId, value: sub });
        membershipChanged = true;
      }
    } else {
      const g = this.state.groups.get(req.groupId);
      const m = g?.members.get(memberId);
      if (!g || !m) throw new CairnError(ErrorCode.UNKNOWN_MEMBER_ID, `group "${req.groupId}" has no member ${memberId}`);
      checkEpoch(m, req);
      const sub = this.subscriptionOf(req, subscribed, m.subscription);
      if (!sameSubscription(sub, m.subscription)) {
        membershipChanged = assignmentInputsDiffer(sub, m.subscription);
        emit({ kind: 'member', groupId: req.groupId, memberId, value: sub });
      }
    }
    const g = this.state.groups.get(req.groupId)!;
    const counts = subscribedCounts(g, topics);
    if (membershipChanged || !g.hasMetadata || !sameCounts(counts, g.topics)) emit({ kind: 'group', groupId: g.groupId, value: { epoch: g.epoch + 1, topics: counts } });
    if (g.epoch > g.assignmentEpoch) this.computeTargetAssignment(g, emit);

    const m = g.members.get(memberId)!;
    const before = m.assignment;
    const owned = req.memberEpoch === JOIN_GROUP_MEMBER_EPOCH ? NO_PARTITIONS : req.ownedPartitions;
    const after = this.reconcileMember(before, g.assignmentEpoch, g.target.get(memberId) ?? NO_PARTITIONS, owned, (t, p) => {
      const o = g.ownerOf(t, p);
      return o !== undefined && o !== memberId;
    });
    if (after !== before) emit({ kind: 'current', groupId: g.groupId, memberId, value: after });

    const key = timerKey(g.groupId, memberId);
    this.sessionDeadlines.set(key, nowMs + this.config.sessionTimeoutMs);
    // The member has the rebalance timeout to give up what it was just asked to, counted from the asking.
    if (after.state !== 'unrevoked') this.revocationDeadlines.delete(key);
    else if (!equals(after.pendingRevocation, before.state === 'unrevoked' ? before.pendingRevocation : NO_PARTITIONS) || !this.revocationDeadlines.has(key)) {
      this.revocationDeadlines.set(key, nowMs + m.subscription.rebalanceTimeoutMs);
    }

    const sendAssignment = req.memberEpoch === JOIN_GROUP_MEMBER_EPOCH || !equals(after.assigned, before.assigned) || (req.ownedPartitions !== null && !equals(req.ownedPartitions, after.assigned));
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: '',
      memberId,
      memberEpoch: after.memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      assignment: sendAssignment ? after.assigned : null,
    };
  }

  /** One reconciliation step (`reconcile`); a seam for the simulation's seeded bugs. */
  protected reconcileMember(...args: Parameters<typeof reconcile>): MemberAssignment {
    return reconcile(...args);
  }

  private leave(req: ConsumerHeartbeatRequest, emit: (r: GroupRecord) => void): ConsumerHeartbeatResponse {
    const g = this.state.groups.get(req.groupId);
    const m = g?.members.get(req.memberId);
    if (!g || !m) throw new CairnError(ErrorCode.UNKNOWN_MEMBER_ID, `group "${req.groupId}" has no member ${req.memberId}`);
    if (req.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH && m.subscription.instanceId !== null) {
      // Its partitions wait for an instance with the same id, until the session ends.
      if (m.assignment.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
        emit({ kind: 'current', groupId: g.groupId, memberId: m.memberId, value: { ...m.assignment, memberEpoch: LEAVE_GROUP_STATIC_MEMBER_EPOCH, previousMemberEpoch: m.assignment.memberEpoch } });
      }
    } else {
      this.removeMember(g, m.memberId, emit);
      this.clearTimers(g.groupId, m.memberId);
    }
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: '',
      memberId: req.memberId,
      memberEpoch: req.memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      assignment: null,
    };
  }

  /** A static member's new instance takes the place of the one that left: same partitions, same epoch, no rebalance unless its subscription changed. */
  private takeOverStaticMember(g: ConsumerGroup, old: Member, memberId: string, sub: MemberSubscription, emit: (r: GroupRecord) => void): boolean {
    const changed = assignmentInputsDiffer(sub, old.subscription);
    const assignment: MemberAssignment = { ...old.assignment, memberEpoch: old.assignment.previousMemberEpoch, previousMemberEpoch: -1 };
    const target = g.target.get(old.memberId) ?? NO_PARTITIONS;
    if (old.memberId !== memberId) {
      emit({ kind: 'current', groupId: g.groupId, memberId: old.memberId, value: null });
      emit({ kind: 'target', groupId: g.groupId, memberId: old.memberId, value: null });
      emit({ kind: 'member', groupId: g.groupId, memberId: old.memberId, value: null });
      this.clearTimers(g.groupId, old.memberId);
    }
    emit({ kind: 'member', groupId: g.groupId, memberId, value: sub });
    emit({ kind: 'target', groupId: g.groupId, memberId, value: target });
    emit({ kind: 'current', groupId: g.groupId, memberId, value: assignment });
    return changed;
  }

  private removeMember(g: ConsumerGroup, memberId: string, emit: (r: GroupRecord) => void): void {
    emit({ kind: 'current', groupId: g.groupId, memberId, value: null });
    emit({ kind: 'target', groupId: g.groupId, memberId, value: null });
    emit({ kind: 'member', groupId: g.groupId, memberId, value: null });
    emit({ kind: 'group', groupId: g.groupId, value: { epoch: g.epoch + 1, topics: g.topics } });
  }

  /** The target assignment at the group's epoch, from the assignor most members asked for. */
  private computeTargetAssignment(g: ConsumerGroup, emit: (r: GroupRecord) => void): void {
    const members = [...g.members.values()].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
    const spec: AssignmentMember[] = members.map((m) => ({
      memberId: m.memberId,
      instanceId: m.subscription.instanceId,
      topics: m.subscription.topics,
      current: g.target.get(m.memberId) ?? NO_PARTITIONS,
    }));
    const target = ASSIGNORS.get(chooseAssignor(members))!.assign({ members: spec, partitionCounts: g.topics });
    for (const m of members) {
      const tp = target.get(m.memberId) ?? NO_PARTITIONS;
      if (!equals(tp, g.target.get(m.memberId) ?? NO_PARTITIONS)) emit({ kind: 'target', groupId: g.groupId, memberId: m.memberId, value: tp });
    }
    emit({ kind: 'targetEpoch', groupId: g.groupId, value: g.epoch });
  }

  private subscriptionOf(req: ConsumerHeartbeatRequest, topics: readonly string[] | null, prev: MemberSubscription | undefined): MemberSubscription {
    return {
      instanceId: req.instanceId ?? prev?.instanceId ?? null,
      clientId: req.clientId,
      clientHost: req.clientHost,
      topics: topics ?? prev?.topics ?? [],
      rebalanceTimeoutMs: req.rebalanceTimeoutMs > 0 ? req.rebalanceTimeoutMs : (prev?.rebalanceTimeoutMs ?? 0),
      serverAssignor: req.serverAssignor ?? prev?.serverAssignor ?? null,
    };
  }

  // ---- offsets ----

  private doCommit(req: OffsetCommitRequest, wallMs: number, emit: (r: GroupRecord, apply?: boolean) => void, apply = true): OffsetCommitResponse {
    checkName(req.groupId, ErrorCode.INVALID_GROUP_ID, 'group id');
    const g = this.state.groups.get(req.groupId);
    if (req.memberEpoch < 0) {
      if (g && !g.isEmpty) throw new CairnError(ErrorCode.UNKNOWN_MEMBER_ID, `group "${req.groupId}" has members: commit as one of them`);
    } else {
      const m = g?.members.get(req.memberId);
      if (!m) throw new CairnError(ErrorCode.UNKNOWN_MEMBER_ID, `group "${req.groupId}" has no member ${req.memberId}`);
      if (req.memberEpoch !== m.assignment.memberEpoch) throw new CairnError(ErrorCode.STALE_MEMBER_EPOCH, `member epoch ${req.memberEpoch} is not the member's current ${m.assignment.memberEpoch}`);
    }
    const results = req.offsets.map((o): PartitionResult => {
      const result = (errorCode: ErrorCode, errorMessage = '') => ({ topic: o.topic, partition: o.partition, errorCode, errorMessage });
      if (typeof o.topic !== 'string' || o.topic.length === 0 || o.topic.length > MAX_NAME_LENGTH) return result(ErrorCode.INVALID_TOPIC_EXCEPTION, 'topic name is empty or too long');
      if (!Number.isSafeInteger(o.partition) || o.partition < 0) return result(ErrorCode.INVALID_REQUEST, `partition ${o.partition} is not valid`);
      if (!Number.isSafeInteger(o.offset) || o.offset < 0) return result(ErrorCode.INVALID_REQUEST, `offset ${o.offset} is not valid`);
      if (Buffer.byteLength(o.metadata, 'utf8') > this.config.offsetMetadataMaxBytes)
        return result(ErrorCode.OFFSET_METADATA_TOO_LARGE, `metadata is over offset.metadata.max.bytes ${this.config.offsetMetadataMaxBytes}`);
      emit(
        { kind: 'offset', groupId: req.groupId, topic: o.topic, partition: o.partition, value: { offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata, commitTimestampMs: wallMs } },
        apply,
      );
      return result(ErrorCode.NONE);
    });
    return { errorCode: ErrorCode.NONE, errorMessage: '', results };
  }

  // ---- plumbing ----

  /** Records go to `records`, and into the state at once unless `apply` is false (a transaction's offsets). */
  private emitter(records: GroupRecord[]): (r: GroupRecord, apply?: boolean) => void {
    return (r, apply = true) => {
      if (apply) this.state.replay(r);
      records.push(r);
    };
  }

  /** Runs a handler; a refusal (thrown before any record) becomes its error answer. */
  private run<T>(handler: (emit: (r: GroupRecord, apply?: boolean) => void) => T, refused: (err: CairnError) => T): CoordinatorResult<T> {
    const records: GroupRecord[] = [];
    try {
      return { records, response: handler(this.emitter(records)) };
    } catch (err) {
      // Every check comes before the first record: a failure after one is a bug, not a refusal.
      if (!(err instanceof CairnError) || records.length > 0) throw err;
      return { records: [], response: refused(err) };
    }
  }

  private clearTimers(groupId: string, memberId: string): void {
    this.sessionDeadlines.delete(timerKey(groupId, memberId));
    this.revocationDeadlines.delete(timerKey(groupId, memberId));
  }
}

const timerKey = (groupId: string, memberId: string) => JSON.stringify([groupId, memberId]);

function errorOf(err: CairnError): { errorCode: ErrorCode; errorMessage: string } {
  return { errorCode: err.code, errorMessage: err.message };
}
