/**
 * The simulated network of the Raft simulation: every message gets a delivery time drawn from the
 * seeded PRNG, so messages are delayed and reordered; some are dropped or duplicated; directed
 * links can be cut (partitions, including one-way ones) and healed.
 */
import type { NodeId } from '../../src/common/types';
import type { Random } from '../../src/common/random';
import type { Message } from '../../src/raft/messages';

export interface NetworkFaults {
  dropProbability: number;
  duplicateProbability: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Some messages are held back much longer: stale answers arriving after elections. */
  longDelayProbability: number;
  longDelayMaxMs: number;
}

export const CALM_NETWORK: NetworkFaults = {
  dropProbability: 0,
  duplicateProbability: 0,
  minDelayMs: 1,
  maxDelayMs: 10,
  longDelayProbability: 0,
  longDelayMaxMs: 0,
};

interface InFlight {
  readonly atMs: number;
  readonly seq: number;
  readonly msg: Message;
}

/** The bound of the in-flight queue: a simulation that floods it has a bug worth seeing. */
export const MAX_IN_FLIGHT_MESSAGES = 200_000;

export class SimNetwork {
  faults: NetworkFaults;
  private readonly heap: InFlight[] = [];
  private seq = 0;
  private readonly cut = new Set<string>();
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(
    private readonly random: Random,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  send(msg: Message, nowMs: number): void {
    this.sent++;
    if (this.random.bool(this.faults.dropProbability)) {
      this.dropped++;
      return;
    }
    this.push(msg, nowMs + this.delay());
    if (this.random.bool(this.faults.duplicateProbability)) {
      this.duplicated++;
      this.push(msg, nowMs + this.delay());
    }
  }

  nextDeliveryMs(): number {
    return this.heap.length > 0 ? this.heap[0]!.atMs : Number.POSITIVE_INFINITY;
  }

  /** The next message due, or null when it was lost to a cut link (checked at delivery time). */
  pop(): Message | null {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    if (this.cut.has(link(top.msg.from, top.msg.to))) {
      this.dropped++;
      return null;
    }
    return top.msg;
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(link(from, to));
  }

  healAll(): void {
    this.cut.clear();
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(link(from, to));
  }

  cutCount(): number {
    return this.cut.size;
  }

  private delay(): number {
    const f = this.faults;
    if (f.longDelayProbability > 0 && this.random.bool(f.longDelayProbability)) return this.random.int(f.maxDelayMs, f.longDelayMaxMs);
    return this.random.int(f.minDelayMs, f.maxDelayMs);
  }

  private push(msg: Message, atMs: number): void {
    if (this.heap.length >= MAX_IN_FLIGHT_MESSAGES) throw new Error(`network queue overflow (${MAX_IN_FLIGHT_MESSAGES} messages in flight)`);
    this.heap.push({ atMs, seq: this.seq++, msg });
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(this.heap[i]!, this.heap[parent]!)) break;
      [this.heap[i], this.heap[parent]] = [this.heap[parent]!, this.heap[i]!];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && before(this.heap[l]!, this.heap[m]!)) m = l;
      if (r < n && before(this.heap[r]!, this.heap[m]!)) m = r;
      if (m === i) return;
      [this.heap[i], this.heap[m]] = [this.heap[m]!, this.heap[i]!];
      i = m;
    }
  }
}

const link = (from: NodeId, to: NodeId) => `${from}>${to}`;
const before = (a: InFlight, b: InFlight) => a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
