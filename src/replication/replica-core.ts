/**
 * The replication core of one broker (design brief §6), a pure state machine in the style of
 * RaftCore: events and `nowMs` in, effects out (`takeEffects`), a deadline for the next `tick`.
 * It reads logs through `ReplicaLogView`s and never touches files, sockets, timers or clocks; the
 * shell (replica-driver.ts) applies its effects and reports what happened.
 *
 * It owns every replication decision of the broker:
 * - roles: leader or follower of each hosted partition, from its registration, and only once this
 *   incarnation's registration is in the image (`admitImage`);
 * - the leader's ISR bookkeeping (LeaderState: follower progress, the high watermark over the
 *   maximal ISR from fsynced offsets, min.insync.replicas), ISR shrink and expansion as
 *   AlterPartition requests, one in flight per partition, retried while the outcome is unknown;
 * - the acks=all wait: which produces complete, time out, or fail when leadership moves;
 * - the follower's fetch scheduling and its reaction to the leader's answers, delegated to its
 *   FollowerFetcher (follower-fetcher.ts): one request in flight per partition, grouped by leader,
 *   the next fetch only after the fetched data is fsynced, truncation where the logs diverge.
 *
 * Driver loop (the shell): call an input, then `takeEffects()` and apply them in order until it
 * returns nothing (applying one may report back, which queues more), then arm a timer for
 * `nextDeadlineMs` and call `tick` then.
 */
import { ErrorCode, tpKey } from '../common';
import type { ReplicaFetchPartition, ReplicaFetchResponse } from '../protocol';
import { checkFollowerFetch, type FollowerFetchCheck } from './fetch-validation';
import { FollowerFetcher } from './follower-fetcher';
import { LeaderState } from './leader-state';
import { PartitionState, type PartitionStatus, type ProduceWaiter } from './partition-state';
import type { AlterPartitionItem, AlterPartitionOutcome, PartitionAssignment, ReplicaCoreOptions, ReplicaEffect, ReplicaLogView, ReplicaRefusal } from './replica-types';

export const DEFAULT_ALTER_PARTITION_RETRY_MS = 200;
/** Bound on acks=all produces waiting for one partition's high watermark (style §3). */
export const MAX_ACKS_WAITERS_PER_PARTITION = 16_384;

export type FollowerFetchVerdict = FollowerFetchCheck | { kind: 'refused'; refusal: ReplicaRefusal };

export class ReplicaCore {
  private readonly partitions = new Map<string, PartitionState>();
  private readonly fetcher: FollowerFetcher;
  private out: ReplicaEffect[] = [];
  private seq = 0;
  private registered = false;
  private wakeMs = Infinity;
  private nextIsrCheckMs: number;
  private readonly isrCheckIntervalMs: number;
  private readonly alterRetryMs: number;

  constructor(
    private readonly o: ReplicaCoreOptions,
    nowMs: number,
  ) {
    // Kafka looks for lagging followers at half the lag time.
    this.isrCheckIntervalMs = Math.max(100, Math.floor(o.replicaLagTimeMaxMs / 2));
    this.nextIsrCheckMs = nowMs + this.isrCheckIntervalMs;
    this.alterRetryMs = o.alterPartitionRetryMs ?? DEFAULT_ALTER_PARTITION_RETRY_MS;
    this.fetcher = new FollowerFetcher({
      options: o,
      emit: (effect) => this.out.push(effect),
      wakeAt: (ms) => {
        if (ms < this.wakeMs) this.wakeMs = ms;
      },
      hosts: (st) => this.partitions.get(st.tp) === st,
      nextRequestId: () => ++this.seq,
    });
  }

  // ---- outputs ----

  /** The effects queued since the last call, in the order they must be applied. */
  takeEffects(): ReplicaEffect[] {
    const out = this.out;
    if (out.length === 0) return out;
    this.out = [];
    return out;
  }

  /** Call tick() no later than this (Infinity: nothing timed is pending). */
  get nextDeadlineMs(): number {
    return Math.min(this.wakeMs, this.nextIsrCheckMs);
  }

  status(tp: string): PartitionStatus | undefined {
    return this.partitions.get(tp);
  }

  // ---- metadata ----

