import { describe, expect, it } from 'vitest';
import { checkFollowerFetch, followerTruncation } from '../../../src/replication/fetch-validation';
import { LeaderState } from '../../../src/replication/leader-state';
import { LeaderEpochCache } from '../../../src/storage/leader-epoch-cache';

function view(entries: { epoch: number; startOffset: number }[], logEndOffset: number, logStartOffset = 0) {
  const cache = LeaderEpochCache.inMemory(entries);
  return { logStartOffset, logEndOffset, endOffsetFor: (e: number) => cache.endOffsetFor(e, logEndOffset) };
}

describe('leader epoch cache (KIP-101 semantics)', () => {
  it('answers where an epoch ends, as Kafka does, including epochs older than any kept', () => {
    const c = LeaderEpochCache.inMemory([
      { epoch: 2, startOffset: 10 },
      { epoch: 5, startOffset: 40 },
    ]);
    expect(c.endOffsetFor(5, 99)).toEqual({ epoch: 5, endOffset: 99 });
    expect(c.endOffsetFor(3, 99)).toEqual({ epoch: 2, endOffset: 40 });
    expect(c.endOffsetFor(1, 99)).toEqual({ epoch: 1, endOffset: 10 });
    expect(c.endOffsetFor(-1, 99)).toEqual({ epoch: -1, endOffset: -1 });
    expect(LeaderEpochCache.inMemory().endOffsetFor(3, 5)).toEqual({ epoch: -1, endOffset: -1 });
  });

  it('assign ignores older epochs and drops entries a truncated suffix left behind', () => {
    const c = LeaderEpochCache.inMemory([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 20 },
    ]);
    c.assign(2, 30);
    expect(c.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 20 },
    ]);
    c.truncateFromEnd(20);
    c.assign(4, 15);
    expect(c.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 4, startOffset: 15 },
    ]);
  });
});

describe('divergence and truncation (KIP-320)', () => {
  it('a follower with records from a deposed leader is told to truncate, and converges on the leader log', () => {
    // Leader: epoch 1 up to 50, epoch 3 from 50. Follower: epoch 1 up to 45, then epoch 2 (a deposed leader) 45..60.
    const leader = view(
      [
        { epoch: 1, startOffset: 0 },
        { epoch: 3, startOffset: 50 },
      ],
      80,
    );
    const follower = view(
      [
        { epoch: 1, startOffset: 0 },
        { epoch: 2, startOffset: 45 },
      ],
      60,
    );
    const check = checkFollowerFetch(leader, 60, 2);
    expect(check).toEqual({ kind: 'diverging', epoch: 1, endOffset: 50 });
    // The follower's epoch 1 ends at 45: cut there (not at the leader's 50, where it holds epoch-2 records).
    expect(followerTruncation(follower, 1, 50)).toEqual({ kind: 'truncate', offset: 45 });
    // From 45 with last epoch 1 the leader agrees: no more divergence.
    expect(checkFollowerFetch(leader, 45, 1)).toEqual({ kind: 'ok' });
  });

  it('a follower whose every record is from an epoch the leader never had truncates to nothing', () => {
    const leader = view(
      [
        { epoch: 0, startOffset: 0 },
        { epoch: 4, startOffset: 36 },
      ],
      100,
    );
    const follower = view([{ epoch: 1, startOffset: 0 }], 36);
    const check = checkFollowerFetch(leader, 36, 1);
    expect(check).toEqual({ kind: 'diverging', epoch: 0, endOffset: 36 });
    expect(followerTruncation(follower, 0, 36)).toEqual({ kind: 'truncate', offset: 0 });
  });

  it('a follower that is merely behind fetches normally; out of range is reported', () => {
    const leader = view([{ epoch: 2, startOffset: 0 }], 100, 10);
    expect(checkFollowerFetch(leader, 50, 2)).toEqual({ kind: 'ok' });
    expect(checkFollowerFetch(leader, 5, -1)).toEqual({ kind: 'out-of-range' });
  });
});

describe('LeaderState (high watermark and ISR)', () => {
  it('the high watermark is the smallest fsynced offset over the ISR and never goes back', () => {
    const s = new LeaderState(1, [1, 2, 3], [1, 2, 3], 0, 0, 0, 0);
    expect(s.updateLocal(10)).toBe(false); // followers have not fetched
    s.updateFollower(2, 10, 8, 10, 1);
    s.updateFollower(3, 10, 10, 10, 1);
    expect(s.highWatermark).toBe(8); // follower 2 has fetched to 10 but fsynced only 8
    s.updateFollower(2, 10, 10, 10, 2);
    expect(s.highWatermark).toBe(10);
    s.updateFollower(3, 4, 4, 10, 3); // a truncated follower reports less
    expect(s.highWatermark).toBe(10);
  });

  it('a pending ISR addition holds the high watermark back until it is settled', () => {
    const s = new LeaderState(1, [1, 2, 3], [1, 2], 0, 0, 0, 0);
    s.updateLocal(20);
    s.updateFollower(2, 20, 20, 20, 1);
    expect(s.highWatermark).toBe(20);
    s.updateLocal(30);
    const r = s.updateFollower(3, 20, 20, 30, 2);
    expect(r.shouldExpand).toBe(true);
    s.pendingAdditions.add(3);
    s.updateFollower(2, 30, 30, 30, 3);
    expect(s.highWatermark).toBe(20); // waits for 3, which might become an ISR member
    s.setIsr([1, 2, 3], [1, 2, 3], false); // an unrelated image: still pending
    expect(s.pendingAdditions.has(3)).toBe(true);
    s.updateFollower(3, 30, 30, 30, 4);
    expect(s.highWatermark).toBe(30);
  });

  it('followers that stop catching up for longer than the lag time are reported', () => {
    const s = new LeaderState(1, [1, 2, 3], [1, 2, 3], 0, 0, 0, 0);
    s.updateLocal(10);
    s.updateFollower(2, 10, 10, 10, 100);
    s.updateFollower(3, 5, 5, 10, 100);
    expect(s.laggingReplicas(25_000, 30_000)).toEqual([]);
    expect(s.laggingReplicas(30_050, 30_000)).toEqual([3]);
  });

  it('the high watermark does not advance while the ISR is below min.insync.replicas (KIP-966)', () => {
    const s = new LeaderState(1, [1, 2, 3], [1], 0, 5, 5, 0, 5, 2);
    expect(s.updateLocal(50)).toBe(false);
    expect(s.highWatermark).toBe(5);
    s.setIsr([1, 2], [1, 2, 3]);
    s.updateFollower(2, 50, 50, 50, 1);
    expect(s.highWatermark).toBe(50);
  });
});
