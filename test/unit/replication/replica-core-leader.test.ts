import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { assignment, Harness, tp } from './replica-core-harness';

const LAG_MS = 10_000;

/** Broker 1 leads partition 0 at epoch 0 with `isr`, its log holding `records` fsynced records. */
function leader(isr: number[], records = 0, minInsync = 1): Harness {
  const h = new Harness(1, { replicaLagTimeMaxMs: LAG_MS, alterPartitionRetryMs: 200 });
  h.log(0).write(records, 0);
  h.log(0).fsync();
  h.assign(assignment(0, 1, 0, isr), minInsync);
  h.take();
  return h;
}

/** The leader appends `n` records and they are fsynced locally. */
function appendLocally(h: Harness, n: number): void {
  h.log(0).write(n, 0);
  h.log(0).fsync();
  h.core.localDurable(tp(0));
  h.drain();
}

const hw = (h: Harness) => h.log(0).highWatermark;

describe('ReplicaCore, leader: ISR shrink (replica.lag.time.max.ms)', () => {
  it('drops a follower that has not caught up within the lag time, and not before', () => {
    const h = leader([1, 2, 3]);
    appendLocally(h, 10);
    h.followerFetch(0, 2, 10, 10, 0); // caught up at t=0
    // Follower 3 never fetches. Checked every half lag time; at exactly the lag time it is not late yet.
    for (let t = 1_000; t <= LAG_MS; t += 1_000) {
      h.now = t;
      h.followerFetch(0, 2, 10, 10, 0);
      h.tick(t);
      expect(h.take('sendAlterPartition'), `at ${t} ms`).toEqual([]);
    }
    h.now = LAG_MS + 1_000;
    h.followerFetch(0, 2, 10, 10, 0);
    h.tick(h.core.nextDeadlineMs);
    const [shrink] = h.take('sendAlterPartition');
    expect(shrink).toMatchObject({ change: 'shrink', item: { partitionEpoch: 0, leaderEpoch: 0, newIsr: [1, 2] } });
    expect(h.core.status(tp(0))!.isrChangeInFlight).toBe(true);
  });
});

describe('ReplicaCore, leader: ISR expansion', () => {
  it('adds a follower only once it has caught up past the start of this epoch and the high watermark, with fsynced data', () => {
    // Leader since offset 20 (its epoch start); the high watermark is 10 (follower 2 has fsynced only that much).
    const h = leader([1, 2], 20);
    h.followerFetch(0, 2, 20, 10, 0);
    expect(hw(h)).toBe(10);
    h.followerFetch(0, 3, 15, 15, 0); // past the high watermark, short of the epoch start
    expect(h.take('sendAlterPartition')).toEqual([]);
    h.followerFetch(0, 3, 20, 5, 0); // at the epoch start, but fsynced below the high watermark
    expect(h.take('sendAlterPartition')).toEqual([]);
    h.followerFetch(0, 3, 20, 20, 0);
    expect(h.take('sendAlterPartition')).toMatchObject([{ change: 'expand', item: { newIsr: [1, 2, 3] } }]);
  });

  it('one AlterPartition in flight per partition: no second expansion, no shrink, until it settles', () => {
    const h = new Harness(1, { replicaLagTimeMaxMs: LAG_MS });
    h.log(0).write(10, 0);
    h.log(0).fsync();
    h.assign(assignment(0, 1, 0, [1, 2], [1, 2, 3, 4]));
    h.followerFetch(0, 2, 10, 10, 0);
    h.followerFetch(0, 3, 10, 10, 0);
    expect(h.take('sendAlterPartition')).toMatchObject([{ change: 'expand', item: { newIsr: [1, 2, 3] } }]);
    h.followerFetch(0, 4, 10, 10, 0); // caught up too, but a change is in flight
    h.tick(LAG_MS * 3); // and 2 now lags
    expect(h.take('sendAlterPartition')).toEqual([]);
    // Settled by the metadata: the next change may go.
    h.assign(assignment(0, 1, 0, [1, 2, 3], [1, 2, 3, 4], 1));
    h.followerFetch(0, 3, 10, 10, 0);
    h.followerFetch(0, 4, 10, 10, 0);
    expect(h.take('sendAlterPartition')).toMatchObject([{ change: 'expand', item: { partitionEpoch: 1, newIsr: [1, 2, 3, 4] } }]);
  });
});

