import { TopicPartitionSets, type TopicPartitions } from '../common';

const { canonical, pairsOf } = TopicPartitionSets;

/** A member as an assignor sees it: what it subscribes to and its previous target (for stickiness). */
export interface AssignmentMember {
  readonly memberId: string;
  readonly instanceId: string | null;
  /** Subscribed topic names; topics that do not exist are ignored. */
  readonly topics: readonly string[];
  readonly current: TopicPartitions;
}

export interface AssignmentSpec {
  readonly members: readonly AssignmentMember[];
  /** Partition count of every subscribed topic that exists. */
  readonly partitionCounts: Readonly<Record<string, number>>;
}

/**
 * A server-side assignor (KIP-848): the target assignment of every member from the members'
 * subscriptions and the topics' partition counts. Pure and deterministic: the same spec gives the
 * same assignment on every coordinator. Every partition of a subscribed topic goes to exactly one
 * member subscribed to it; a member subscribed to nothing gets nothing.
 */
export interface Assignor {
  readonly name: string;
  assign(spec: AssignmentSpec): Map<string, TopicPartitions>;
}

const byId = (a: AssignmentMember, b: AssignmentMember) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0);

function subscribersByTopic(spec: AssignmentSpec): Map<string, AssignmentMember[]> {
  const subs = new Map<string, AssignmentMember[]>();
  for (const m of [...spec.members].sort(byId)) {
    for (const t of new Set(m.topics)) {
      if ((spec.partitionCounts[t] ?? 0) <= 0) continue;
      const list = subs.get(t);
      if (list) list.push(m);
      else subs.set(t, [m]);
    }
  }
  return subs;
}

/**
 * `uniform` (the default, Kafka's UniformAssignor in spirit): as balanced as the subscriptions
 * allow and sticky. Each member first keeps what it had that it may still have; the partitions
 * nobody holds go one by one to the subscribed member with the fewest; then, while some member
 * has at least two more than another member subscribed to one of its partitions, one partition
 * moves. With identical subscriptions the counts differ by at most one, and a member joining or
 * leaving moves only the partitions needed to even the counts.
 */
export const uniformAssignor: Assignor = {
  name: 'uniform',
  assign(spec) {
    const subs = subscribersByTopic(spec);
    const owned = new Map<string, Set<string>>(); // memberId → "topic\0partition"
    const ownerOf = new Map<string, string>();
    for (const m of spec.members) owned.set(m.memberId, new Set());
    const key = (t: string, p: number) => `${t}\u0000${p}`;
    const take = (memberId: string, k: string) => {
      const prev = ownerOf.get(k);
      if (prev !== undefined) owned.get(prev)!.delete(k);
      ownerOf.set(k, memberId);
      owned.get(memberId)!.add(k);
    };
    const count = (memberId: string) => owned.get(memberId)!.size;
    const fewest = (candidates: readonly AssignmentMember[]) => candidates.reduce((best, m) => (count(m.memberId) < count(best.memberId) ? m : best));

    // 1. Stickiness: keep what is still allowed, first come first served in member order.
    for (const m of [...spec.members].sort(byId)) {
      for (const [t, p] of pairsOf(m.current)) {
        const k = key(t, p);
        if (p < (spec.partitionCounts[t] ?? 0) && subs.get(t)?.includes(m) && !ownerOf.has(k)) take(m.memberId, k);
      }
    }
    // 2. Everything unowned, to the least loaded subscriber.
    for (const [t, members] of [...subs].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (let p = 0; p < spec.partitionCounts[t]!; p++) if (!ownerOf.has(key(t, p))) take(fewest(members).memberId, key(t, p));
    }
    // 3. Even out: move a partition from a member to a subscriber with at least two fewer. Each
    // move lowers the sum of squared counts, so this ends.
    for (let moved = true; moved;) {
      moved = false;
      const loaded = [...spec.members].sort((a, b) => count(b.memberId) - count(a.memberId) || byId(a, b));
      for (const a of loaded) {
        for (const k of [...owned.get(a.memberId)!].sort()) {
          const topic = k.slice(0, k.indexOf('\u0000'));
          const target = fewest(subs.get(topic)!);
          if (count(target.memberId) + 2 <= count(a.memberId)) {
            take(target.memberId, k);
            moved = true;
            break;
          }
        }
        if (moved) break;
      }
    }
    const out = new Map<string, TopicPartitions>();
    for (const [memberId, keys] of owned) {
      const tp: Record<string, number[]> = {};
      for (const k of keys) {
        const i = k.indexOf('\u0000');
        (tp[k.slice(0, i)] ??= []).push(Number(k.slice(i + 1)));
      }
      out.set(memberId, canonical(tp));
    }
    return out;
  },
};

/**
 * `range` (Kafka's RangeAssignor): per topic, the subscribers in order of instance id (else member
 * id) get consecutive ranges of partitions, the first ones one more when the count does not
 * divide. Members subscribed to the same co-partitioned topics get the same partition numbers of
 * each, which joins need. Not sticky.
 */
export const rangeAssignor: Assignor = {
  name: 'range',
  assign(spec) {
    const out = new Map<string, Record<string, number[]>>();
    for (const m of spec.members) out.set(m.memberId, {});
    const order = (m: AssignmentMember) => m.instanceId ?? m.memberId;
    for (const [t, members] of subscribersByTopic(spec)) {
      const sorted = [...members].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : byId(a, b)));
      const n = spec.partitionCounts[t]!;
      const per = Math.floor(n / sorted.length);
      const extra = n % sorted.length;
      let start = 0;
      sorted.forEach((m, i) => {
        const len = per + (i < extra ? 1 : 0);
        if (len > 0) out.get(m.memberId)![t] = Array.from({ length: len }, (_, j) => start + j);
        start += len;
      });
    }
    return new Map([...out].map(([id, tp]) => [id, canonical(tp)]));
  },
};

export const ASSIGNORS: ReadonlyMap<string, Assignor> = new Map([uniformAssignor, rangeAssignor].map((a) => [a.name, a]));
export const DEFAULT_ASSIGNOR = uniformAssignor.name;
