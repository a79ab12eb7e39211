/**
 * The follower half of the replication core (replica-core.ts): fetch scheduling and the reaction to
 * the leader's answers, for every partition this broker follows. Pure, like the core that owns it:
 * it queues effects through its host and never touches files, sockets, timers or clocks.
 *
 * - One fetch request in flight per partition, grouped by leader; a partition fetches again only
 *   once its answer came and what it fetched is fsynced (the next fetch reports it as durable).
 * - Backoff after errors; a partition that starts being followed while a long poll for the others
 *   is parked on the leader goes out at once in a request of its own (commit 5474055).
 * - An answer applies only while nothing moved: same request, epoch and log end as when it went out.
 *   It appends, truncates where the logs diverge (`followerTruncation`), restarts at the leader's
 *   log start, and follows the leader's high watermark.
 */
import { ErrorCode, type LeaderEpoch } from '../common';
import type { ReplicaFetchPartition, ReplicaFetchResponse, ReplicaFetchResult } from '../protocol';
import { followerTruncation } from './fetch-validation';
import type { PartitionState } from './partition-state';
import type { ReplicaCoreOptions, ReplicaEffect } from './replica-types';

export const DEFAULT_FETCH_BACKOFF_MS = 200;
export const DEFAULT_REPLICA_FETCH_WAIT_MAX_MS = 500;
export const DEFAULT_REPLICA_FETCH_MAX_BYTES = 32 * 1024 * 1024;
export const DEFAULT_REPLICA_FETCH_PARTITION_MAX_BYTES = 8 * 1024 * 1024;

/** What the fetcher needs from the core that owns it. */
export interface FetcherHost {
  readonly options: ReplicaCoreOptions;
  /** Queue an effect for the shell, after those already queued. */
  emit(effect: ReplicaEffect): void;
  /** Call tick() no later than `ms`. */
  wakeAt(ms: number): void;
  /** `st` is still the state of a hosted partition (not removed or replaced since). */
  hosts(st: PartitionState): boolean;
  /** A request id unique within the core. */
  nextRequestId(): number;
}

interface FetchEntry {
  readonly state: PartitionState;
  readonly leaderEpoch: LeaderEpoch;
  readonly fetchOffset: number;
  leaderHighWatermark: number;
  /** A write or an fsync of this partition is still to be reported. */
  pending: boolean;
  appending: boolean;
}

interface FetchRequest {
  readonly requestId: number;
  readonly leaderId: number;
  readonly entries: FetchEntry[];
  /** Entries with a report still to come; the partitions fetch again once it is 0 and the answer came. */
  pending: number;
  answered: boolean;
}

export class FollowerFetcher {
  /** Follower partitions grouped by the leader they fetch from. */
  private readonly following = new Map<number, Set<PartitionState>>();
  private readonly fetches = new Map<number, FetchRequest>();
  private readonly backoffMs: number;
  private readonly waitMaxMs: number;
  private readonly maxBytes: number;
  private readonly partitionMaxBytes: number;

  constructor(private readonly host: FetcherHost) {
    const o = host.options;
    this.backoffMs = o.fetchBackoffMs ?? DEFAULT_FETCH_BACKOFF_MS;
    this.waitMaxMs = o.replicaFetchWaitMaxMs ?? DEFAULT_REPLICA_FETCH_WAIT_MAX_MS;
    this.maxBytes = o.replicaFetchMaxBytes ?? DEFAULT_REPLICA_FETCH_MAX_BYTES;
    this.partitionMaxBytes = o.replicaFetchPartitionMaxBytes ?? DEFAULT_REPLICA_FETCH_PARTITION_MAX_BYTES;
  }

  /** Partitions past their backoff go out; those still in it set the next deadline through `wakeAt`. */
  tick(nowMs: number): void {
    for (const leaderId of this.following.keys()) this.pump(leaderId, nowMs);
  }

  /** Fetch `st` from `leaderId` (negative or this broker: stop fetching it). */
  follow(st: PartitionState, leaderId: number, nowMs: number): void {
    if (st.fetchLeader === leaderId) return;
    this.unfollow(st);
    if (leaderId < 0 || leaderId === this.host.options.nodeId) return;
    st.fetchLeader = leaderId;
    let group = this.following.get(leaderId);
    if (group === undefined) {
      group = new Set();
      this.following.set(leaderId, group);
    }
    group.add(st);
    this.pump(leaderId, nowMs);
  }

