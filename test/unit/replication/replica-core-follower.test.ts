import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { assignment, Harness, tp } from './replica-core-harness';

// Broker 2 follows broker 1. Fake time: nothing here waits for a clock.
describe('ReplicaCore, follower: fetch scheduling', () => {
  // Regression of commit 5474055 (was an integration test with three processes and a 60 s
  // long poll): a follower added a newly followed partition to its next fetch only, so a long
  // poll already parked on that leader held acks=all writes to a new topic for up to
  // replica.fetch.wait.max.ms.
  it('a partition followed while a fetch for the others is parked on the leader goes out at once, in a request of its own', () => {
    const h = new Harness(2);
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    const [first] = h.take('sendFetch');
    expect(first).toMatchObject({ leaderId: 1, partitions: [{ partition: 0, fetchOffset: 0 }] });
    // The leader parks it (no answer). A new partition led by the same leader appears:
    h.assign(assignment(1, 1, 0, [1, 2, 3]));
    const sent = h.take('sendFetch');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.leaderId).toBe(1);
    expect(sent[0]!.partitions.map((p) => p.partition)).toEqual([1]);
    expect(sent[0]!.requestId).not.toBe(first!.requestId);
  });

  it('one fetch in flight per partition: a partition is not asked for again while its request is out', () => {
    const h = new Harness(2);
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    const [first] = h.take('sendFetch');
    h.assign(assignment(1, 1, 0, [1, 2, 3]));
    h.tick(10_000);
    const again = h.take('sendFetch').flatMap((f) => f.partitions.map((p) => p.partition));
    expect(again.filter((p) => p === 0)).toEqual([]);
    // Answered with nothing new: partition 0 is due again.
    h.answer(first!.requestId, [{ partition: 0 }]);
    expect(h.take('sendFetch').map((f) => f.partitions.map((p) => p.partition))).toEqual([[0]]);
  });

  it('fetches again only once what it fetched is fsynced, and then reports it as durable', () => {
    const h = new Harness(2);
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    const [f1] = h.take('sendFetch');
    h.take();
    h.answer(f1!.requestId, [{ partition: 0, records: 5, highWatermark: 3 }]);
    const effects = h.take();
    expect(effects.map((e) => e.kind)).toEqual(['append', 'highWatermark', 'awaitDurable']);
    expect(effects[1]).toMatchObject({ highWatermark: 3 });
    expect(effects[2]).toMatchObject({ tp: tp(0), offset: 5 });
    // Not fsynced yet: no fetch, however long we wait.
    h.tick(60_000);
    expect(h.take('sendFetch')).toEqual([]);
    h.log(0).fsync();
    h.core.followerDurable(tp(0), f1!.requestId, h.now);
    h.drain();
    const [f2] = h.take('sendFetch');
    expect(f2!.partitions[0]).toMatchObject({ fetchOffset: 5, durableOffset: 5 });
  });

  it('the follower high watermark is the leader’s, as far as its own log reaches', () => {
    const h = new Harness(2);
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    const [f1] = h.take('sendFetch');
    h.answer(f1!.requestId, [{ partition: 0, records: 4, highWatermark: 9 }]);
    expect(h.take('highWatermark')).toEqual([{ kind: 'highWatermark', tp: tp(0), highWatermark: 4 }]);
  });

  it('backs off after a failed fetch: nothing before the backoff, a fetch at it', () => {
    const h = new Harness(2, { fetchBackoffMs: 200 });
    h.now = 1_000;
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    const [f1] = h.take('sendFetch');
    h.core.fetchResponse(f1!.requestId, null, h.now);
    h.drain();
    expect(h.take('sendFetch')).toEqual([]);
    expect(h.core.nextDeadlineMs).toBe(1_200);
    h.tick(1_199);
    expect(h.take('sendFetch')).toEqual([]);
    h.tick(1_200);
    expect(h.take('sendFetch')).toHaveLength(1);
  });

  it('backs off a partition the leader refuses, and fetches the others at once', () => {
    const h = new Harness(2, { fetchBackoffMs: 200 });
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    h.assign(assignment(1, 1, 0, [1, 2, 3]));
    const fs = h.take('sendFetch');
    h.answer(fs[0]!.requestId, [{ partition: 0, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER }]);
    h.answer(fs[1]!.requestId, [{ partition: 1 }]);
    expect(h.take('sendFetch').map((f) => f.partitions.map((p) => p.partition))).toEqual([[1]]);
    h.tick(200);
    expect(h.take('sendFetch').map((f) => f.partitions.map((p) => p.partition))).toEqual([[0]]);
  });

  it('truncates where the logs diverge (followerTruncation), and to the leader start when the leader lacks the epoch', () => {
    const h = new Harness(2);
    const log = h.log(0);
    log.write(10, 1); // offsets 0..9 at epoch 1
    log.write(5, 2); // 10..14 at epoch 2, from a deposed leader
    log.fsync();
    h.assign(assignment(0, 1, 3, [1, 2, 3]));
    const [f1] = h.take('sendFetch');
    expect(f1!.partitions[0]).toMatchObject({ fetchOffset: 15, lastFetchedEpoch: 2 });
    h.answer(f1!.requestId, [{ partition: 0, divergingEpoch: { epoch: 1, endOffset: 12 } }]);
    // The follower ends epoch 1 at 10 itself: the smaller of the two.
    expect(h.take('truncate')).toMatchObject([{ tp: tp(0), offset: 10, reason: 'diverged' }]);
    expect(log.logEndOffset).toBe(10);
    const [f2] = h.take('sendFetch');
    expect(f2!.partitions[0]).toMatchObject({ fetchOffset: 10, lastFetchedEpoch: 1 });
    h.answer(f2!.requestId, [{ partition: 0, divergingEpoch: { epoch: -1, endOffset: -1 }, logStartOffset: 7 }]);
    expect(h.take('resetToLeaderStart')).toMatchObject([{ tp: tp(0), offset: 7, reason: 'diverged' }]);
  });

  it('an answer for a partition whose leader epoch moved meanwhile is ignored', () => {
    const h = new Harness(2);
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    const [f1] = h.take('sendFetch');
    h.assign(assignment(0, 1, 1, [1, 2, 3], [1, 2, 3], 1));
    h.answer(f1!.requestId, [{ partition: 0, records: 5, highWatermark: 5 }]);
    expect(h.take('append')).toEqual([]);
    expect(h.log(0).logEndOffset).toBe(0);
  });

  it('follows the new leader when leadership moves, at once', () => {
    const h = new Harness(2);
    h.assign(assignment(0, 1, 0, [1, 2, 3]));
    h.take();
    h.assign(assignment(0, 3, 1, [2, 3], [1, 2, 3], 1));
    expect(h.take('sendFetch')).toMatchObject([{ leaderId: 3, partitions: [{ partition: 0, currentLeaderEpoch: 1 }] }]);
  });
});

