/**
 * The leader's view of one follower (etcd-io/raft's tracker.Progress), with three states:
 *
 * - `probe`: the leader does not know where the follower's log matches; it sends one
 *   AppendEntries at a time and moves `nextIndex` back on each rejection.
 * - `replicate`: the follower's log matches up to `matchIndex`; the leader pipelines appends,
 *   advancing `nextIndex` optimistically, with at most MAX_INFLIGHT_APPENDS unacknowledged.
 * - `snapshot`: the entries the follower needs are compacted; an InstallSnapshot is on its way.
 */
import { invariant, type NodeId } from '../common';
import { MAX_INFLIGHT_APPENDS } from './limits';
import type { FollowerProgress } from './types';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  state: ProgressState = 'probe';
  matchIndex = 0;
  nextIndex: number;
  /** probe: an append is outstanding; no other is sent until a response or the next heartbeat. */
  probeSent = false;
  /** replicate: each unacknowledged append (its last index and when it was sent), oldest first. */
  readonly inflights: Array<{ readonly lastIndex: number; readonly sentMs: number }> = [];
  /** snapshot: the index of the snapshot sent, and when. */
  pendingSnapshotIndex = 0;
  snapshotSentMs = 0;
  /** The highest commit index this follower can have learnt from what we sent (etcd's sentCommit). */
  sentCommit = 0;
  /** CheckQuorum: answered since the last round. */
  recentlyActive = false;
  /** When this follower last answered at the leader's term (the term's start until it does). */
  lastAnswerMs = 0;

  constructor(
    readonly id: NodeId,
    /** Changes when a membership change promotes the follower. */
    public isLearner: boolean,
    nextIndex: number,
  ) {
    this.nextIndex = nextIndex;
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.nextIndex = this.matchIndex + 1;
    this.probeSent = false;
    this.inflights.length = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.nextIndex = this.matchIndex + 1;
    this.probeSent = false;
    this.inflights.length = 0;
  }

  becomeSnapshot(snapshotIndex: number, nowMs: number): void {
    this.state = 'snapshot';
    this.pendingSnapshotIndex = snapshotIndex;
    this.snapshotSentMs = nowMs;
    this.probeSent = false;
    this.inflights.length = 0;
  }

  /** Records an acknowledgement; returns whether matchIndex moved. */
  maybeUpdate(matchIndex: number): boolean {
    while (this.inflights.length > 0 && this.inflights[0]!.lastIndex <= matchIndex) this.inflights.shift();
    if (matchIndex <= this.matchIndex) return false;
    this.matchIndex = matchIndex;
    this.nextIndex = Math.max(this.nextIndex, matchIndex + 1);
    return true;
  }

  /**
   * Handles a rejection of the append whose prevLogIndex was `rejectedIndex`; `probeFrom` is the
   * last index the hint says may match. Returns false for a stale rejection, which is ignored:
   * in `replicate` one at or below matchIndex, in `probe` one for other than the latest probe.
   */
  maybeDecrease(rejectedIndex: number, probeFrom: number): boolean {
    if (this.state === 'snapshot') return false;
    if (this.state === 'replicate') {
      if (rejectedIndex <= this.matchIndex) return false;
    } else if (rejectedIndex !== this.nextIndex - 1) {
      return false;
    }
    this.nextIndex = Math.max(Math.min(rejectedIndex, probeFrom + 1), this.matchIndex + 1);
    invariant(this.nextIndex > this.matchIndex, 'nextIndex fell to matchIndex', { next: this.nextIndex, match: this.matchIndex });
    this.state = 'probe';
    this.probeSent = false;
    this.inflights.length = 0;
    return true;
  }

  /** replicate: records a pipelined append ending at `lastIndex`. */
  sentAppend(lastIndex: number, nowMs: number): void {
    invariant(this.inflights.length < MAX_INFLIGHT_APPENDS, 'inflight window overflow', { id: this.id, inflights: this.inflights.length });
    this.inflights.push({ lastIndex, sentMs: nowMs });
    this.nextIndex = lastIndex + 1;
  }

  /** replicate: the oldest unacknowledged append has waited at least `retryMs` — presumed lost. */
  appendOverdue(nowMs: number, retryMs: number): boolean {
    return this.inflights.length > 0 && nowMs - this.inflights[0]!.sentMs >= retryMs;
  }

  windowFull(): boolean {
    return this.inflights.length >= MAX_INFLIGHT_APPENDS;
  }

  view(): FollowerProgress {
    return {
      id: this.id,
      isLearner: this.isLearner,
      matchIndex: this.matchIndex,
      nextIndex: this.nextIndex,
      state: this.state,
      recentlyActive: this.recentlyActive,
    };
  }
}
