import { describe, expect, it } from 'vitest';
import { planDecommission } from '../../../src/client/decommission';
import { CairnError, ErrorCode } from '../../../src/common/errors';

const p = (partition: number, ...replicas: number[]) => ({ topic: 't', partition, replicas });

describe('planDecommission', () => {
  it('replaces the broker in place (a preferred leader stays first) with the least loaded broker not already a replica', () => {
    const moves = planDecommission([p(0, 4, 1, 2), p(1, 1, 4, 3), p(2, 2, 3, 4), p(3, 1, 2, 3)], 4, [1, 2, 3, 4]);
    // Loads before: 1→3, 2→3, 3→3. p0 can take 3 (load 3); p1 can take 2 (3); p2 can take 1 (3).
    expect(moves).toEqual([
      { topic: 't', partition: 0, replicas: [3, 1, 2] },
      { topic: 't', partition: 1, replicas: [1, 2, 3] },
      { topic: 't', partition: 2, replicas: [2, 3, 1] },
    ]);
  });

  it('spreads the moved replicas over the brokers with the fewest', () => {
    const partitions = Array.from({ length: 6 }, (_, i) => p(i, 9, 1));
    const moves = planDecommission(partitions, 9, [1, 2, 3, 4]);
    const counts = new Map<number, number>();
    for (const m of moves) for (const r of m.replicas) if (r !== 1) counts.set(r, (counts.get(r) ?? 0) + 1);
    expect([...counts.values()].sort()).toEqual([2, 2, 2]);
    expect(moves.every((m) => !m.replicas.includes(9) && new Set(m.replicas).size === 2)).toBe(true);
  });

  it('leaves partitions without the broker alone, and refuses when a partition could not keep its replication factor', () => {
    expect(planDecommission([p(0, 1, 2)], 3, [1, 2, 3])).toEqual([]);
    let err: unknown;
    try {
      planDecommission([p(0, 1, 2, 3)], 3, [1, 2, 3]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.INVALID_REPLICATION_FACTOR);
  });
});