  /**
   * Whether to act on a new metadata image. A restarted broker acts on partition state only once
   * this incarnation's registration is in the image: the controller moved the previous
   * incarnation's leaderships in that same batch, so it never resumes leading at an old epoch
   * with a log that lost its un-fsynced tail (found by the replication simulation). 'all': the
   * first admitted image, whose every partition applies; 'changes': only what changed.
   */
  admitImage(thisIncarnationRegistered: boolean): 'ignore' | 'all' | 'changes' {
    if (!this.registered && !thisIncarnationRegistered) return 'ignore';
    const first = !this.registered;
    this.registered = true;
    return first ? 'all' : 'changes';
  }

  /** A hosted partition's registration (new or changed): become leader or follower, settle ISR changes. */
  applyAssignment(a: PartitionAssignment, view: ReplicaLogView, minInsync: number, nowMs: number): void {
    const tp = tpKey(a.topic, a.partition);
    let st = this.partitions.get(tp);
    const isNew = st === undefined || st.view !== view;
    if (st !== undefined && st.view !== view) this.removePartition(tp);
    if (st === undefined || isNew) {
      st = new PartitionState(tp, a.topic, a.partition, a.topicId, view, a);
      this.partitions.set(tp, st);
    }
    const wasLeader = st.role === 'leader';
    const previousPartitionEpoch = st.partitionEpoch;
    st.replicas = a.replicas;
    st.isr = a.isr;
    st.partitionEpoch = a.partitionEpoch;
    st.minInsync = minInsync;
    if (a.leader === this.o.nodeId) {
      if (!wasLeader || a.leaderEpoch !== st.leaderEpoch || st.leader === null) {
        this.becomeLeader(st, a, nowMs);
        return;
      }
      const leader = st.leader;
      const settled = a.partitionEpoch !== previousPartitionEpoch;
      leader.minInsync = minInsync;
      if (settled) st.isrChange = null;
      if (leader.setIsr(a.isr, a.replicas, settled)) this.onLeaderHighWatermark(st);
      return;
    }
    const changed = isNew || wasLeader || a.leaderEpoch !== st.leaderEpoch || a.leader !== st.leaderId;
    st.role = 'follower';
    st.leader = null;
    st.isrChange = null;
    st.leaderId = a.leader;
    st.leaderEpoch = a.leaderEpoch;
    if (wasLeader) this.failWaiters(st, ErrorCode.NOT_LEADER_OR_FOLLOWER, `leadership of ${tp} moved before the write was replicated; it may or may not survive`);
    if (changed) this.out.push({ kind: 'becameFollower', tp, leaderId: a.leader, leaderEpoch: a.leaderEpoch, wasLeader });
    this.fetcher.follow(st, a.leader, nowMs);
  }

  /** The partition is no longer hosted here (deleted, moved away, or its log replaced). */
  removePartition(tp: string): void {
    const st = this.partitions.get(tp);
    if (st === undefined) return;
    this.partitions.delete(tp);
    this.fetcher.unfollow(st);
    st.role = 'follower';
    st.leader = null;
    st.isrChange = null;
    this.failWaiters(st, ErrorCode.NOT_LEADER_OR_FOLLOWER, `${tp} is no longer hosted on broker ${this.o.nodeId}; the write may or may not survive`);
  }

  /** The leader's bookkeeping for a new leadership; the whole-cluster simulation's seeded bugs override it. */
  protected createLeaderState(a: PartitionAssignment, v: ReplicaLogView, nowMs: number, minInsync: number): LeaderState {
    return new LeaderState(this.o.nodeId, a.replicas, a.isr, a.leaderEpoch, v.highWatermark, v.durableEndOffset, nowMs, v.logEndOffset, minInsync);
  }

  private becomeLeader(st: PartitionState, a: PartitionAssignment, nowMs: number): void {
    this.fetcher.unfollow(st);
    st.role = 'leader';
    st.leaderId = a.leader;
    st.leaderEpoch = a.leaderEpoch;
    st.isrChange = null;
    const v = st.view;
    // Record where this epoch starts now, not at the first append: followers with records from a
    // deposed leader learn where to truncate even before anything new is written (KIP-101).
    this.out.push({ kind: 'becameLeader', tp: st.tp, leaderEpoch: a.leaderEpoch, isr: a.isr, epochStartOffset: v.isOffline ? null : v.logEndOffset });
    st.leader = this.createLeaderState(a, v, nowMs, st.minInsync);
    if (st.leader.updateLocal(v.durableEndOffset)) this.onLeaderHighWatermark(st);
    // Records fetched as a follower and not yet fsynced: their fsync must reach the high watermark
    // even if no write follows (a retried idempotent batch already in the log writes nothing, and
    // its producer waits for exactly these offsets).
    if (!v.isOffline && v.durableEndOffset < v.logEndOffset) this.out.push({ kind: 'awaitLocalDurable', tp: st.tp, offset: v.logEndOffset });
  }

