import { CairnError, ErrorCode } from '../common';

export interface PartitionPlacement {
  topic: string;
  partition: number;
  replicas: readonly number[];
}

export interface ReplicaMove {
  topic: string;
  partition: number;
  replicas: number[];
}

/**
 * The reassignments that take every replica off `brokerId` (a broker being decommissioned): each
 * partition it hosts gets, in its place and position, the broker of `targets` that hosts the fewest
 * replicas so far and not this partition already (ties: the lower id), so the load spreads evenly.
 * Pure; throws INVALID_REPLICATION_FACTOR when a partition cannot keep its replication factor.
 */
export function planDecommission(partitions: readonly PartitionPlacement[], brokerId: number, targets: readonly number[]): ReplicaMove[] {
  const candidates = targets.filter((id) => id !== brokerId);
  const load = new Map<number, number>(candidates.map((id) => [id, 0]));
  for (const p of partitions) for (const r of p.replicas) if (load.has(r)) load.set(r, load.get(r)! + 1);
  const moves: ReplicaMove[] = [];
  for (const p of partitions) {
    const at = p.replicas.indexOf(brokerId);
    if (at < 0) continue;
    const free = candidates.filter((id) => !p.replicas.includes(id)).sort((a, b) => load.get(a)! - load.get(b)! || a - b);
    if (free.length === 0) {
      throw new CairnError(
        ErrorCode.INVALID_REPLICATION_FACTOR,
        `${p.topic}-${p.partition} has ${p.replicas.length} replicas [${p.replicas.join(',')}] and no other live broker can take broker ${brokerId}'s place; add a broker first`,
      );
    }
    const replacement = free[0]!;
    load.set(replacement, load.get(replacement)! + 1);
    const replicas = [...p.replicas];
    replicas[at] = replacement;
    moves.push({ topic: p.topic, partition: p.partition, replicas });
  }
  return moves;
}
