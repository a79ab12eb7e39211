/**
 * The simulation's idempotent producer (issue 17). Its send bookkeeping is the client's own pure
 * core, `PartitionSendState` (src/client/idempotence.ts): sequence numbers, up to 5 batches in
 * flight per partition, the window the leader remembers, resends in order after a failure, the
 * KIP-360 epoch bump. The shell around it is the simulation's: producer ids from the brokers'
 * ProducerIdManager (InitProducerId), requests to whoever the metadata says leads, over
 * connections that keep their requests in order as a gRPC stream does (SimConnection).
 *
 * The network loses, delays and replays its requests and answers; the fault injector crashes,
 * partitions and fences leaders under it. What it checks, besides the cluster checker's "an
 * acknowledged record is never lost":
 * - no batch is failed by the core (with a correct cluster and client every batch is eventually
 *   written: a refusal of the first unacknowledged batch as out of order or from an unknown
 *   producer means the leader lost the producer's state, or the producer sent past the 5 batches
 *   the leader remembers);
 * - batches are acknowledged at increasing offsets in sequence order;
 * - at the end (`checkExactlyOnce`), every record is in the log exactly once, in the order sent.
 */
import { PartitionSendState, type SequencedBatch } from '../../../src/client/idempotence';
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

/** The client's default (Kafka's bound for idempotence). */
export const MAX_IN_FLIGHT = 5;
/** Batches waiting per partition before the producer stops making new ones (its buffer). */
const MAX_QUEUED = 40;
const PRODUCE_TIMEOUT_MS = 1_500;
/** A batch not acknowledged this long after it was made fails (the producer's deliveryTimeoutMs): whether it was written is unknown. */
export const DELIVERY_TIMEOUT_MS = 5_000;
/** Values of this producer's records start with this, so the checks can tell them from the plain producer's. */
export const IDEMPOTENT_PREFIX = 'i';

export interface SimBatch extends SequencedBatch {
  readonly values: string[];
  readonly createdMs: number;
  ackedOffset: number | null;
}

interface PartitionProducer {
  readonly state: PartitionSendState<SimBatch>;
  /** Not yet sent, or back for a resend, head first. */
  readonly queue: SimBatch[];
  /** Records made so far (the next record's number). */
  made: number;
  /** Each acknowledged batch: its first record's number and offset. */
  readonly acked: { first: number; offset: number }[];
  /** Numbers of the records of batches the producer failed (expired, or given up at a bump): each may be in the log once, or not at all. */
  readonly failed: Set<number>;
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

/**
 * One client connection to a broker, in order as an HTTP/2 stream is: a request that arrives
 * before an earlier one waits for it; once a request or its answer is lost (the call timed out)
 * the connection is broken, everything still waiting on it fails, and the next request opens a
 * new one. A replayed delivery of a request already handed over runs again (the broker must
 * answer it as the duplicate it is).
 */
class SimConnection {
  private sent = 0;
  private delivered = 0;
  private readonly parked = new Map<number, () => void>();
  broken = false;

  next(): number {
    return this.sent++;
  }

  arrive<T>(n: number, run: () => Promise<T>): Promise<T> {
    if (this.broken) return Promise.reject(new Error('connection broken'));
    if (n < this.delivered) return run();
    return new Promise<T>((resolve, reject) => {
      this.parked.set(n, () => {
        if (this.broken) reject(new Error('connection broken'));
        else run().then(resolve, reject);
      });
      while (this.parked.has(this.delivered)) {
        const go = this.parked.get(this.delivered)!;
        this.parked.delete(this.delivered);
        this.delivered++;
        go();
      }
    });
  }

  break(): void {
    this.broken = true;
    for (const go of this.parked.values()) go();
    this.parked.clear();
  }
}

export class SimIdempotentProducer {
  private producerId = -1;
  private initInFlight = false;
  private readonly parts: PartitionProducer[];
  private readonly connections = new Map<number, SimConnection>();
  acked = 0;
  failedBatches = 0;

  constructor(
    private readonly ctx: IdempotentProducerContext,
    private readonly random: Random,
    /** The client's core, or a deliberately broken subclass of it (bugs.ts). */
    createCore: () => PartitionSendState<SimBatch> = () => new PartitionSendState<SimBatch>(true, MAX_IN_FLIGHT),
  ) {
    this.parts = Array.from({ length: ctx.partitions }, () => ({ state: createCore(), queue: [], made: 0, acked: [], failed: new Set<number>(), retryAtMs: 0 }));
  }

