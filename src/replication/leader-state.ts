import { invariant } from '../common';

export interface ReplicaProgress {
  /** The follower's log end offset as of its last fetch. */
  logEndOffset: number;
  /** Everything below this is fsynced on the follower: what the high watermark may count. */
  durableEndOffset: number;
  /** Last time the follower was caught up to the leader's log end offset (Kafka's lastCaughtUpTimeMs). */
  lastCaughtUpMs: number;
  lastFetchMs: number;
  /** Leader's log end offset when this follower last fetched: a later fetch at or past it proves it was caught up then. */
  leaderEndAtLastFetchMs: number;
}

/**
 * A partition leader's replication bookkeeping (design brief §6), pure: it is told what the local
 * log made durable and what each follower fetched, and answers with the high watermark and the ISR
 * changes to ask the controller for. No clocks: times are arguments.
 *
 * While an ISR change is in flight (sent to the controller, not yet committed), the high watermark
 * is computed over the *maximal* ISR — the committed one plus members being added — so a write
 * is never counted as replicated by a set that might not become the ISR (KIP-497).
 */
export class LeaderState {
  private readonly progress = new Map<number, ReplicaProgress>();
  private hw: number;
  private localDurableEnd: number;
  isr: readonly number[];
  /** Members the leader has asked the controller to add, until the change commits or is refused. */
  pendingAdditions = new Set<number>();
  /** Members the leader has asked to drop: still counted for the high watermark until the change commits. */
  pendingRemovals = new Set<number>();

  constructor(
    readonly localId: number,
    public replicas: readonly number[],
    isr: readonly number[],
    readonly leaderEpoch: number,
    highWatermark: number,
    localDurableEnd: number,
    nowMs: number,
    /** The log end offset when this leadership began: a follower must reach it to rejoin the ISR (Kafka's rule). */
    readonly epochStartOffset = 0,
    /**
     * min.insync.replicas. The high watermark advances only while the ISR has at least this many
     * members (KIP-966): what becomes visible is then on every eligible leader replica too, which
     * may lead if the ISR dies (found by the replication simulation when ELR was added).
     */
    public minInsync = 1,
  ) {
    invariant(isr.includes(localId), 'leader is not in its own ISR', { localId, isr });
    this.isr = [...isr];
    this.hw = highWatermark;
    this.localDurableEnd = localDurableEnd;
    for (const id of replicas) {
      if (id === localId) continue;
      // Followers in the ISR start as caught up: they were, as of the election (Kafka does the same).
      this.progress.set(id, { logEndOffset: -1, durableEndOffset: -1, lastCaughtUpMs: isr.includes(id) ? nowMs : 0, lastFetchMs: 0, leaderEndAtLastFetchMs: 0 });
    }
  }

  get highWatermark(): number {
    return this.hw;
  }

  /** The ISR the high watermark waits for: the committed one plus pending additions. */
  maximalIsr(): number[] {
    const set = new Set([...this.isr, ...this.pendingAdditions]);
    return [...set];
  }

  replicaProgress(id: number): ReplicaProgress | undefined {
    return this.progress.get(id);
  }

  /** The local log made everything below `durableEnd` durable. Returns true if the high watermark moved. */
  updateLocal(durableEnd: number): boolean {
    this.localDurableEnd = Math.max(this.localDurableEnd, durableEnd);
    return this.recomputeHw();
  }

  /**
   * A follower fetched from `fetchOffset` (its log end) having fsynced everything below
   * `durableOffset`, while the leader's log ended at `leaderEnd`. Returns whether the high
   * watermark moved and whether the follower should be added to the ISR.
   */
  updateFollower(id: number, fetchOffset: number, durableOffset: number, leaderEnd: number, nowMs: number): { hwChanged: boolean; shouldExpand: boolean } {
    const p = this.progress.get(id);
    if (!p) return { hwChanged: false, shouldExpand: false };
    p.logEndOffset = fetchOffset;
    p.durableEndOffset = Math.min(durableOffset, fetchOffset);
    if (fetchOffset >= leaderEnd) p.lastCaughtUpMs = nowMs;
    else if (fetchOffset >= p.leaderEndAtLastFetchMs && p.lastFetchMs > 0) p.lastCaughtUpMs = Math.max(p.lastCaughtUpMs, p.lastFetchMs);
    p.lastFetchMs = nowMs;
    p.leaderEndAtLastFetchMs = leaderEnd;
    const hwChanged = this.recomputeHw();
    // A follower rejoins once it has everything up to the high watermark and past the start of this leader's epoch.
    const shouldExpand =
      !this.isr.includes(id) && !this.pendingAdditions.has(id) && this.replicas.includes(id) && fetchOffset >= this.hw && fetchOffset >= this.epochStartOffset && p.durableEndOffset >= this.hw;
    return { hwChanged, shouldExpand };
  }

  /** ISR members (never the leader) that have not caught up within `lagMaxMs`: to be dropped. */
  laggingReplicas(nowMs: number, lagMaxMs: number): number[] {
    return this.isr.filter((id) => {
      if (id === this.localId || this.pendingRemovals.has(id)) return false;
      const p = this.progress.get(id);
      return p === undefined || nowMs - p.lastCaughtUpMs > lagMaxMs;
    });
  }

  /**
   * The metadata shows an ISR (and replica set). With `settled` — the partition epoch moved, so an
   * in-flight change was decided, or it was refused — the pending additions and removals end; until
   * then they keep counting, so the high watermark never outruns a follower about to join.
   */
  setIsr(isr: readonly number[], replicas: readonly number[] = this.replicas, settled = true): boolean {
    this.isr = [...isr];
    this.replicas = [...replicas];
    for (const id of replicas) {
      if (id !== this.localId && !this.progress.has(id)) this.progress.set(id, { logEndOffset: -1, durableEndOffset: -1, lastCaughtUpMs: 0, lastFetchMs: 0, leaderEndAtLastFetchMs: 0 });
    }
    if (settled) {
      this.pendingAdditions.clear();
      this.pendingRemovals.clear();
    }
    return this.recomputeHw();
  }

  protected recomputeHw(): boolean {
    if (this.isr.length < this.minInsync) return false;
    let min = this.localDurableEnd;
    for (const id of this.maximalIsr()) {
      if (id === this.localId) continue;
      const p = this.progress.get(id);
      min = Math.min(min, p ? p.durableEndOffset : -1);
    }
    // The high watermark never goes backwards on a leader (design brief §10).
    if (min > this.hw) {
      this.hw = min;
      return true;
    }
    return false;
  }
}
