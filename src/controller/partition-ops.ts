import { type MetadataImage, NO_LEADER, type PartitionRegistration } from '../metadata/image';
import type { MetadataRecord, PartitionChangeRecord } from '../metadata/records';

/** Whether a broker may lead or be added to an ISR: registered, unfenced, not shutting down. */
export function isUsable(image: MetadataImage, id: number): boolean {
  const b = image.brokers.get(id);
  return b !== undefined && !b.fenced && !b.inControlledShutdown;
}

export function uncleanAllowed(image: MetadataImage, topic: string, clusterDefault: boolean): boolean {
  const v = image.topicConfigs(topic).get('unclean.leader.election.enable');
  return v === undefined ? clusterDefault : v === 'true';
}

/**
 * Picks a leader (design brief §5): the first replica, in preferred order, that is in the ISR and
 * usable. Only if none is, and unclean election is allowed, the first usable replica at all —
 * which may lack acknowledged data, hence the flag. NO_LEADER otherwise: offline, not led by the dead.
 */
export function electLeader(image: MetadataImage, p: Pick<PartitionRegistration, 'replicas' | 'isr'>, isr: readonly number[], unclean: boolean, exclude: number = NO_LEADER): { leader: number; unclean: boolean } {
  for (const r of p.replicas) if (r !== exclude && isr.includes(r) && isUsable(image, r)) return { leader: r, unclean: false };
  if (unclean) for (const r of p.replicas) if (r !== exclude && isUsable(image, r)) return { leader: r, unclean: true };
  return { leader: NO_LEADER, unclean: false };
}

/** A PartitionChange only if something actually changes. */
function change(p: PartitionRegistration, leader: number, isr: readonly number[]): PartitionChangeRecord | null {
  const sameIsr = isr.length === p.isr.length && isr.every((x, i) => x === p.isr[i]);
  if (leader === p.leader && sameIsr) return null;
  const r: PartitionChangeRecord = { type: 'PartitionChange', topicId: p.topicId, partition: p.partition };
  if (leader !== p.leader) r.leader = leader;
  if (!sameIsr) r.isr = [...isr];
  return r;
}

/**
 * A broker is fenced or shutting down: drop it from every ISR (unless it is the last member — the
 * ISR then keeps naming who holds the newest data) and move each leadership it held.
 * `image` must already show the broker as fenced/shutting down.
 */
export function movePartitionsAwayFrom(image: MetadataImage, brokerId: number, uncleanDefault: boolean): MetadataRecord[] {
  const out: MetadataRecord[] = [];
  for (const p of image.partitionsOf(brokerId)) {
    const isr = p.isr.length > 1 ? p.isr.filter((r) => r !== brokerId) : [...p.isr];
    let leader = p.leader;
    let newIsr = isr;
    if (p.leader === brokerId || (p.leader !== NO_LEADER && !isUsable(image, p.leader))) {
      const e = electLeader(image, p, isr, uncleanAllowed(image, p.topic, uncleanDefault), brokerId);
      leader = e.leader;
      if (e.unclean) newIsr = [e.leader];
    }
    const c = change(p, leader, newIsr);
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
      const c = change(p, e.leader, e.unclean ? [e.leader] : p.isr);
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
      const c = change(p, preferred, p.isr);
      if (c) out.push(c);
    }
  }
  return out;
}

/** Partitions `brokerId` still leads (controlled shutdown waits for none). */
export function ledBy(image: MetadataImage, brokerId: number): PartitionRegistration[] {
  return image.partitionsOf(brokerId).filter((p) => p.leader === brokerId);
}