  /** Adds a batch of 1–3 records to `partition` (unless its buffer is full) and sends what may go. */
  produce(partition: number): void {
    const p = this.parts[partition]!;
    if (p.queue.length + p.state.inFlightCount < MAX_QUEUED) {
      const n = this.random.int(1, 3);
      const values = Array.from({ length: n }, (_, k) => `${IDEMPOTENT_PREFIX}${partition}:${p.made + k}`);
      p.made += n;
      p.queue.push({ values, recordCount: n, producerId: -1, producerEpoch: -1, baseSequence: -1, createdMs: this.ctx.scheduler.nowMs, ackedOffset: null });
    }
    this.pump();
  }

  /** Every batch made so far has been acknowledged. */
  get drained(): boolean {
    return this.parts.every((p) => p.queue.length === 0 && p.state.inFlightCount === 0 && !p.state.resendDue);
  }

  /** Sends, for every partition, what its core lets go. */
  pump(): void {
    if (this.producerId < 0) return this.init();
    const now = this.ctx.scheduler.nowMs;
    this.parts.forEach((p, partition) => {
      const s = p.state;
      if (!s.hasProducerId) s.setProducerId({ producerId: this.producerId, producerEpoch: 0 });
      // As the client's producer settles a partition: once nothing is in flight, batches past their
      // delivery timeout fail, a due bump happens and fails what it gave up, failed batches go back
      // to the queue; then batches at the queue's head past their delivery timeout fail, and if
      // any did, it settles again.
      const settle = () => {
        if (s.inFlightCount === 0) for (const b of s.waitingBatches()) if (b.createdMs + DELIVERY_TIMEOUT_MS <= now) this.expire(p, b);
        if (s.bumpDue) {
          if (s.bumpEpoch()) for (const b of s.takeAbandoned()) this.giveUp(p, b, 'given up at the epoch bump');
          else this.ctx.fail(new Violation(`producer ${this.producerId} ran out of epochs`));
        }
        if (s.resendDue) p.queue.unshift(...s.takeResends());
      };
      settle();
      let expired = false;
      while (p.queue.length > 0 && p.queue[0]!.createdMs + DELIVERY_TIMEOUT_MS <= now) {
        this.expire(p, p.queue.shift()!);
        expired = true;
      }
      if (expired) settle();
      if (p.retryAtMs > now) return;
      while (p.queue.length > 0 && s.canSend()) {
        const b = p.queue.shift()!;
        s.onSend(b);
        this.send(partition, b);
      }
    });
  }

  private expire(p: PartitionProducer, b: SimBatch): void {
    p.state.onExpired(b);
    this.giveUp(p, b, 'expired');
  }

  /** The batch failed as the client fails it: its records may be in the log once, or not at all. */
  private giveUp(p: PartitionProducer, b: SimBatch, why: string): void {
    const first = Number(b.values[0]!.slice(b.values[0]!.indexOf(':') + 1));
    for (let k = 0; k < b.values.length; k++) p.failed.add(first + k);
    this.failedBatches++;
    this.ctx.log(`idempotent ${b.values[0]}..: ${why} (sequence ${b.baseSequence}, epoch ${b.producerEpoch})`);
  }

