import { UNDEFINED_EPOCH } from '../common';

/** What validating a follower's fetch needs from the leader's log. */
export interface LeaderLogView {
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  endOffsetFor(epoch: number): { epoch: number; endOffset: number };
}

export type FollowerFetchCheck =
  | { kind: 'ok' }
  /** The follower's log diverges from the leader's: truncate as `followerTruncation` says, then fetch again. */
  | { kind: 'diverging'; epoch: number; endOffset: number }
  | { kind: 'out-of-range' };

/**
 * The leader's check of a follower fetch (Kafka KIP-320, after KIP-101/279): the follower says
 * where its log ends and the epoch of its last batch. If the leader's log ends that epoch before
 * the follower's fetch offset — or never had it — the follower holds records the leader does not,
 * written by a deposed leader, and must truncate before it may append anything. This, not the high
 * watermark, decides truncation, so logs never diverge after a failover.
 */
export function checkFollowerFetch(log: LeaderLogView, fetchOffset: number, lastFetchedEpoch: number): FollowerFetchCheck {
  if (lastFetchedEpoch >= 0) {
    const { epoch, endOffset } = log.endOffsetFor(lastFetchedEpoch);
    if (epoch === UNDEFINED_EPOCH) {
      // The leader no longer knows any epoch that old (its log start moved past it).
      return { kind: 'diverging', epoch: UNDEFINED_EPOCH, endOffset: -1 };
    }
    if (epoch !== lastFetchedEpoch || endOffset < fetchOffset) return { kind: 'diverging', epoch, endOffset };
  }
  if (fetchOffset < log.logStartOffset || fetchOffset > log.logEndOffset) return { kind: 'out-of-range' };
  return { kind: 'ok' };
}

/** What the follower's own log answers. */
export interface FollowerLogView {
  readonly logEndOffset: number;
  endOffsetFor(epoch: number): { epoch: number; endOffset: number };
}

export type FollowerTruncation = { kind: 'truncate'; offset: number } | { kind: 'reset-to-leader-start' };

/**
 * The follower's side of a divergence (Kafka's AbstractFetcherThread.getOffsetTruncationState):
 * given the leader's answer (epoch E ends at offset O), truncate to the smaller of O and where
 * the follower's own log ends its largest epoch ≤ E. When the follower does not have E itself the
 * cut is not final: the next fetch checks again from the shorter log, and the two logs converge.
 */
export function followerTruncation(log: FollowerLogView, leaderEpoch: number, leaderEndOffset: number): FollowerTruncation {
  if (leaderEpoch === UNDEFINED_EPOCH) return { kind: 'reset-to-leader-start' };
  const mine = log.endOffsetFor(leaderEpoch);
  if (mine.epoch === UNDEFINED_EPOCH) return { kind: 'truncate', offset: Math.min(leaderEndOffset, log.logEndOffset) };
  if (mine.epoch === leaderEpoch) return { kind: 'truncate', offset: Math.min(leaderEndOffset, mine.endOffset, log.logEndOffset) };
  return { kind: 'truncate', offset: Math.min(mine.endOffset, leaderEndOffset, log.logEndOffset) };
}