  // ---- the leader: produce ----

  /** Why this replica cannot answer as leader at `expectedEpoch` (-1: any), or null. */
  leaderRefusal(tp: string, expectedEpoch = -1): ReplicaRefusal | null {
    const st = this.partitions.get(tp);
    if (st === undefined) return { code: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: `broker ${this.o.nodeId} does not host ${tp}` };
    // A damaged local replica says so, whatever the metadata says about leadership since.
    if (st.view.isOffline) return { code: ErrorCode.KAFKA_STORAGE_ERROR, message: `${tp} is offline on broker ${this.o.nodeId}: ${st.view.offlineMessage}` };
    if (st.role !== 'leader' && st.leaderId < 0) return { code: ErrorCode.LEADER_NOT_AVAILABLE, message: `${tp} has no leader (no in-sync replica can lead)` };
    if (st.role !== 'leader') return { code: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: `broker ${this.o.nodeId} is not the leader of ${tp} (leader: ${st.leaderId})` };
    if (expectedEpoch >= 0 && expectedEpoch < st.leaderEpoch) return { code: ErrorCode.FENCED_LEADER_EPOCH, message: `leader epoch ${expectedEpoch} is older than ${st.leaderEpoch}` };
    if (expectedEpoch > st.leaderEpoch) return { code: ErrorCode.UNKNOWN_LEADER_EPOCH, message: `leader epoch ${expectedEpoch} is newer than ${st.leaderEpoch}` };
    return null;
  }

  /** Whether a produce with `acks` may append now; null when it may. Nothing changes either way. */
  appendRefusal(tp: string, acks: number, minInsync: number): ReplicaRefusal | null {
    const refusal = this.leaderRefusal(tp);
    if (refusal !== null || acks !== -1) return refusal;
    const st = this.partitions.get(tp)!;
    if (st.isr.length < minInsync) {
      return { code: ErrorCode.NOT_ENOUGH_REPLICAS, message: `${tp} has ${st.isr.length} in-sync replica(s) [${st.isr.join(',')}], min.insync.replicas is ${minInsync}` };
    }
    if (st.waiting >= MAX_ACKS_WAITERS_PER_PARTITION) {
      return { code: ErrorCode.THROTTLING_QUOTA_EXCEEDED, message: `${st.waiting} acks=all writes already wait for ${tp} (the limit); nothing was appended, retry after a backoff` };
    }
    return null;
  }

  /**
   * An acks=all produce `id` appended everything below `endOffset` as leader: it completes
   * (`completeProduce`) once the high watermark reaches `endOffset`, with
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR is then below `minInsync`, NOT_LEADER_OR_FOLLOWER
   * if leadership moves first, REQUEST_TIMED_OUT at `deadlineMs`.
   */
  awaitHighWatermark(tp: string, id: number, endOffset: number, minInsync: number, deadlineMs: number): void {
    const st = this.partitions.get(tp);
    if (st === undefined || st.role !== 'leader') {
      this.out.push({ kind: 'completeProduce', id, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: `broker ${this.o.nodeId} no longer leads ${tp}; the write may or may not survive` });
      return;
    }
    const w: ProduceWaiter = { id, endOffset, minInsync, deadlineMs };
    if (st.leader!.highWatermark >= endOffset) {
      this.complete(st, w);
      return;
    }
    st.waiters.push(w);
    if (deadlineMs < this.wakeMs) this.wakeMs = deadlineMs;
  }

  /** The local log made more data durable: a leader's high watermark may advance. */
  localDurable(tp: string): void {
    const st = this.partitions.get(tp);
    if (st?.leader == null) return;
    if (st.leader.updateLocal(st.view.durableEndOffset)) this.onLeaderHighWatermark(st);
  }