describe('ReplicaCore, leader: the high watermark', () => {
  it('never counts data a follower fetched but has not fsynced', () => {
    const h = leader([1, 2, 3]);
    appendLocally(h, 10);
    h.followerFetch(0, 2, 10, 4, 0);
    h.followerFetch(0, 3, 10, 10, 0);
    expect(hw(h)).toBe(4);
    expect(h.take('highWatermark').at(-1)).toMatchObject({ highWatermark: 4 });
    h.followerFetch(0, 2, 10, 10, 0);
    expect(hw(h)).toBe(10);
  });

  it('waits for a follower being added to the ISR, until the change settles', () => {
    const h = leader([1, 2], 10);
    h.followerFetch(0, 2, 10, 10, 0);
    h.followerFetch(0, 3, 10, 10, 0); // caught up: expansion requested
    const [expand] = h.take('sendAlterPartition');
    appendLocally(h, 10);
    h.followerFetch(0, 2, 20, 20, 0);
    expect(hw(h)).toBe(10); // 3 may already be in the ISR at the controller
    // An unrelated image (same partition epoch) settles nothing.
    h.assign(assignment(0, 1, 0, [1, 2]));
    h.followerFetch(0, 2, 20, 20, 0);
    expect(hw(h)).toBe(10);
    // The controller refuses, nothing changed there: settled, and the ISR is {1, 2} again.
    h.core.alterPartitionResponse(tp(0), expand!.requestId, { errorCode: ErrorCode.INVALID_UPDATE_VERSION, partitionEpoch: 0 }, h.now);
    h.drain();
    expect(hw(h)).toBe(20);
    expect(h.core.status(tp(0))!.isrChangeInFlight).toBe(false);
  });

  it('does not advance while the ISR is below min.insync.replicas (KIP-966)', () => {
    const h = leader([1], 5, 2);
    appendLocally(h, 10);
    expect(hw(h)).toBe(0);
    h.assign(assignment(0, 1, 0, [1, 2], [1, 2, 3], 1), 2);
    h.followerFetch(0, 2, 15, 15, 0);
    expect(hw(h)).toBe(15);
  });
});

describe('ReplicaCore, leader: AlterPartition outcomes', () => {
  it('a lost answer is retried with the same request, never taken as a refusal', () => {
    const h = leader([1, 2], 10);
    h.followerFetch(0, 2, 10, 10, 0);
    h.followerFetch(0, 3, 10, 10, 0);
    const [expand] = h.take('sendAlterPartition');
    appendLocally(h, 10);
    h.followerFetch(0, 2, 20, 20, 0);
    h.core.alterPartitionResponse(tp(0), expand!.requestId, null, h.now);
    h.drain();
    // Still pending: the controller may have committed it, so the high watermark still waits for 3.
    expect(h.core.status(tp(0))!.isrChangeInFlight).toBe(true);
    h.followerFetch(0, 2, 20, 20, 0);
    expect(hw(h)).toBe(10);
    h.tick(h.now + 199);
    expect(h.take('sendAlterPartition')).toEqual([]);
    h.tick(h.now + 1);
    const [retry] = h.take('sendAlterPartition');
    expect(retry).toMatchObject({ requestId: expand!.requestId, item: expand!.item, retry: true });
    // It had committed: the metadata brings the new ISR and a new partition epoch.
    h.assign(assignment(0, 1, 0, [1, 2, 3], [1, 2, 3], 1));
    expect(h.core.status(tp(0))!.isrChangeInFlight).toBe(false);
    expect(hw(h)).toBe(10);
    h.followerFetch(0, 3, 20, 20, 0);
    expect(hw(h)).toBe(20);
  });

  it('a refusal reported at another partition epoch settles nothing: the metadata will', () => {
    const h = leader([1, 2], 10);
    h.followerFetch(0, 2, 10, 10, 0);
    h.followerFetch(0, 3, 10, 10, 0);
    const [expand] = h.take('sendAlterPartition');
    h.core.alterPartitionResponse(tp(0), expand!.requestId, { errorCode: ErrorCode.INVALID_UPDATE_VERSION, partitionEpoch: 4 }, h.now);
    h.drain();
    expect(h.core.status(tp(0))!.isrChangeInFlight).toBe(true);
  });

  it('a late answer to an older request does not clear a newer one', () => {
    const h = leader([1, 2, 3], 10);
    h.followerFetch(0, 2, 10, 10, 0);
    h.tick(LAG_MS + 1);
    const [shrink] = h.take('sendAlterPartition');
    h.assign(assignment(0, 1, 0, [1, 2], [1, 2, 3], 1)); // committed
    h.followerFetch(0, 3, 10, 10, 0);
    const [expand] = h.take('sendAlterPartition');
    expect(expand!.requestId).not.toBe(shrink!.requestId);
    h.core.alterPartitionResponse(tp(0), shrink!.requestId, { errorCode: ErrorCode.INVALID_UPDATE_VERSION, partitionEpoch: 1 }, h.now);
    expect(h.core.status(tp(0))!.isrChangeInFlight).toBe(true);
  });
});

