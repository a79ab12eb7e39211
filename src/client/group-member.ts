import { ErrorCode, JOIN_GROUP_MEMBER_EPOCH, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH, TopicPartitionSets as tps, type TopicPartitions } from '../common';

export interface GroupMemberSettings {
  groupId: string;
  /** Chosen by the member (a UUID) and kept through retries (KIP-1082). */
  memberId: string;
  instanceId: string | null;
  rebalanceTimeoutMs: number;
  serverAssignor: string | null;
  clientId: string;
}

/** A heartbeat to send: `request` in the coordinator's terms; `id` comes back with its answer. */
export interface MemberHeartbeat {
  id: number;
  sentAt: number;
  request: {
    groupId: string;
    memberId: string;
    memberEpoch: number;
    instanceId: string | null;
    rebalanceTimeoutMs: number;
    subscribedTopicNames: readonly string[];
    serverAssignor: string | null;
    ownedPartitions: TopicPartitions;
    clientId: string;
  };
}

export interface MemberAnswer {
  errorCode: ErrorCode;
  errorMessage?: string;
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /** The coordinator's session timeout, when it says (Cairn does); else the member assumes its rebalance timeout. */
  sessionTimeoutMs?: number;
  assignment: TopicPartitions | null;
}

/**
 * What the member's shell must do:
 * - `revoke`: stop consuming these (commit their positions, call onRevoked), then call
 *   `revocationDone`;
 * - `assign`: start consuming these (from their committed offsets), call onAssigned;
 * - `lost`: stop consuming these at once, without committing (fenced, or past a deadline);
 * - `left`: the member has left; `rediscover`: find the coordinator again before the next heartbeat.
 */
export type MemberEffect =
  | { kind: 'revoke'; partitions: TopicPartitions }
  | { kind: 'assign'; partitions: TopicPartitions }
  | { kind: 'lost'; partitions: TopicPartitions; reason: string }
  | { kind: 'left' }
  | { kind: 'rediscover' };

/**
 * A consumer group member's side of KIP-848 (docs/groups.md, "What a member must do"), as a pure
 * state machine: answers and the time in, heartbeats and effects out. The shell (Consumer) sends
 * the heartbeats, consumes what the member owns and carries out the effects; the group simulation
 * drives the same class against the coordinator core through lost answers, pauses and failovers.
 */
export class GroupMemberCore {
  epoch = JOIN_GROUP_MEMBER_EPOCH;
  /** What the member consumes now (including partitions it is giving up). */
  owned: TopicPartitions = tps.NO_PARTITIONS;
  /**
   * A revocation: the partitions being given up, the assignment taken once done, and the send time
   * of the last answered heartbeat before the answer that asked for it (the coordinator asked after
   * that, so its rebalance deadline is later than `anchor` + the rebalance timeout). Kept after it
   * is done locally until an answer shows the coordinator heard so.
   */
  revoking: { partitions: TopicPartitions; then: TopicPartitions; anchor: number; done: boolean } | null = null;
  heartbeatIntervalMs = 3_000;
  private sessionTimeoutMs: number | null = null;
  private lastSuccessSentAt: number;
  private inFlight: { id: number; sentAt: number; owned: TopicPartitions; leaving: boolean } | null = null;
  private nextId = 1;
  private topics: readonly string[] = [];
  private leaving = false;
  left = false;

  constructor(
    readonly settings: GroupMemberSettings,
    nowMs: number,
  ) {
    this.lastSuccessSentAt = nowMs;
  }

  subscribe(topics: readonly string[]): void {
    this.topics = [...new Set(topics)].sort();
  }

  get subscription(): readonly string[] {
    return this.topics;
  }

  /**
   * Leaves the group: the member gives up everything it owns now (the shell commits and calls
   * onRevoked for what is returned) and its next heartbeat is the leave (epoch -2 for a static
   * member: its partitions wait for its return until its session ends).
   */
  leave(): TopicPartitions {
    const owned = this.owned;
    this.owned = tps.NO_PARTITIONS;
    this.revoking = null;
    this.leaving = true;
    this.inFlight = null;
    return owned;
  }

  /** The heartbeat to send now, or null while one is in flight (or after leaving). */
  heartbeat(nowMs: number): MemberHeartbeat | null {
    if (this.inFlight !== null || this.left) return null;
    const s = this.settings;
    const leaving = this.leaving;
    const memberEpoch = leaving ? (s.instanceId !== null ? LEAVE_GROUP_STATIC_MEMBER_EPOCH : LEAVE_GROUP_MEMBER_EPOCH) : this.epoch;
    const owned = this.epoch === JOIN_GROUP_MEMBER_EPOCH ? tps.NO_PARTITIONS : this.owned;
    this.inFlight = { id: this.nextId++, sentAt: nowMs, owned, leaving };
    return {
      id: this.inFlight.id,
      sentAt: nowMs,
      request: {
        groupId: s.groupId,
        memberId: s.memberId,
        memberEpoch,
        instanceId: s.instanceId,
        rebalanceTimeoutMs: s.rebalanceTimeoutMs,
        subscribedTopicNames: this.topics,
        serverAssignor: s.serverAssignor,
        ownedPartitions: owned,
        clientId: s.clientId,
      },
    };
  }