  private init(): void {
    if (this.initInFlight) return;
    const up = this.ctx.upNodes().filter((n) => n.producerIds);
    if (up.length === 0) return this.wake(this.random.int(20, 200));
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
        this.wake(0);
      });
  }

  private wake(afterMs: number): void {
    this.ctx.scheduler.after(afterMs, () => this.pump());
  }

  private connection(broker: number): SimConnection {
    let c = this.connections.get(broker);
    if (!c || c.broken) this.connections.set(broker, (c = new SimConnection()));
    return c;
  }

  private send(partition: number, b: SimBatch): void {
    const leader = this.ctx.leaderGuess(partition);
    if (leader <= 0) {
      this.answered(partition, b, leader, ErrorCode.LEADER_NOT_AVAILABLE, -1);
      return;
    }
    const bytes = encodeBatch(
      b.values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: 0, headers: [] })),
      { producerId: b.producerId, producerEpoch: b.producerEpoch, baseSequence: b.baseSequence },
    );
    const conn = this.connection(leader);
    const n = conn.next();
    this.ctx.network
      .call<ProduceResponse>(this.ctx.client, leader, 'produce', PRODUCE_TIMEOUT_MS, () =>
        conn.arrive(n, () => {
          const h = this.ctx.node(leader).produce;
          // A copy per delivery: the broker stamps offsets into the buffer it is given.
          return h
            ? h.handle({ correlationId: 0, acks: -1, timeoutMs: PRODUCE_TIMEOUT_MS, partitions: [{ topic: this.ctx.topic, partition, batches: Buffer.from(bytes) }] })
            : Promise.reject(new Error('down'));
        }),
      )
      .then(
        (res) => this.answered(partition, b, leader, res.results[0]!.errorCode, res.results[0]!.baseOffset),
        () => {
          conn.break();
          this.answered(partition, b, leader, ErrorCode.NETWORK_EXCEPTION, -1);
        },
      );
  }

  private answered(partition: number, b: SimBatch, leader: number, errorCode: ErrorCode, baseOffset: number): void {
    const p = this.parts[partition]!;
    const tp = tpKey(this.ctx.topic, partition);
    const verdict = p.state.onResponse(b, errorCode);
    if (verdict === 'fail') {
      this.ctx.fail(
        new Violation(
          `${tp}: the producer core failed sequence ${b.baseSequence} (epoch ${b.producerEpoch}) of producer ${b.producerId} on ${errorName(errorCode)} from ${leader}: the leader lost the producer's state, or the producer sent past the leader's window`,
        ),
      );
    } else if (verdict === 'resend') {
      this.ctx.log(`idempotent ${tp} seq ${b.baseSequence} at ${leader}: ${errorName(errorCode)}`);
      const backoffMs = this.random.int(10, 150);
      p.retryAtMs = Math.max(p.retryAtMs, this.ctx.scheduler.nowMs + backoffMs);
      this.wake(backoffMs);
      return;
    } else {
      // Answers may arrive in any order; offsets must still follow the order the records were made in.
      const first = Number(b.values[0]!.slice(b.values[0]!.indexOf(':') + 1));
      const before = p.acked.filter((x) => x.first < first).reduce<{ first: number; offset: number } | null>((m, x) => (m === null || x.first > m.first ? x : m), null);
      const after = p.acked.filter((x) => x.first > first).reduce<{ first: number; offset: number } | null>((m, x) => (m === null || x.first < m.first ? x : m), null);
      if ((before && before.offset >= baseOffset) || (after && after.offset <= baseOffset)) {
        const other = before && before.offset >= baseOffset ? before : after!;
        this.ctx.fail(new Violation(`${tp}: record ${first} acknowledged at offset ${baseOffset}, record ${other.first} at ${other.offset} (reordered)`));
      }
      b.ackedOffset = baseOffset;
      p.acked.push({ first, offset: baseOffset });
      this.acked++;
      try {
        b.values.forEach((v, k) => this.ctx.onAck(tp, baseOffset + k, v));
      } catch (err) {
        this.ctx.fail(err as Violation);
      }
    }
    this.pump();
  }

  /**
   * After the heal, every batch acknowledged and the replicas converged: the leader's log holds
   * each of this producer's records once, and in the order sent, for every partition.
   */
  checkExactlyOnce(leaderViews: readonly ReplicaView[]): void {
    for (const v of leaderViews) {
      const partition = Number(v.tp.slice(v.tp.lastIndexOf('-') + 1));
      const prefix = `${IDEMPOTENT_PREFIX}${partition}:`;
      const p = this.parts[partition]!;
      const seen = new Map<number, number>();
      let last = -1;
      for (let o = v.logStartOffset; o < v.logEndOffset; o++) {
        const value = v.valueAt(o);
        if (value === undefined || !value.startsWith(prefix)) continue;
        const n = Number(value.slice(prefix.length));
        const first = seen.get(n);
        if (first !== undefined) throw new Violation(`${v.tp}: record ${value} is in the log twice, at offsets ${first} and ${o}`);
        seen.set(n, o);
        if (n <= last) throw new Violation(`${v.tp}: record ${value} at offset ${o} follows record ${last} (out of order)`);
        // Records skipped over must be of failed batches (their outcome unknown); an acknowledged one is never missing.
        for (let k = last + 1; k < n; k++) if (!p.failed.has(k)) throw new Violation(`${v.tp}: record ${prefix}${k} is missing before ${value} at offset ${o}`);
        last = n;
      }
      if (v.logStartOffset === 0)
        for (let k = last + 1; k < p.made; k++) if (!p.failed.has(k)) throw new Violation(`${v.tp}: the log ends this producer's records at ${last}, but ${prefix}${k} was acknowledged`);
    }
  }
}
