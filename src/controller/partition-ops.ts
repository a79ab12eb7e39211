import { type MetadataImage, type MetadataRecord, NO_LEADER, type PartitionChangeRecord, type PartitionRegistration } from '../metadata';

/** Whether a broker may lead or be added to an ISR: registered, unfenced, not shutting down. */
export function isUsable(image: MetadataImage, id: number): boolean {
  const b = image.brokers.get(id);
  return b !== undefined && !b.fenced && !b.inControlledShutdown;
}

export function uncleanAllowed(image: MetadataImage, topic: string, clusterDefault: boolean): boolean {
  const v = image.topicConfigs(topic).get('unclean.leader.election.enable');
  return v === undefined ? clusterDefault : v === 'true';
}

export function minInsync(image: MetadataImage, topic: string): number {
  return Number(image.topicConfigs(topic).get('min.insync.replicas') ?? 1);
}

export interface Election {
  leader: number;
  /** Elected outside the ISR and ELR: may lack acknowledged writes. */
  unclean: boolean;
  /** Elected from the eligible leader replicas (the ISR had no usable member). */
  fromElr: boolean;
}

/**
 * Picks a leader (design brief §5): the first replica, in preferred order, that is in the ISR and
 * usable; failing that, the first usable eligible leader replica (KIP-966: it holds every committed
 * record); only if neither exists and unclean election is allowed, the first usable replica at
 * all. NO_LEADER otherwise: offline, not led by the dead.
 */
export function electLeader(
  image: MetadataImage,
  p: Pick<PartitionRegistration, 'replicas' | 'isr'> & { elr?: readonly number[] },
  isr: readonly number[],
  unclean: boolean,
  exclude: number = NO_LEADER,
): Election {
  for (const r of p.replicas) if (r !== exclude && isr.includes(r) && isUsable(image, r)) return { leader: r, unclean: false, fromElr: false };
  for (const r of p.replicas) if (r !== exclude && (p.elr ?? []).includes(r) && isUsable(image, r)) return { leader: r, unclean: false, fromElr: true };
  if (unclean) for (const r of p.replicas) if (r !== exclude && isUsable(image, r)) return { leader: r, unclean: true, fromElr: false };
  return { leader: NO_LEADER, unclean: false, fromElr: false };
}

export interface PartitionTarget {
  leader?: number;
  isr?: readonly number[];
  replicas?: readonly number[];
  addingReplicas?: readonly number[];
  removingReplicas?: readonly number[];
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The one place a partition change is built (every controller operation comes through here), so
 * the eligible leader replicas stay right (KIP-966): replicas that leave the ISR while it is below
 * min.insync.replicas join the ELR — nothing commits without them until the ISR is healthy again —
 * and the ELR empties once the ISR is back at min.insync.replicas (new commits may then lack its
 * members). `ineligible` replicas (a damaged log) leave both. Null when nothing changes.
 */
export function partitionChange(image: MetadataImage, p: PartitionRegistration, target: PartitionTarget, ineligible: readonly number[] = []): PartitionChangeRecord | null {
  const isr = target.isr ?? p.isr;
  const replicas = target.replicas ?? p.replicas;
  const leader = target.leader ?? p.leader;
  const removed = p.isr.filter((r) => !isr.includes(r) && !ineligible.includes(r));
  let elr = p.elr.filter((r) => !isr.includes(r) && !ineligible.includes(r) && r !== leader);
  elr = isr.length < minInsync(image, p.topic) ? [...new Set([...elr, ...removed])] : [];
  elr = elr.filter((r) => replicas.includes(r) && r !== leader);
  const r: PartitionChangeRecord = { type: 'PartitionChange', topicId: p.topicId, partition: p.partition };
  if (leader !== p.leader) r.leader = leader;
  if (!same(isr, p.isr)) r.isr = [...isr];
  if (!same(replicas, p.replicas)) r.replicas = [...replicas];
  if (target.addingReplicas && !same(target.addingReplicas, p.addingReplicas)) r.addingReplicas = [...target.addingReplicas];
  if (target.removingReplicas && !same(target.removingReplicas, p.removingReplicas)) r.removingReplicas = [...target.removingReplicas];
  if (!same(elr, p.elr)) r.elr = elr;
  return Object.keys(r).length > 3 ? r : null;
}

/** An election's ISR: unclean and ELR leaders start an ISR of their own. */
export function isrAfter(e: Election, isr: readonly number[]): number[] {
  return e.unclean || e.fromElr ? [e.leader] : [...isr];
}

/**
 * A broker is fenced or shutting down: drop it from every ISR (unless it is the last member — the
 * ISR then keeps naming who holds the newest data) and move each leadership it held.
 * `image` must already show the broker as fenced/shutting down.
 */
export function movePartitionsAwayFrom(image: MetadataImage, brokerId: number, uncleanDefault: boolean): MetadataRecord[] {
  const out: MetadataRecord[] = [];
  for (const p of image.partitionsOf(brokerId)) {
    let isr = p.isr.length > 1 ? p.isr.filter((r) => r !== brokerId) : [...p.isr];
    let leader = p.leader;
    if (p.leader === brokerId || (p.leader !== NO_LEADER && !isUsable(image, p.leader))) {
      const e = electLeader(image, p, isr, uncleanAllowed(image, p.topic, uncleanDefault), brokerId);
      leader = e.leader;
      if (e.leader !== NO_LEADER) isr = isrAfter(e, isr);
    }
    const c = partitionChange(image, p, { leader, isr });
    if (c) out.push(c);
  }
  return out;
}

/** A broker became usable: every leaderless partition it can lead gets it as leader. */
export function electForLeaderless(image: MetadataImage, uncleanDefault: boolean): MetadataRecord[] {
  const out: MetadataRecord[] = [];
  for (const t of image.topicsByName.values()) {
    for (const p of t.partitions) {
      if (p.leader !== NO_LEADER) continue;
      const e = electLeader(image, p, p.isr, uncleanAllowed(image, p.topic, uncleanDefault));
      if (e.leader === NO_LEADER) continue;
      const c = partitionChange(image, p, { leader: e.leader, isr: isrAfter(e, p.isr) });
      if (c) out.push(c);
    }
  }
  return out;
}

/**
 * Preferred-leader rebalancing: where the first replica is usable and in the ISR but does not
 * lead, give it the leadership back (it was chosen to spread load). `topics` limits the scope.
 */
export function preferredLeaderChanges(image: MetadataImage, topics?: readonly string[]): MetadataRecord[] {
  const out: MetadataRecord[] = [];
  for (const t of image.topicsByName.values()) {
    if (topics && topics.length > 0 && !topics.includes(t.name)) continue;
    for (const p of t.partitions) {
      const preferred = p.replicas[0];
      if (preferred === undefined || p.leader === preferred || !p.isr.includes(preferred) || !isUsable(image, preferred)) continue;
      const c = partitionChange(image, p, { leader: preferred });
      if (c) out.push(c);
    }
  }
  return out;
}

/** Partitions `brokerId` still leads (controlled shutdown waits for none). */
export function ledBy(image: MetadataImage, brokerId: number): PartitionRegistration[] {
  return image.partitionsOf(brokerId).filter((p) => p.leader === brokerId);
}
