import type { Random } from '../common';

export interface PlacementBroker {
  id: number;
  rack: string | null;
}

/**
 * Kafka's rack-alternating broker order: broker lists of each rack interleaved (rack A's first,
 * rack B's first, ..., rack A's second, ...), so that consecutive replicas land in different racks.
 */
export function rackAlternatedOrder(brokers: readonly PlacementBroker[]): number[] {
  const byRack = new Map<string, number[]>();
  for (const b of [...brokers].sort((x, y) => x.id - y.id)) {
    const rack = b.rack ?? '';
    byRack.set(rack, [...(byRack.get(rack) ?? []), b.id]);
  }
  const racks = [...byRack.keys()].sort();
  const out: number[] = [];
  for (let i = 0; out.length < brokers.length; i++) {
    for (const r of racks) {
      const ids = byRack.get(r)!;
      if (i < ids.length) out.push(ids[i]!);
    }
  }
  return out;
}

/** Kafka's follower position: the leader's index, plus one, plus a shifted step that never lands on the leader. */
const replicaIndex = (first: number, shift: number, k: number, n: number) => (first + 1 + ((shift + k) % (n - 1))) % n;

/**
 * Replica lists for `partitions` new partitions (Kafka's assignReplicasToBrokers): leaders
 * round-robin from a random start; followers follow the leader with a per-round shift, so that one
 * broker's followers are spread over the others. With racks, brokers are taken in rack-alternating
 * order and a follower is skipped while its rack (or the broker itself) already holds a replica and
 * some rack (broker) does not — so each partition's replicas span as many racks as possible.
 */
export function assignReplicas(brokers: readonly PlacementBroker[], partitions: number, replicationFactor: number, random: Random): number[][] {
  const racked = brokers.some((b) => b.rack !== null);
  const order = racked ? rackAlternatedOrder(brokers) : [...brokers].map((b) => b.id).sort((a, b) => a - b);
  const rackOf = new Map(brokers.map((b) => [b.id, b.rack ?? '']));
  const numRacks = new Set(rackOf.values()).size;
  const n = order.length;
  const start = random.int(0, n - 1);
  let shift = random.int(0, n - 1);
  const out: number[][] = [];
  for (let p = 0; p < partitions; p++) {
    if (p > 0 && (p + start) % n === 0) shift++;
    const first = (p + start) % n;
    const leader = order[first]!;
    const replicas = [leader];
    if (!racked) {
      for (let j = 0; j < replicationFactor - 1; j++) replicas.push(order[replicaIndex(first, shift, j, n)]!);
    } else {
      const racks = new Set([rackOf.get(leader)]);
      const used = new Set([leader]);
      let k = 0;
      for (let j = 0; j < replicationFactor - 1; j++) {
        for (;;) {
          const b = order[replicaIndex(first, shift * numRacks, k, n)]!;
          k++;
          const rack = rackOf.get(b);
          if ((!racks.has(rack) || racks.size === numRacks) && (!used.has(b) || used.size === n)) {
            replicas.push(b);
            racks.add(rack);
            used.add(b);
            break;
          }
        }
      }
    }
    out.push(replicas);
  }
  return out;
}