  private onLeaderHighWatermark(st: PartitionState): void {
    const hw = st.leader!.highWatermark;
    this.out.push({ kind: 'highWatermark', tp: st.tp, highWatermark: hw });
    const ws = st.waiters;
    let i = st.waiterHead;
    while (i < ws.length && ws[i]!.endOffset <= hw) this.complete(st, ws[i++]!);
    this.dropWaiters(st, i);
  }

  private complete(st: PartitionState, w: ProduceWaiter): void {
    if (st.isr.length < w.minInsync) {
      this.out.push({
        kind: 'completeProduce',
        id: w.id,
        errorCode: ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        message: `written, but the ISR [${st.isr.join(',')}] fell below min.insync.replicas ${w.minInsync}`,
      });
    } else {
      this.out.push({ kind: 'completeProduce', id: w.id, errorCode: ErrorCode.NONE, message: '' });
    }
  }

  /** Forgets waiters before index `head` (already answered). */
  private dropWaiters(st: PartitionState, head: number): void {
    st.waiterHead = head;
    if (head === st.waiters.length) {
      st.waiters.length = 0;
      st.waiterHead = 0;
    } else if (head > 1024 && head * 2 > st.waiters.length) {
      st.waiters = st.waiters.slice(head);
      st.waiterHead = 0;
    }
  }

  private failWaiters(st: PartitionState, code: ErrorCode, message: string): void {
    for (let i = st.waiterHead; i < st.waiters.length; i++) this.out.push({ kind: 'completeProduce', id: st.waiters[i]!.id, errorCode: code, message });
    this.dropWaiters(st, st.waiters.length);
  }

  // ---- the leader: follower fetches and the ISR ----

  /**
   * Follower `replicaId` fetches `tp` from this leader. Checks leadership and membership, then the
   * follower's log against this one (KIP-320); when they agree, records its progress — the high
   * watermark may move (only by what it has fsynced) and a caught-up follower is proposed for the
   * ISR. The verdict says what to answer: data ('ok'), a diverging epoch, out of range, or a refusal.
   */
  followerFetch(tp: string, replicaId: number, fp: Pick<ReplicaFetchPartition, 'fetchOffset' | 'durableOffset' | 'currentLeaderEpoch' | 'lastFetchedEpoch'>, nowMs: number): FollowerFetchVerdict {
    const refusal = this.leaderRefusal(tp, fp.currentLeaderEpoch);
    if (refusal !== null) return { kind: 'refused', refusal };
    const st = this.partitions.get(tp)!;
    if (!st.replicas.includes(replicaId)) return { kind: 'refused', refusal: { code: ErrorCode.REPLICA_NOT_AVAILABLE, message: `broker ${replicaId} is not a replica of ${tp}` } };
    const check = checkFollowerFetch(st.view, fp.fetchOffset, fp.lastFetchedEpoch);
    if (check.kind !== 'ok') return check;
    const leader = st.leader!;
    const { hwChanged, shouldExpand } = leader.updateFollower(replicaId, fp.fetchOffset, fp.durableOffset, st.view.logEndOffset, nowMs);
    if (hwChanged) this.onLeaderHighWatermark(st);
    if (shouldExpand && st.isrChange === null && !st.isr.includes(replicaId)) {
      leader.pendingAdditions.add(replicaId);
      this.sendIsrChange(st, [...st.isr, replicaId], 'expand');
    }
    return check;
  }

  private sendIsrChange(st: PartitionState, newIsr: number[], change: 'shrink' | 'expand'): void {
    const item: AlterPartitionItem = { topicId: st.topicId, partition: st.partition, leaderEpoch: st.leaderEpoch, partitionEpoch: st.partitionEpoch, newIsr };
    st.isrChange = { requestId: ++this.seq, item, change, retryAtMs: Infinity };
    this.out.push({ kind: 'sendAlterPartition', tp: st.tp, requestId: st.isrChange.requestId, item, change, isr: st.isr, retry: false });
  }

