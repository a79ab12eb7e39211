/**
 * The invariants of the whole-cluster simulation (design brief §10; docs/simulation.md), checked
 * after every step against what each node's real objects say. Pure: it is fed views and acks and
 * keeps what it needs to compare across time (what was committed, who led which epoch), so a test
 * can hand it a bad history and watch it object.
 */

/** One replica of one partition as its broker sees it right now. */
export interface ReplicaView {
  readonly broker: number;
  readonly tp: string;
  /** False once the broker has crashed: its last view stays, cut back to what it had fsynced. */
  readonly live: boolean;
  readonly role: 'leader' | 'follower';
  readonly leaderEpoch: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  /** Everything below is fsynced, as the log reports it. */
  readonly durableEndOffset: number;
  readonly offline: boolean;
  /** The record value at `offset`, undefined outside the log. */
  valueAt(offset: number): string | undefined;
  /**
   * Bumped whenever the log lost records (truncation, restart, rebuild): what was checked of it
   * before must be checked again.
   */
  readonly generation: number;
}

export interface MetadataView {
  readonly node: number;
  readonly offset: number;
  readonly digest: string;
}

export class Violation extends Error {}

export interface CheckerOptions {
  minInsyncReplicas: number;
}

interface ReplicaProgress {
  generation: number;
  /** Offsets below this were checked against `committed`. */
  checkedBelow: number;
}

export class ClusterChecker {
  /** Per partition, offset → value of every record a leader's high watermark passed. */
  readonly committed = new Map<string, Map<number, string>>();
  /** Per partition, how far committed records are known (the highest high watermark seen). */
  private readonly committedEnd = new Map<string, number>();
  /** `tp@epoch` → the broker that led it. */
  private readonly leaders = new Map<string, number>();
  /** `broker tp@epoch` → its high watermark as leader. */
  private readonly leaderHw = new Map<string, number>();
  private readonly progress = new Map<string, ReplicaProgress>();
  private readonly digests = new Map<number, { node: number; digest: string }>();
  acked = 0;

  constructor(private readonly o: CheckerOptions) {}

  /**
   * An acks=all produce was answered: `value` is at `offset`, which a leader's high watermark
   * passed. It must be what was committed there. (The checker looks after each step, so a leader
   * that moved its high watermark and lost leadership within one step was not seen: then the
   * acknowledgement itself says the offset is committed.)
   */
  onAck(tp: string, offset: number, value: string): void {
    this.acked++;
    let committed = this.committed.get(tp);
    if (!committed) this.committed.set(tp, (committed = new Map()));
    const c = committed.get(offset);
    if (c === undefined) committed.set(offset, value);
    else if (c !== value) throw new Violation(`${tp}: ${value} acknowledged at offset ${offset}, but ${c} was committed there`);
  }

  /** Checks every replica of every partition, and every node's metadata. */
  check(replicas: readonly ReplicaView[], metadata: readonly MetadataView[]): void {
    const byTp = new Map<string, ReplicaView[]>();
    for (const r of replicas) {
      let list = byTp.get(r.tp);
      if (!list) byTp.set(r.tp, (list = []));
      list.push(r);
    }
    for (const [tp, views] of byTp) this.checkPartition(tp, views);
    for (const m of metadata) {
      const seen = this.digests.get(m.offset);
      if (seen === undefined) this.digests.set(m.offset, { node: m.node, digest: m.digest });
      else if (seen.digest !== m.digest) throw new Violation(`metadata differs at offset ${m.offset}: node ${seen.node} has ${seen.digest}, node ${m.node} has ${m.digest}`);
    }
  }

  private checkPartition(tp: string, views: readonly ReplicaView[]): void {
    let committed = this.committed.get(tp);
    if (!committed) this.committed.set(tp, (committed = new Map()));
    for (const v of views) {
      if (!v.live || v.offline || v.role !== 'leader') continue;
      const epochKey = `${tp}@${v.leaderEpoch}`;
      const leader = this.leaders.get(epochKey);
      if (leader === undefined) {
        this.leaders.set(epochKey, v.broker);
        this.checkNewLeader(tp, v, committed);
      } else if (leader !== v.broker) {
        throw new Violation(`${tp}: brokers ${leader} and ${v.broker} both lead epoch ${v.leaderEpoch}`);
      }
      const hwKey = `${v.broker} ${epochKey}`;
      const before = this.leaderHw.get(hwKey) ?? -1;
      if (v.highWatermark < before) throw new Violation(`${tp}: leader ${v.broker}'s high watermark went back from ${before} to ${v.highWatermark} in epoch ${v.leaderEpoch}`);
      this.leaderHw.set(hwKey, v.highWatermark);
      const end = this.committedEnd.get(tp) ?? 0;
      if (v.highWatermark > end) {
        this.commit(tp, v, views, committed, Math.max(end, v.logStartOffset), v.highWatermark);
        this.committedEnd.set(tp, v.highWatermark);
      }
    }
    // Every replica agrees with what was committed, below its own high watermark.
    for (const v of views) {
      if (v.offline) continue;
      const key = `${v.broker} ${tp}`;
      let p = this.progress.get(key);
      if (!p || p.generation !== v.generation) this.progress.set(key, (p = { generation: v.generation, checkedBelow: v.logStartOffset }));
      const upTo = Math.min(v.highWatermark, v.logEndOffset);
      for (let o = Math.max(p.checkedBelow, v.logStartOffset); o < upTo; o++) {
        const c = committed.get(o);
        const has = v.valueAt(o);
        if (c !== undefined && has !== c)
          throw new Violation(`${tp}: broker ${v.broker} has ${has ?? 'nothing'} at offset ${o} below its high watermark ${v.highWatermark}, but ${c} was committed there`);
      }
      p.checkedBelow = Math.max(p.checkedBelow, upTo);
    }
  }