  /** Stop fetching `st`; an answer still out for it is ignored. */
  unfollow(st: PartitionState): void {
    if (st.fetchLeader < 0) return;
    const group = this.following.get(st.fetchLeader);
    group?.delete(st);
    if (group?.size === 0) this.following.delete(st.fetchLeader);
    st.fetchLeader = -1;
    // An answer to a request still out for it is ignored (fetchRequestId no longer matches).
    st.fetchRequestId = 0;
    st.retryAtMs = 0;
  }

  /**
   * Sends one request to `leaderId` for every partition that is due: not in a request already
   * (answered and fsynced), past its backoff, log online. A partition that starts being followed
   * while a long poll for the others is parked on the leader goes out at once in a request of its
   * own rather than waiting up to replica.fetch.wait.max.ms behind it (commit 5474055).
   */
  private pump(leaderId: number, nowMs: number): void {
    const group = this.following.get(leaderId);
    if (group === undefined) return;
    let due: PartitionState[] | null = null;
    for (const st of group) {
      if (st.fetchRequestId !== 0 || st.view.isOffline) continue;
      if (st.retryAtMs > nowMs) {
        this.host.wakeAt(st.retryAtMs);
        continue;
      }
      (due ??= []).push(st);
    }
    if (due === null) return;
    const requestId = this.host.nextRequestId();
    const entries: FetchEntry[] = [];
    const partitions: ReplicaFetchPartition[] = [];
    for (const st of due) {
      const v = st.view;
      st.fetchRequestId = requestId;
      entries.push({ state: st, leaderEpoch: st.leaderEpoch, fetchOffset: v.logEndOffset, leaderHighWatermark: -1, pending: false, appending: false });
      partitions.push({
        topic: st.topic,
        partition: st.partition,
        fetchOffset: v.logEndOffset,
        durableOffset: v.durableEndOffset,
        currentLeaderEpoch: st.leaderEpoch,
        lastFetchedEpoch: v.latestEpoch,
        maxBytes: this.partitionMaxBytes,
      });
    }
    this.fetches.set(requestId, { requestId, leaderId, entries, pending: 0, answered: false });
    this.host.emit({
      kind: 'sendFetch',
      leaderId,
      requestId,
      partitions,
      maxWaitMs: this.waitMaxMs,
      maxBytes: this.maxBytes,
    });
  }

  /** The answer still applies to this partition: same request, epoch and log end as when it went out. */
  private applies(e: FetchEntry, requestId: number): boolean {
    const st = e.state;
    return this.host.hosts(st) && st.fetchRequestId === requestId && st.role === 'follower' && st.leaderEpoch === e.leaderEpoch && st.view.logEndOffset === e.fetchOffset;
  }

  /** The leader answered fetch `requestId` (null: it failed, outcome unknown). */
  fetchResponse(requestId: number, res: ReplicaFetchResponse | null, nowMs: number): void {
    const req = this.fetches.get(requestId);
    if (req === undefined || req.answered) return;
    req.answered = true;
    if (res === null) {
      for (const e of req.entries) if (this.applies(e, requestId)) this.backOff(e.state, nowMs);
      this.maybeRelease(req, nowMs);
      return;
    }
    for (let i = 0; i < req.entries.length; i++) {
      const e = req.entries[i]!;
      const r = resultFor(res.results, i, e.state);
      // Leadership or the log moved while the fetch was out: its answer no longer applies.
      if (r === undefined || !this.applies(e, requestId)) continue;
      this.onResult(req, e, r, nowMs);
    }
    this.maybeRelease(req, nowMs);
  }

