/**
 * The whole-cluster simulation's checker, fed bad histories by hand: each invariant must object
 * to the history it exists for (a checker is trusted only after it has failed on a bad one).
 */
import { describe, expect, it } from 'vitest';
import { ClusterChecker, type ReplicaView } from './cluster/invariants';

function view(broker: number, values: string[], o: Partial<Omit<ReplicaView, 'valueAt'>> = {}): ReplicaView {
  return {
    broker,
    tp: 't-0',
    live: true,
    role: 'follower',
    leaderEpoch: 1,
    highWatermark: 0,
    logStartOffset: 0,
    logEndOffset: values.length,
    durableEndOffset: values.length,
    offline: false,
    generation: 0,
    ...o,
    valueAt: (offset) => values[offset],
  };
}

const meta = [{ node: 1, offset: 5, digest: 'a' }];

describe('whole-cluster checker', () => {
  it('accepts a good history: commit on two fsynced copies, followers agree, an ack of a committed record', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 2 });
    c.check([view(1, ['a', 'b'], { role: 'leader', highWatermark: 2 }), view(2, ['a', 'b'], { highWatermark: 1 }), view(3, ['a'])], meta);
    c.onAck('t-0', 1, 'b');
    c.checkConverged([view(1, ['a', 'b'], { role: 'leader', highWatermark: 2 }), view(2, ['a', 'b'], { highWatermark: 2 }), view(3, ['a', 'b'], { highWatermark: 2 })]);
    expect(c.acked).toBe(1);
  });

  it('catches a high watermark over data fsynced on fewer than min.insync.replicas replicas', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 2 });
    // The follower fetched 'b' but has fsynced only 'a': the leader counted fetched, not fsynced.
    expect(() => c.check([view(1, ['a', 'b'], { role: 'leader', highWatermark: 2 }), view(2, ['a', 'b'], { durableEndOffset: 1 })], meta)).toThrow(/fsynced on only 1/);
  });

  it('catches a new leader without a committed record (an acknowledged write lost)', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 2 });
    c.check([view(1, ['a', 'b'], { role: 'leader', highWatermark: 2 }), view(2, ['a', 'b'])], meta);
    expect(() => c.check([view(1, ['a', 'b'], { live: false }), view(3, ['a'], { role: 'leader', leaderEpoch: 2 })], meta)).toThrow(/leads epoch 2 without committed b at offset 1/);
  });

  it('catches two leaders of one epoch', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 1 });
    expect(() => c.check([view(1, [], { role: 'leader' }), view(2, [], { role: 'leader' })], meta)).toThrow(/both lead epoch 1/);
  });

  it('catches a leader high watermark going back within an epoch', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 1 });
    c.check([view(1, ['a', 'b'], { role: 'leader', highWatermark: 2 })], meta);
    expect(() => c.check([view(1, ['a', 'b'], { role: 'leader', highWatermark: 1 })], meta)).toThrow(/went back from 2 to 1/);
  });

  it('catches a committed offset rewritten by a later leader, and a replica disagreeing below its high watermark', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 1 });
    c.check([view(1, ['a'], { role: 'leader', highWatermark: 1 })], meta);
    expect(() => c.check([view(2, ['x', 'y'], { role: 'leader', leaderEpoch: 2, highWatermark: 2 })], meta)).toThrow(/without committed a at offset 0/);
    const d = new ClusterChecker({ minInsyncReplicas: 1 });
    d.check([view(1, ['a'], { role: 'leader', highWatermark: 1 })], meta);
    expect(() => d.check([view(1, ['a'], { role: 'leader', highWatermark: 1 }), view(2, ['z'], { highWatermark: 1 })], meta)).toThrow(/broker 2 has z at offset 0/);
  });

  it('catches an acknowledgement of a record that was never committed there', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 1 });
    c.check([view(1, ['a'], { role: 'leader', highWatermark: 1 })], meta);
    expect(() => c.onAck('t-0', 0, 'q')).toThrow(/q acknowledged at offset 0, but a was committed there/);
    // An acknowledgement the checker had not seen committed counts as committed: a later leader must hold it.
    c.onAck('t-0', 1, 'r');
    expect(() => c.check([view(2, ['a'], { role: 'leader', leaderEpoch: 2 })], meta)).toThrow(/leads epoch 2 without committed r at offset 1/);
  });

  it('catches metadata that differs between nodes at one offset', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 1 });
    expect(() =>
      c.check(
        [],
        [
          { node: 1, offset: 3, digest: 'x' },
          { node: 2, offset: 3, digest: 'y' },
        ],
      ),
    ).toThrow(/metadata differs at offset 3/);
  });

  it('after the heal: catches a replica that lost a committed record or differs from the leader', () => {
    const c = new ClusterChecker({ minInsyncReplicas: 1 });
    c.check([view(1, ['a', 'b'], { role: 'leader', highWatermark: 2 })], meta);
    expect(() => c.checkConverged([view(1, ['a', 'b'], { role: 'leader', highWatermark: 2 }), view(2, ['a'])])).toThrow(/lost on broker 2/);
    expect(() => c.checkConverged([view(1, ['a', 'b', 'c'], { role: 'leader', highWatermark: 2 }), view(2, ['a', 'b', 'd'])])).toThrow(/broker 2 has d at offset 2/);
    expect(() => c.checkConverged([view(1, ['a', 'b'], { highWatermark: 2 })])).toThrow(/no leader/);
  });
});