  /**
   * The controller answered AlterPartition `requestId` (null: no answer, outcome unknown).
   * Accepted: the metadata brings the new ISR (applyAssignment settles). Unknown: asked again,
   * never taken as a refusal — the controller may have committed it, and a leader that stopped
   * counting a follower the controller put in the ISR could acknowledge writes that follower lacks
   * (found by the replication simulation). Refused with the partition epoch unchanged: settled now.
   */
  alterPartitionResponse(tp: string, requestId: number, outcome: AlterPartitionOutcome | null, nowMs: number): void {
    const st = this.partitions.get(tp);
    const change = st?.isrChange;
    // A late answer to an older request, or the metadata settled it meanwhile: nothing to do.
    if (st === undefined || change == null || change.requestId !== requestId || st.leader === null) return;
    if (outcome === null) {
      change.retryAtMs = nowMs + this.alterRetryMs;
      if (change.retryAtMs < this.wakeMs) this.wakeMs = change.retryAtMs;
      return;
    }
    if (outcome.errorCode === ErrorCode.NONE) return;
    // Refused with nothing changed at the controller: settle now. Otherwise the partition has
    // moved on there, and only the metadata (a newer partition epoch) says to what.
    if (outcome.partitionEpoch === change.item.partitionEpoch) {
      st.isrChange = null;
      if (st.leader.setIsr(st.isr, st.replicas, true)) this.onLeaderHighWatermark(st);
    }
  }

  // ---- time ----

  tick(nowMs: number): void {
    this.wakeMs = Infinity;
    const shrink = nowMs >= this.nextIsrCheckMs;
    if (shrink) this.nextIsrCheckMs = nowMs + this.isrCheckIntervalMs;
    for (const st of this.partitions.values()) if (st.role === 'leader') this.tickLeader(st, nowMs, shrink);
    this.fetcher.tick(nowMs);
  }

  private tickLeader(st: PartitionState, nowMs: number, shrink: boolean): void {
    const leader = st.leader!;
    const change = st.isrChange;
    if (change !== null && change.retryAtMs <= nowMs) {
      change.retryAtMs = Infinity;
      this.out.push({ kind: 'sendAlterPartition', tp: st.tp, requestId: change.requestId, item: change.item, change: change.change, isr: st.isr, retry: true });
    } else if (change !== null && change.retryAtMs < this.wakeMs) {
      this.wakeMs = change.retryAtMs;
    }
    if (shrink && st.isrChange === null) {
      const lagging = leader.laggingReplicas(nowMs, this.o.replicaLagTimeMaxMs);
      if (lagging.length > 0) {
        for (const id of lagging) leader.pendingRemovals.add(id);
        this.sendIsrChange(
          st,
          st.isr.filter((r) => !lagging.includes(r)),
          'shrink',
        );
      }
    }
    // Produces past their deadline: answered, their outcome unknown.
    const ws = st.waiters;
    let expired = false;
    for (let i = st.waiterHead; i < ws.length; i++) {
      const w = ws[i]!;
      if (w.deadlineMs <= nowMs) expired = true;
      else if (w.deadlineMs < this.wakeMs) this.wakeMs = w.deadlineMs;
    }
    if (!expired) return;
    const live: ProduceWaiter[] = [];
    for (let i = st.waiterHead; i < ws.length; i++) {
      const w = ws[i]!;
      if (w.deadlineMs > nowMs) live.push(w);
      else this.out.push({ kind: 'completeProduce', id: w.id, errorCode: ErrorCode.REQUEST_TIMED_OUT, message: `not replicated to the ISR within its timeout; the write may still become visible` });
    }
    st.waiters = live;
    st.waiterHead = 0;
  }

  // ---- the follower (follower-fetcher.ts) ----

  /** The leader answered fetch `requestId` (null: it failed, outcome unknown). */
  fetchResponse(requestId: number, res: ReplicaFetchResponse | null, nowMs: number): void {
    this.fetcher.fetchResponse(requestId, res, nowMs);
  }

  /** The shell applied a `truncate`, `resetToLeaderStart` or `append` of fetch `requestId` (`failed`: it threw). */
  followerWriteDone(tp: string, requestId: number, failed: boolean, nowMs: number): void {
    this.fetcher.followerWriteDone(tp, requestId, failed, nowMs);
  }

  /** Everything an `awaitDurable` of fetch `requestId` asked for is fsynced (or the fsync failed). */
  followerDurable(tp: string, requestId: number, nowMs: number): void {
    this.fetcher.followerDurable(tp, requestId, nowMs);
  }
}

export type { PartitionStatus, Role } from './partition-state';
