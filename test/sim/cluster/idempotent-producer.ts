/**
 * The simulation's idempotent producer (issue 17): one producer id, every partition's batches
 * numbered from sequence 0, at most MAX_IN_FLIGHT batches past the first unacknowledged one sent, each
 * failed or lost attempt resent with the same producer id, epoch and sequence — to whoever the
 * metadata says leads — until it is acknowledged. The network loses, delays, reorders and
 * duplicates its requests and answers; the fault injector crashes and fences leaders under it.
 *
 * What it checks, besides the cluster checker's "an acknowledged record is never lost":
 * - every answer for a batch names the same offset (a resent batch is answered with its original);
 * - batches are acknowledged at increasing offsets in sequence order;
 * - a batch sent while everything before it was acknowledged is never refused as out of order or
 *   from an unknown producer (the leader lost the producer's state);
 * - at the end (`checkExactlyOnce`), every record is in the log exactly once, in the order sent.
 */
import { ErrorCode, errorName } from '../../../src/common/errors';
import type { Random } from '../../../src/common/random';
import { tpKey } from '../../../src/common/types';
import type { ProduceResponse } from '../../../src/protocol/messages';
import { encodeBatch } from '../../../src/record/batch';
import type { ReplicaView } from './invariants';
import { Violation } from './invariants';
import type { SimNetwork } from './network';
import type { ClusterNode } from './node';
import type { SimScheduler } from './scheduler';

/** Kafka's max.in.flight.requests.per.connection bound for idempotence. */
export const MAX_IN_FLIGHT = 5;
/** Batches waiting per partition before the producer stops making new ones (its buffer). */
const MAX_QUEUED = 40;
const PRODUCE_TIMEOUT_MS = 1_500;
/** Values of this producer's records start with this, so the checks can tell them from the plain producer's. */
export const IDEMPOTENT_PREFIX = 'i';

interface SimBatch {
  readonly seq: number;
  readonly values: string[];
  readonly bytes: Buffer;
  inFlight: number;
  ackedOffset: number | null;
  retryAtMs: number;
}

export interface IdempotentProducerContext {
  readonly scheduler: SimScheduler;
  readonly network: SimNetwork;
  readonly client: number;
  readonly topic: string;
  readonly partitions: number;
  node(id: number): ClusterNode;
  upNodes(): ClusterNode[];
  leaderGuess(partition: number): number;
  /** The cluster checker's record of an acknowledged write. */
  onAck(tp: string, offset: number, value: string): void;
  /** A violation found in a continuation: the simulation loop throws it. */
  fail(v: Violation): void;
  log(line: string): void;
}

export class SimIdempotentProducer {
  private producerId = -1;
  private readonly producerEpoch = 0;
  private readonly queues: SimBatch[][];
  private readonly nextSeq: number[];
  private initInFlight = false;
  acked = 0;
  refusals = 0;

  constructor(
    private readonly ctx: IdempotentProducerContext,
    private readonly random: Random,
  ) {
    this.queues = Array.from({ length: ctx.partitions }, () => []);
    this.nextSeq = Array.from({ length: ctx.partitions }, () => 0);
  }

  /** Adds a batch of 1–3 records to `partition` (unless its buffer is full) and sends what may go. */
  produce(partition: number): void {
    const q = this.queues[partition]!;
    if (q.filter((b) => b.ackedOffset === null).length < MAX_QUEUED) {
      const seq = this.nextSeq[partition]!;
      const n = this.random.int(1, 3);
      const values = Array.from({ length: n }, (_, k) => `${IDEMPOTENT_PREFIX}${partition}:${seq + k}`);
      this.nextSeq[partition] = seq + n;
      q.push({ seq, values, bytes: Buffer.alloc(0), inFlight: 0, ackedOffset: null, retryAtMs: 0 });
    }
    this.pump();
  }

  /** Every batch made so far has been acknowledged. */
  get drained(): boolean {
    return this.queues.every((q) => q.every((b) => b.ackedOffset !== null));
  }

  /** Sends what may go: the first unacknowledged batches of each partition, at most MAX_IN_FLIGHT attempts on the wire. */
  pump(): void {
    if (this.producerId < 0) {
      this.init();
      return;
    }
    const now = this.ctx.scheduler.nowMs;
    for (let p = 0; p < this.ctx.partitions; p++) {
      const q = this.queues[p]!;
      let wire = q.reduce((n, b) => n + b.inFlight, 0);
      // The leader remembers a producer's last MAX_IN_FLIGHT batches: nothing past that many from the
      // first unacknowledged one may be sent, or a resend of that one would be out of its window.
      const first = q.findIndex((b) => b.ackedOffset === null);
      for (let i = first; i >= 0 && i < q.length && i < first + MAX_IN_FLIGHT && wire < MAX_IN_FLIGHT; i++) {
        const b = q[i]!;
        if (b.ackedOffset !== null || b.inFlight > 0 || b.retryAtMs > now) continue;
        wire++;
        this.send(p, i);
      }
    }
  }

  private init(): void {
    if (this.initInFlight) return;
    const up = this.ctx.upNodes().filter((n) => n.producerIds);
    if (up.length === 0) return this.later();
    const node = this.random.pick(up);
    this.initInFlight = true;
    this.ctx.network
      .call<number>(this.ctx.client, node.id, 'initProducerId', PRODUCE_TIMEOUT_MS, () => (node.producerIds ? node.producerIds.nextId() : Promise.reject(new Error('down'))))
      .then(
        (id) => {
          this.producerId = id;
          this.ctx.log(`idempotent producer id ${id}`);
        },
        (err: Error) => this.ctx.log(`initProducerId at ${node.id}: ${err.message}`),
      )
      .finally(() => {
        this.initInFlight = false;
        this.later();
      });
  }