  private onResult(req: FetchRequest, e: FetchEntry, r: ReplicaFetchResult, nowMs: number): void {
    const st = e.state;
    const v = st.view;
    const requestId = req.requestId;
    if (r.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
      if (v.logEndOffset < r.logStartOffset) {
        // Everything this replica has is below what the leader still keeps (retention moved on).
        this.write(req, e, { kind: 'resetToLeaderStart', tp: st.tp, requestId, offset: r.logStartOffset, reason: 'behind-leader-start' });
      } else if (v.logEndOffset > r.logEndOffset) {
        // Past the leader's end without a diverging epoch (no epochs to compare): cut back to it, never wipe.
        this.write(req, e, { kind: 'truncate', tp: st.tp, requestId, offset: r.logEndOffset, reason: 'past-leader-end' });
      }
      return;
    }
    if (r.errorCode !== ErrorCode.NONE) {
      this.backOff(st, nowMs);
      return;
    }
    if (r.divergingEpoch) {
      const t = followerTruncation(v, r.divergingEpoch.epoch, r.divergingEpoch.endOffset);
      if (t.kind === 'reset-to-leader-start') this.write(req, e, { kind: 'resetToLeaderStart', tp: st.tp, requestId, offset: r.logStartOffset, reason: 'diverged' });
      else this.write(req, e, { kind: 'truncate', tp: st.tp, requestId, offset: t.offset, reason: 'diverged' });
      return;
    }
    e.leaderHighWatermark = r.highWatermark;
    if (r.batches !== undefined && r.batches.length > 0) {
      e.appending = true;
      this.write(req, e, { kind: 'append', tp: st.tp, requestId, batches: r.batches });
      return;
    }
    this.afterAppend(req, e);
  }

  private write(req: FetchRequest, e: FetchEntry, effect: ReplicaEffect): void {
    e.pending = true;
    req.pending++;
    this.host.emit(effect);
  }

  /** The leader's high watermark, as far as this log reaches; then fsync what was fetched before fetching again. */
  private afterAppend(req: FetchRequest, e: FetchEntry): void {
    const v = e.state.view;
    const hw = Math.min(e.leaderHighWatermark, v.logEndOffset);
    if (hw > v.highWatermark) this.host.emit({ kind: 'highWatermark', tp: e.state.tp, highWatermark: hw });
    // The next fetch reports these offsets as durable, so wait for their fsync first.
    if (v.logEndOffset > v.durableEndOffset) this.write(req, e, { kind: 'awaitDurable', tp: e.state.tp, requestId: req.requestId, offset: v.logEndOffset });
  }

  /** The shell applied a `truncate`, `resetToLeaderStart` or `append` of fetch `requestId` (`failed`: it threw). */
  followerWriteDone(tp: string, requestId: number, failed: boolean, nowMs: number): void {
    const { req, e } = this.pendingEntry(tp, requestId);
    if (req === undefined || e === undefined) return;
    e.pending = false;
    req.pending--;
    const appended = e.appending;
    e.appending = false;
    if (failed) {
      if (this.host.hosts(e.state)) this.backOff(e.state, nowMs);
    } else if (appended && this.host.hosts(e.state) && e.state.fetchRequestId === requestId) {
      this.afterAppend(req, e);
    }
    this.maybeRelease(req, nowMs);
  }

  /** Everything an `awaitDurable` of fetch `requestId` asked for is fsynced (or the fsync failed). */
  followerDurable(tp: string, requestId: number, nowMs: number): void {
    const { req, e } = this.pendingEntry(tp, requestId);
    if (req === undefined || e === undefined) return;
    e.pending = false;
    req.pending--;
    this.maybeRelease(req, nowMs);
  }

  private pendingEntry(tp: string, requestId: number): { req?: FetchRequest; e?: FetchEntry } {
    const req = this.fetches.get(requestId);
    return { req, e: req?.entries.find((x) => x.pending && x.state.tp === tp) };
  }

  private backOff(st: PartitionState, nowMs: number): void {
    st.retryAtMs = nowMs + this.backoffMs;
    this.host.wakeAt(st.retryAtMs);
  }

  /** Once answered and every write and fsync reported, the request's partitions may fetch again. */
  private maybeRelease(req: FetchRequest, nowMs: number): void {
    if (!req.answered || req.pending > 0) return;
    this.fetches.delete(req.requestId);
    for (const e of req.entries) if (e.state.fetchRequestId === req.requestId) e.state.fetchRequestId = 0;
    this.pump(req.leaderId, nowMs);
  }
}

/** The result for entry `i`: at the same index as asked (the leader answers in order), else by name. */
function resultFor(results: readonly ReplicaFetchResult[], i: number, st: PartitionState): ReplicaFetchResult | undefined {
  const r = results[i];
  if (r !== undefined && r.partition === st.partition && r.topic === st.topic) return r;
  return results.find((x) => x.topic === st.topic && x.partition === st.partition);
}