  /** The heartbeat `id` got no answer (timeout, broken connection): the next one may go. */
  onNoAnswer(id: number): void {
    if (this.inFlight?.id === id) this.inFlight = null;
  }

  onAnswer(id: number, res: MemberAnswer): MemberEffect[] {
    const sent = this.inFlight;
    // An answer to a heartbeat sent before the member dropped everything must hand nothing back.
    if (sent === null || sent.id !== id) return [];
    this.inFlight = null;
    if (sent.leaving) {
      if (res.errorCode !== ErrorCode.NONE && res.errorCode !== ErrorCode.UNKNOWN_MEMBER_ID) return this.retriable(res.errorCode);
      this.left = true;
      return [{ kind: 'left' }];
    }
    if (res.errorCode === ErrorCode.FENCED_MEMBER_EPOCH || res.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) return this.lose(`${ErrorCode[res.errorCode]}: ${res.errorMessage ?? ''}`);
    if (res.errorCode !== ErrorCode.NONE) return this.retriable(res.errorCode);
    this.epoch = res.memberEpoch;
    this.heartbeatIntervalMs = res.heartbeatIntervalMs;
    if (res.sessionTimeoutMs !== undefined && res.sessionTimeoutMs > 0) this.sessionTimeoutMs = res.sessionTimeoutMs;
    const previousSuccess = this.lastSuccessSentAt;
    this.lastSuccessSentAt = sent.sentAt;
    // A revocation is over for the coordinator once an answer shows it heard that it was done.
    const r = this.revoking;
    if (r?.done && !tps.intersects(sent.owned, r.partitions) && (res.assignment === null || tps.isEmpty(tps.minus(sent.owned, res.assignment)))) this.revoking = null;
    if (res.assignment === null) return [];
    const revoke = tps.minus(this.owned, res.assignment);
    if (tps.isEmpty(revoke)) {
      const added = tps.minus(res.assignment, this.owned);
      this.owned = res.assignment;
      if (this.revoking && !this.revoking.done) this.revoking = null;
      return tps.isEmpty(added) ? [] : [{ kind: 'assign', partitions: added }];
    }
    if (this.revoking && !this.revoking.done) {
      const more = tps.minus(revoke, this.revoking.partitions);
      this.revoking = { ...this.revoking, partitions: revoke, then: res.assignment };
      return tps.isEmpty(more) ? [] : [{ kind: 'revoke', partitions: more }];
    }
    this.revoking = { partitions: revoke, then: res.assignment, anchor: previousSuccess, done: false };
    return [{ kind: 'revoke', partitions: revoke }];
  }

  /**
   * The shell has given up what it was asked to: the member owns the new assignment now (the
   * partitions returned are those it stopped consuming), and its next heartbeat says so.
   */
  revocationDone(): TopicPartitions {
    const r = this.revoking;
    if (r === null || r.done) return tps.NO_PARTITIONS;
    const removed = tps.minus(this.owned, r.then);
    this.owned = r.then;
    this.revoking = { ...r, done: true };
    return removed;
  }

  /** The member's own deadlines (docs/groups.md rule 3): everything is lost once one passes. */
  checkDeadlines(nowMs: number): MemberEffect[] {
    if (!tps.isEmpty(this.owned) && nowMs >= this.lastSuccessSentAt + this.sessionLimitMs() - 1) return this.lose('no heartbeat answered within the session');
    if (this.revoking && nowMs >= this.revoking.anchor + this.settings.rebalanceTimeoutMs - 1) return this.lose('partitions not given up within the rebalance timeout');
    return [];
  }

  /** When `checkDeadlines` next has something to do (Infinity: nothing pending). */
  nextDeadline(): number {
    let at = Infinity;
    if (!tps.isEmpty(this.owned)) at = this.lastSuccessSentAt + this.sessionLimitMs() - 1;
    if (this.revoking) at = Math.min(at, this.revoking.anchor + this.settings.rebalanceTimeoutMs - 1);
    return at;
  }

  private sessionLimitMs(): number {
    return Math.min(this.sessionTimeoutMs ?? this.settings.rebalanceTimeoutMs, this.settings.rebalanceTimeoutMs);
  }

  private lose(reason: string): MemberEffect[] {
    const lost = this.owned;
    this.owned = tps.NO_PARTITIONS;
    this.revoking = null;
    this.epoch = JOIN_GROUP_MEMBER_EPOCH;
    this.inFlight = null;
    return tps.isEmpty(lost) ? [] : [{ kind: 'lost', partitions: lost, reason }];
  }

  private retriable(code: ErrorCode): MemberEffect[] {
    const moved = code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE || code === ErrorCode.NETWORK_EXCEPTION;
    return moved ? [{ kind: 'rediscover' }] : [];
  }
}
