import type { Random } from '../common/random';

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

/**
 * Replica lists for `partitions` new partitions (Kafka's assignReplicasToBrokers): leaders
 * round-robin from a random start; followers follow the leader in the (rack-alternated) order with
 * a per-round shift, so that one broker's followers are spread over the others.
 */
export function assignReplicas(brokers: readonly PlacementBroker[], partitions: number, replicationFactor: number, random: Random): number[][] {
  const racked = brokers.some((b) => b.rack !== null);
  const order = racked ? rackAlternatedOrder(brokers) : [...brokers].map((b) => b.id).sort((a, b) => a - b);
  const n = order.length;
  const start = random.int(0, n - 1);
  let shift = random.int(0, n - 1);
  const out: number[][] = [];
  for (let p = 0; p < partitions; p++) {
    if (p > 0 && (p + start) % n === 0) shift++;
    const first = (p + start) % n;
    const replicas = [order[first]!];
    for (let j = 0; j < replicationFactor - 1; j++) {
      const step = 1 + ((shift + j) % (n - 1));
      replicas.push(order[(first + step) % n]!);
    }
    out.push(replicas);
  }
  return out;
}