  /** A broker starts leading an epoch: it must hold every committed record (no acknowledged write lost). */
  private checkNewLeader(tp: string, v: ReplicaView, committed: Map<number, string>): void {
    for (const [o, value] of committed) {
      if (o < v.logStartOffset) continue;
      const has = v.valueAt(o);
      if (has !== value) throw new Violation(`${tp}: broker ${v.broker} leads epoch ${v.leaderEpoch} without committed ${value} at offset ${o} (has ${has ?? 'nothing'}; log end ${v.logEndOffset})`);
    }
  }

  /**
   * The leader's high watermark passed [from, to): those records are committed. Each must be on
   * the fsynced disks of min.insync.replicas replicas at that moment, or one crash could take it.
   */
  private commit(tp: string, leader: ReplicaView, views: readonly ReplicaView[], committed: Map<number, string>, from: number, to: number): void {
    const holders = views.filter((r) => !r.offline && r.durableEndOffset >= to && sameRange(r, leader, from, to));
    if (holders.length < this.o.minInsyncReplicas) {
      throw new Violation(
        `${tp}: leader ${leader.broker} (epoch ${leader.leaderEpoch}) moved its high watermark to ${to} with offsets ${from}..${to - 1} fsynced on ${holders.length > 0 ? `only ${holders.map((h) => h.broker).join(',')}` : 'no replica'} (min.insync.replicas ${this.o.minInsyncReplicas})`,
      );
    }
    for (let o = from; o < to; o++) {
      const value = leader.valueAt(o);
      if (value === undefined) throw new Violation(`${tp}: leader ${leader.broker}'s high watermark ${to} passes offset ${o}, which its log does not hold (end ${leader.logEndOffset})`);
      const earlier = committed.get(o);
      if (earlier !== undefined && earlier !== value) throw new Violation(`${tp}: offset ${o} committed twice: ${earlier}, then ${value} by leader ${leader.broker} in epoch ${leader.leaderEpoch}`);
      committed.set(o, value);
    }
  }

  /** After the faults healed and the cluster settled: every replica holds exactly what was committed, and the same log. */
  checkConverged(replicas: readonly ReplicaView[]): void {
    const byTp = new Map<string, ReplicaView[]>();
    for (const r of replicas) byTp.set(r.tp, [...(byTp.get(r.tp) ?? []), r]);
    for (const [tp, views] of byTp) {
      const committed = this.committed.get(tp) ?? new Map<number, string>();
      const leader = views.find((v) => v.live && v.role === 'leader');
      if (!leader) throw new Violation(`${tp}: no leader after the faults healed`);
      for (const v of views) {
        if (!v.live) throw new Violation(`${tp}: broker ${v.broker} is not running after the heal`);
        if (v.offline) throw new Violation(`${tp}: broker ${v.broker}'s replica is still offline after the heal`);
        for (const [o, value] of committed) {
          if (o >= v.logStartOffset && v.valueAt(o) !== value) throw new Violation(`${tp}: committed ${value} at offset ${o} is lost on broker ${v.broker} (has ${v.valueAt(o) ?? 'nothing'})`);
        }
        if (v.logEndOffset !== leader.logEndOffset) throw new Violation(`${tp}: broker ${v.broker} ends at ${v.logEndOffset}, leader ${leader.broker} at ${leader.logEndOffset}, after the heal`);
        for (let o = Math.max(v.logStartOffset, leader.logStartOffset); o < v.logEndOffset; o++) {
          if (v.valueAt(o) !== leader.valueAt(o)) throw new Violation(`${tp}: broker ${v.broker} has ${v.valueAt(o)} at offset ${o}, leader ${leader.broker} has ${leader.valueAt(o)}, after the heal`);
        }
      }
    }
  }
}

function sameRange(a: ReplicaView, b: ReplicaView, from: number, to: number): boolean {
  if (a === b) return true;
  for (let o = from; o < to; o++) if (a.valueAt(o) !== b.valueAt(o)) return false;
  return true;
}