describe('ReplicaCore: roles and the incarnation gate', () => {
  it('acts on no image until this incarnation is registered in one; then the whole first image, then changes', () => {
    const h = new Harness(2);
    expect(h.core.admitImage(false)).toBe('ignore');
    expect(h.core.admitImage(false)).toBe('ignore');
    expect(h.core.admitImage(true)).toBe('all');
    expect(h.core.admitImage(true)).toBe('changes');
    // Fenced and re-registered later: the gate stays open (its state is current).
    expect(h.core.admitImage(false)).toBe('changes');
  });

  it('a new leader records its epoch at its log end at once (KIP-101) and its followers stop fetching', () => {
    const h = new Harness(1);
    h.log(0).write(7, 0);
    h.assign(assignment(0, 2, 0, [1, 2, 3]));
    expect(h.take('sendFetch')).toHaveLength(1);
    h.assign(assignment(0, 1, 1, [1, 2, 3], [1, 2, 3], 1));
    expect(h.take('becameLeader')).toMatchObject([{ tp: tp(0), leaderEpoch: 1, epochStartOffset: 7 }]);
    expect(h.log(0).latestEpoch).toBe(1);
    expect(h.core.leaderRefusal(tp(0))).toBeNull();
    expect(h.core.leaderRefusal(tp(0), 0)?.code).toBe(ErrorCode.FENCED_LEADER_EPOCH);
    h.tick(60_000);
    expect(h.take('sendFetch')).toEqual([]);
  });
});