  private later(): void {
    this.ctx.scheduler.after(this.random.int(20, 200), () => this.pump());
  }

  private send(partition: number, index: number): void {
    const b = this.queues[partition]![index]!;
    const leader = this.ctx.leaderGuess(partition);
    if (leader <= 0) {
      const delayMs = this.random.int(20, 200);
      b.retryAtMs = this.ctx.scheduler.nowMs + delayMs;
      this.ctx.scheduler.after(delayMs, () => this.pump());
      return;
    }
    const bytes = encodeBatch(
      b.values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: 0, headers: [] })),
      { producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence: b.seq },
    );
    // Everything before it acknowledged when it left: a refusal for its sequence is then a lost state.
    const headWhenSent = this.queues[partition]!.slice(0, index).every((x) => x.ackedOffset !== null);
    b.inFlight++;
    this.ctx.network
      .call<ProduceResponse>(this.ctx.client, leader, 'produce', PRODUCE_TIMEOUT_MS, () => {
        const h = this.ctx.node(leader).produce;
        // A copy per delivery: the broker stamps offsets into the buffer it is given.
        return h
          ? h.handle({ correlationId: 0, acks: -1, timeoutMs: PRODUCE_TIMEOUT_MS, partitions: [{ topic: this.ctx.topic, partition, batches: Buffer.from(bytes) }] })
          : Promise.reject(new Error('down'));
      })
      .then(
        (res) => this.answered(partition, b, leader, res, headWhenSent),
        () => this.failed(b),
      )
      .finally(() => this.pump());
  }

  private answered(partition: number, b: SimBatch, leader: number, res: ProduceResponse, headWhenSent: boolean): void {
    b.inFlight--;
    const r = res.results[0]!;
    const tp = tpKey(this.ctx.topic, partition);
    if (r.errorCode !== ErrorCode.NONE) {
      this.refusals++;
      if (headWhenSent && (r.errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER || r.errorCode === ErrorCode.UNKNOWN_PRODUCER_ID)) {
        this.ctx.fail(
          new Violation(
            `${tp}: leader ${leader} refused sequence ${b.seq} of producer ${this.producerId} with ${errorName(r.errorCode)}, though every batch before it was acknowledged (lost producer state)`,
          ),
        );
      }
      if (r.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH) this.ctx.fail(new Violation(`${tp}: producer ${this.producerId} epoch ${this.producerEpoch} fenced, though nothing bumped it`));
      this.ctx.log(`idempotent ${tp} seq ${b.seq} at ${leader}: ${errorName(r.errorCode)}`);
      this.failed(b, false);
      return;
    }
    if (b.ackedOffset !== null) {
      if (b.ackedOffset !== r.baseOffset)
        this.ctx.fail(new Violation(`${tp}: sequence ${b.seq} of producer ${this.producerId} acknowledged at offset ${b.ackedOffset} and again at ${r.baseOffset} (written twice)`));
      return;
    }
    const q = this.queues[partition]!;
    const i = q.indexOf(b);
    const before = q.slice(0, i).filter((x) => x.ackedOffset !== null);
    const prev = before[before.length - 1];
    if (prev && prev.ackedOffset! >= r.baseOffset) {
      this.ctx.fail(new Violation(`${tp}: sequence ${b.seq} acknowledged at offset ${r.baseOffset}, not after sequence ${prev.seq} at ${prev.ackedOffset} (reordered)`));
    }
    b.ackedOffset = r.baseOffset;
    this.acked++;
    try {
      b.values.forEach((v, k) => this.ctx.onAck(tp, r.baseOffset + k, v));
    } catch (err) {
      this.ctx.fail(err as Violation);
    }
  }

  private failed(b: SimBatch, decrement = true): void {
    if (decrement) b.inFlight--;
    const delayMs = this.random.int(10, 150);
    if (b.ackedOffset === null) b.retryAtMs = this.ctx.scheduler.nowMs + delayMs;
    this.ctx.scheduler.after(delayMs, () => this.pump());
  }

  /**
   * After the heal, every batch acknowledged and the replicas converged: the leader's log holds
   * each of this producer's records once, and in the order sent, for every partition.
   */
  checkExactlyOnce(leaderViews: readonly ReplicaView[]): void {
    for (const v of leaderViews) {
      const partition = Number(v.tp.slice(v.tp.lastIndexOf('-') + 1));
      const seen = new Map<number, number>();
      let last = -1;
      for (let o = v.logStartOffset; o < v.logEndOffset; o++) {
        const value = v.valueAt(o);
        if (value === undefined || !value.startsWith(`${IDEMPOTENT_PREFIX}${partition}:`)) continue;
        const seq = Number(value.slice(value.indexOf(':') + 1));
        const first = seen.get(seq);
        if (first !== undefined) throw new Violation(`${v.tp}: record ${value} is in the log twice, at offsets ${first} and ${o}`);
        seen.set(seq, o);
        if (seq !== last + 1) throw new Violation(`${v.tp}: record ${value} at offset ${o} follows sequence ${last} (out of order or missing)`);
        last = seq;
      }
      const expected = this.nextSeq[partition]!;
      if (last + 1 !== expected && v.logStartOffset === 0) throw new Violation(`${v.tp}: the log ends this producer's records at sequence ${last}, but ${expected} were sent and acknowledged`);
    }
  }
}
