import { describe, expect, it } from 'vitest';
import { SeededRandom, type Random } from '../../../src/common';
import { rangeAssignor, uniformAssignor, type AssignmentMember, type AssignmentSpec, type Assignor } from '../../../src/coordinator';
import type { TopicPartitions } from '../../../src/common';
import { countOf, minus, pairsOf } from '../../../src/common/topic-partitions';

const TOPICS = ['a', 'b', 'c', 'd'];

function randomSpec(r: Random, homogeneous: boolean, previous?: Map<string, TopicPartitions>): AssignmentSpec {
  const partitionCounts: Record<string, number> = {};
  for (const t of TOPICS) if (r.bool(0.85)) partitionCounts[t] = r.int(1, 12);
  const all = r.shuffle([...TOPICS]).slice(0, r.int(1, TOPICS.length));
  const members: AssignmentMember[] = [];
  for (let i = 0, n = r.int(1, 7); i < n; i++) {
    const memberId = `m${r.int(0, 9)}${i}`;
    members.push({ memberId, instanceId: r.bool(0.3) ? `i${i}` : null, topics: homogeneous ? all : r.shuffle([...TOPICS]).slice(0, r.int(0, 3)), current: previous?.get(memberId) ?? {} });
  }
  return { members, partitionCounts };
}

/** Every partition of every subscribed, existing topic to exactly one member subscribed to it. */
function checkComplete(spec: AssignmentSpec, out: Map<string, TopicPartitions>, context: string): void {
  const owner = new Map<string, string>();
  for (const m of spec.members) {
    for (const [t, p] of pairsOf(out.get(m.memberId) ?? {})) {
      expect(m.topics, context).toContain(t);
      expect(p, context).toBeLessThan(spec.partitionCounts[t]!);
      expect(owner.has(`${t}-${p}`), `${context}: ${t}-${p} twice`).toBe(false);
      owner.set(`${t}-${p}`, m.memberId);
    }
  }
  for (const t of Object.keys(spec.partitionCounts)) {
    if (!spec.members.some((m) => m.topics.includes(t))) continue;
    for (let p = 0; p < spec.partitionCounts[t]!; p++) expect(owner.has(`${t}-${p}`), `${context}: ${t}-${p} unassigned`).toBe(true);
  }
}

const spread = (spec: AssignmentSpec, out: Map<string, TopicPartitions>) => {
  const counts = spec.members.filter((m) => m.topics.some((t) => spec.partitionCounts[t] !== undefined)).map((m) => countOf(out.get(m.memberId) ?? {}));
  return counts.length === 0 ? 0 : Math.max(...counts) - Math.min(...counts);
};

describe.each([uniformAssignor, rangeAssignor] as Assignor[])('$name assignor', (assignor) => {
  it('assigns every partition of a subscribed topic to exactly one subscriber, deterministically (1,000 seeds)', () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const spec = randomSpec(new SeededRandom(seed), seed % 2 === 0);
      const out = assignor.assign(spec);
      checkComplete(spec, out, `seed ${seed}`);
      expect(assignor.assign(spec), `seed ${seed}`).toEqual(out);
    }
  });
});

describe('uniform assignor', () => {
  it('with identical subscriptions, counts differ by at most one (1,000 seeds)', () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const r = new SeededRandom(seed);
      const spec = randomSpec(r, true);
      const first = uniformAssignor.assign(spec);
      expect(spread(spec, first), `seed ${seed}`).toBeLessThanOrEqual(1);
      // Sticky start from an earlier, unrelated assignment: still balanced.
      const again = randomSpec(new SeededRandom(seed), true, first);
      expect(spread(again, uniformAssignor.assign(again)), `seed ${seed} (sticky)`).toBeLessThanOrEqual(1);
    }
  });

  it('is sticky: a member joining takes only what evens the counts, the others keep the rest', () => {
    const counts = { orders: 12 };
    const three = ['a', 'b', 'c'].map((id) => ({ memberId: id, instanceId: null, topics: ['orders'], current: {} }));
    const before = uniformAssignor.assign({ members: three, partitionCounts: counts });
    const four = [...three.map((m) => ({ ...m, current: before.get(m.memberId)! })), { memberId: 'd', instanceId: null, topics: ['orders'], current: {} }];
    const after = uniformAssignor.assign({ members: four, partitionCounts: counts });
    for (const id of ['a', 'b', 'c']) {
      expect(countOf(after.get(id)!)).toBe(3);
      // Nothing moved between the members that stayed: each kept 3 of its 4.
      expect(countOf(minus(after.get(id)!, before.get(id)!))).toBe(0);
    }
    expect(countOf(after.get('d')!)).toBe(3);
  });

  it('balances as far as different subscriptions allow', () => {
    const out = uniformAssignor.assign({
      members: [
        { memberId: 'a', instanceId: null, topics: ['x', 'y'], current: {} },
        { memberId: 'b', instanceId: null, topics: ['y'], current: {} },
      ],
      partitionCounts: { x: 4, y: 4 },
    });
    expect(out.get('a')).toEqual({ x: [0, 1, 2, 3] });
    expect(out.get('b')).toEqual({ y: [0, 1, 2, 3] });
  });
});

describe('range assignor', () => {
  it('gives consecutive ranges in instance-id order, the first ones one more', () => {
    const out = rangeAssignor.assign({
      members: [
        { memberId: 'z', instanceId: 'host-1', topics: ['t'], current: {} },
        { memberId: 'a', instanceId: 'host-2', topics: ['t'], current: {} },
      ],
      partitionCounts: { t: 5 },
    });
    expect(out.get('z')).toEqual({ t: [0, 1, 2] });
    expect(out.get('a')).toEqual({ t: [3, 4] });
  });
});