describe('ReplicaCore, leader: its own fsyncs', () => {
  it('a follower elected with a tail it has not fsynced asks to hear of that fsync; one elected with all of it fsynced does not', () => {
    const h = new Harness(1);
    h.log(0).write(5, 0);
    h.log(0).fsync();
    h.log(0).write(3, 0);
    h.assign(assignment(0, 2, 0, [1, 2]));
    h.take();
    h.assign(assignment(0, 1, 1, [1, 2], [1, 2, 3], 1));
    expect(h.take('awaitLocalDurable')).toEqual([{ kind: 'awaitLocalDurable', tp: tp(0), offset: 8 }]);
    // The fsync alone (no append after it) moves the high watermark once the follower has it too.
    h.followerFetch(0, 2, 8, 8, 1);
    expect(hw(h)).toBe(5);
    h.log(0).fsync();
    h.core.localDurable(tp(0));
    h.drain();
    expect(hw(h)).toBe(8);

    const fsynced = new Harness(1);
    fsynced.log(0).write(5, 0);
    fsynced.log(0).fsync();
    fsynced.assign(assignment(0, 1, 1, [1, 2]));
    expect(fsynced.take('awaitLocalDurable')).toEqual([]);
  });
});

describe('ReplicaCore, leader: the acks=all wait', () => {
  it('completes a produce only once the high watermark passes its last offset', () => {
    const h = leader([1, 2]);
    appendLocally(h, 5);
    h.core.awaitHighWatermark(tp(0), 7, 5, 1, 30_000);
    h.drain();
    h.followerFetch(0, 2, 4, 4, 0);
    expect(h.take('completeProduce')).toEqual([]);
    h.followerFetch(0, 2, 5, 5, 0);
    expect(h.take('completeProduce')).toEqual([{ kind: 'completeProduce', id: 7, errorCode: ErrorCode.NONE, message: '' }]);
  });

  it('fails with NOT_LEADER_OR_FOLLOWER when leadership moves first, and times out at its deadline', () => {
    const h = leader([1, 2]);
    appendLocally(h, 5);
    h.core.awaitHighWatermark(tp(0), 1, 5, 1, 1_000);
    h.core.awaitHighWatermark(tp(0), 2, 5, 1, 60_000);
    h.drain();
    h.tick(999);
    expect(h.take('completeProduce')).toEqual([]);
    h.tick(1_000);
    expect(h.take('completeProduce')).toMatchObject([{ id: 1, errorCode: ErrorCode.REQUEST_TIMED_OUT }]);
    h.assign(assignment(0, 2, 1, [2], [1, 2, 3], 1));
    expect(h.take('completeProduce')).toMatchObject([{ id: 2, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER }]);
  });

  it('answers NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR fell below min.insync.replicas meanwhile', () => {
    const h = leader([1, 2, 3], 0, 2);
    appendLocally(h, 5);
    h.core.awaitHighWatermark(tp(0), 1, 5, 2, 30_000);
    h.followerFetch(0, 2, 5, 5, 0);
    h.assign(assignment(0, 1, 0, [1], [1, 2, 3], 1), 1); // min ISR lowered; the ISR shrank to the leader
    h.followerFetch(0, 3, 5, 5, 0);
    expect(h.take('completeProduce')).toMatchObject([{ id: 1, errorCode: ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND }]);
  });

  it('refuses an acks=all append up front when the ISR is below min.insync.replicas', () => {
    const h = leader([1], 0, 2);
    expect(h.core.appendRefusal(tp(0), -1, 2)?.code).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
    expect(h.core.appendRefusal(tp(0), 1, 2)).toBeNull();
  });
});
