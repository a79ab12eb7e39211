import { CairnError, ErrorCode, needsMetadataRefresh } from '../common';
import { Compression, type Header } from '../record';
import type { InitProducerIdRequest, InitProducerIdResponse, PartitionProduceResult, ProduceRequest } from '../protocol';
import { type BrokerConnection, Cluster, type ClientOptions } from './cluster';
import { MAX_IN_FLIGHT_PER_PARTITION, PartitionSendState, type ProducerIdAndEpoch } from './idempotence';
import type { ConsumerGroupMetadata } from './group-membership';
import { partitionForKey, StickyPartitioner } from './partitioner';
import { TransactionStateMachine } from './transaction-state';
import { TransactionCoordinatorClient, type TransactionState } from './transactions';
import type { ProducerBatch, RecordMetadata } from './producer-batch';
import { PartitionQueue, RecordAccumulator } from './record-accumulator';
import { backoffMs } from './retry';

export type { RecordMetadata } from './producer-batch';

export type Acks = 0 | 1 | -1 | 'all';

export interface ProducerOptions extends ClientOptions {
  /** 0: fire and forget; 1: the leader wrote it; 'all' (-1, the default): every in-sync replica has it durably. */
  acks?: Acks;
  /**
   * Idempotent sends (KIP-98): a producer id and per-partition sequence numbers let the leader drop
   * a retried batch it already wrote and refuse gaps, so retries neither duplicate nor reorder.
   * Default: on when acks is 'all', silently off otherwise (as Kafka); true with acks 0 or 1 is
   * INVALID_CONFIG.
   */
  enableIdempotence?: boolean;
  /** How long a batch waits for more records while its partition has requests in flight (Kafka 4's default: 5). A partition with nothing in flight sends at once. */
  lingerMs?: number;
  /** Largest batch built, in bytes (default 64 KiB). */
  batchSizeBytes?: number;
  /** Bytes of records waiting to be sent before send() starts to wait for room. */
  bufferMemoryBytes?: number;
  /** How long send() waits for room in the buffer, or for the topic's metadata, before failing. */
  maxBlockMs?: number;
  /** Upper bound on the time from send() to success or failure, retries included. */
  deliveryTimeoutMs?: number;
  /**
   * Produce requests in flight per partition (default 5, at most 5 when idempotent). Idempotent,
   * order holds across retries at any value; without idempotence a retry can reorder or duplicate
   * records unless this is 1 (Kafka's max.in.flight.requests.per.connection).
   */
  maxInFlightPerPartition?: number;
  /** Largest produce request, in bytes (batches of many partitions go in one request). */
  maxRequestBytes?: number;
  compression?: 'none' | 'gzip';
  /**
   * Makes this a transactional producer (KIP-98; docs/transactions.md): call initTransactions()
   * once, then beginTransaction(), send() and sendOffsetsToTransaction(), and commitTransaction()
   * or abortTransaction(). Records of a transaction are seen by read_committed consumers only if
   * it commits. A second producer with the same id fences this one. Implies idempotence.
   */
  transactionalId?: string;
  /** How long a transaction may stay open before its coordinator aborts it (transaction.timeout.ms, default 60 000). */
  transactionTimeoutMs?: number;
  /** The producer's clock (default Date.now); for tests. */
  clock?: { nowMs(): number };
  /** Randomness for backoff jitter and the sticky partitioner's next partition, in [0, 1) (default Math.random); for tests. */
  random?: () => number;
}

/** Seams for tests and simulations: a Cluster whose brokers are fakes. */
export interface ProducerDeps {
  cluster?: Cluster;
}

export interface ProducerRecord {
  topic: string;
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, string | Buffer | null> | Header[];
  /** Explicit partition; else by key (murmur2, as Kafka), else sticky. */
  partition?: number;
  /** Create time in ms; default now. */
  timestamp?: number;
}

/** One partition as the shell sees it: its queue (accumulator) and its send bookkeeping. */
interface Partition {
  readonly q: PartitionQueue;
  readonly s: PartitionSendState<ProducerBatch>;
  /** An InitProducerId for this partition (its epoch ran out) is under way. */
  newIdPending: boolean;
}

/** A transactional producer's parts: its conversations with the coordinators, and its state machine (transaction-state.ts). */
interface Transactional {
  readonly coordinator: TransactionCoordinatorClient;
  readonly state: TransactionStateMachine;
}

/** Bytes charged against bufferMemoryBytes per record beyond its key and value. */
const RECORD_OVERHEAD_BYTES = 32;

const toBuffer = (v: Buffer | string | null | undefined): Buffer | null => (v === null || v === undefined ? null : typeof v === 'string' ? Buffer.from(v, 'utf8') : v);

function toHeaders(h: ProducerRecord['headers']): Header[] | undefined {
  if (!h) return undefined;
  if (Array.isArray(h)) return h;
  return Object.entries(h).map(([key, value]) => ({ key, value: toBuffer(value) }));
}

/**
 * Largest batch, 256 KiB (Kafka's batch.size is 16 KiB). With at most 5 batches in flight per
 * partition (the leader remembers 5 per producer), the batch size bounds what one partition can
 * have in flight: 64 KiB held a 3-partition topic to ~150-300k records/s here (bench:produce),
 * 256 KiB lifted it to ~220k (RF=3) and ~390k (one node). A batch only grows while its partition
 * has requests in flight, so the larger bound costs a lone record nothing.
 */
export const DEFAULT_BATCH_SIZE_BYTES = 256 * 1024;

/**
 * The producer (design brief §3, §7, §9), the shell around two pure parts: the RecordAccumulator
 * builds batches per partition, PartitionSendState (idempotence.ts) keeps each partition's
 * sequence numbers and in-flight batches. This file owns the timers, the clock and the sockets:
 * a partition with nothing in flight sends at once, otherwise records batch up until full or
 * lingerMs; up to maxInFlightPerPartition requests per partition; retriable failures are resent
 * in order after a metadata refresh and backoff, until the delivery timeout.
 */
export class Producer {
  readonly cluster: Cluster;
  private readonly acks: 0 | 1 | -1;
  private readonly idempotent: boolean;
  private readonly o: Required<Omit<ProducerOptions, keyof ClientOptions | 'acks' | 'compression' | 'enableIdempotence' | 'clock' | 'random' | 'transactionalId' | 'transactionTimeoutMs'>>;
  /** Transactional producers only. */
  private readonly txn: Transactional | null;
  /** Sends that wait for metadata or room, in the order send() was called: each is placed after the one before. */
  private slowSends: Promise<void> = Promise.resolve();
  private readonly clock: { nowMs(): number };
  private readonly random: () => number;
  private readonly accumulator: RecordAccumulator;
  /** Per topic, one entry per partition (index = partition id). */
  private readonly topics = new Map<string, Partition[]>();
  private readonly sticky: StickyPartitioner;
  /** The id every partition starts with; asked for once, before the first idempotent send. */
  private producerId: ProducerIdAndEpoch | null = null;
  private producerIdPending = false;
  private bufferedBytes = 0;
  /** Sends waiting for metadata or buffer room (not in a batch yet), and flushes waiting for them. */
  private waitingSends = 0;
  private readonly sendWaiters: (() => void)[] = [];
  private readonly roomWaiters: { bytes: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;
  private immediate: NodeJS.Immediate | null = null;
  private flushing = 0;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private pendingRecords = 0;

  constructor(opts: ProducerOptions = {}, deps: ProducerDeps = {}) {
    const acks = opts.acks ?? 'all';
    this.acks = acks === 'all' ? -1 : acks;
    if (![0, 1, -1].includes(this.acks)) throw new CairnError(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1, -1 or 'all'`);
    if (opts.enableIdempotence === true && this.acks !== -1) throw new CairnError(ErrorCode.INVALID_CONFIG, `enableIdempotence needs acks 'all' (got ${acks})`);
    const transactional = opts.transactionalId !== undefined;
    if (transactional && (this.acks !== -1 || opts.enableIdempotence === false)) throw new CairnError(ErrorCode.INVALID_CONFIG, 'a transactional producer is idempotent, with acks all');
    if (transactional && (typeof opts.transactionalId !== 'string' || opts.transactionalId.length === 0)) throw new CairnError(ErrorCode.INVALID_CONFIG, 'transactionalId is empty');
    this.idempotent = transactional || (opts.enableIdempotence ?? this.acks === -1);
    const maxInFlight = opts.maxInFlightPerPartition ?? MAX_IN_FLIGHT_PER_PARTITION;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || (this.idempotent && maxInFlight > MAX_IN_FLIGHT_PER_PARTITION)) {
      throw new CairnError(
        ErrorCode.INVALID_CONFIG,
        `maxInFlightPerPartition must be an integer from 1${this.idempotent ? ` to ${MAX_IN_FLIGHT_PER_PARTITION} when idempotent` : ''} (got ${maxInFlight})`,
      );
    }
    this.o = {
      lingerMs: opts.lingerMs ?? 5,
      batchSizeBytes: opts.batchSizeBytes ?? DEFAULT_BATCH_SIZE_BYTES,
      bufferMemoryBytes: opts.bufferMemoryBytes ?? 32 * 1024 * 1024,
      maxBlockMs: opts.maxBlockMs ?? 60_000,
      deliveryTimeoutMs: opts.deliveryTimeoutMs ?? 120_000,
      maxInFlightPerPartition: maxInFlight,
      maxRequestBytes: opts.maxRequestBytes ?? 8 * 1024 * 1024,
    };
    this.clock = opts.clock ?? { nowMs: () => Date.now() };
    this.random = opts.random ?? Math.random;
    this.sticky = new StickyPartitioner(this.o.batchSizeBytes, this.random, (topic, partition) => (this.cluster.cachedPartition(topic, partition)?.leaderId ?? -1) >= 0);
    this.accumulator = new RecordAccumulator({
      batchSizeBytes: this.o.batchSizeBytes,
      lingerMs: this.o.lingerMs,
      compression: opts.compression === 'gzip' ? Compression.GZIP : Compression.NONE,
      transactional,
    });
    this.cluster = deps.cluster ?? new Cluster(opts);
    const txnTimeoutMs = opts.transactionTimeoutMs ?? 60_000;
    if (!Number.isInteger(txnTimeoutMs) || txnTimeoutMs <= 0) throw new CairnError(ErrorCode.INVALID_CONFIG, `transactionTimeoutMs must be a positive integer (got ${txnTimeoutMs})`);
    this.txn = transactional
      ? { coordinator: new TransactionCoordinatorClient(this.cluster, opts.transactionalId!, txnTimeoutMs, this.o.maxBlockMs), state: new TransactionStateMachine(opts.transactionalId!) }
      : null;
  }

  /** Whether sends are idempotent (enableIdempotence, or its default for the acks chosen). */
  get isIdempotent(): boolean {
    return this.idempotent;
  }

  /**
   * Sends one record; resolves when it is acknowledged as configured by `acks`, rejects with a
   * CairnError otherwise. Records sent one after another to a partition are written in that
   * order: a send that must wait (for the topic's metadata, or room in the buffer) holds back
   * every later send until it is placed.
   */
  send(record: ProducerRecord): Promise<RecordMetadata> {
    if (this.closed) return Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, 'producer is closed'));
    const refused = this.txn?.state.notOpen('send') ?? null;
    if (refused !== null) return Promise.reject(refused);
    const key = toBuffer(record.key);
    const value = toBuffer(record.value);
    const size = (key?.length ?? 0) + (value?.length ?? 0) + RECORD_OVERHEAD_BYTES;
    const partitions = this.topics.get(record.topic);
    // The hot path: metadata cached, room in the buffer, and no earlier send still waiting, so nothing to wait for.
    if (partitions !== undefined && this.waitingSends === 0 && (this.bufferedBytes + size <= this.o.bufferMemoryBytes || this.bufferedBytes === 0)) {
      return new Promise<RecordMetadata>((resolve, reject) => this.place(record, partitions, key, value, size, resolve, reject));
    }
    return this.sendSlow(record, key, value, size);
  }

  /** Waits, behind every earlier waiting send, for room and metadata; then places the record (if its transaction is still the open one). */
  private sendSlow(record: ProducerRecord, key: Buffer | null, value: Buffer | null, size: number): Promise<RecordMetadata> {
    // flush() and close() wait for this send too: it is not in a batch yet while it waits.
    this.waitingSends++;
    const generation = this.txn?.state.generation ?? 0;
    return new Promise<RecordMetadata>((resolve, reject) => {
      this.slowSends = this.slowSends.then(async () => {
        try {
          if (this.bufferedBytes + size > this.o.bufferMemoryBytes && this.bufferedBytes > 0) await this.waitForRoom(size);
          let partitions = this.topics.get(record.topic);
          if (partitions === undefined) {
            // Kafka's producer waits up to max.block.ms for a topic's metadata (it may have just been created).
            const t = await this.cluster.waitForTopic(record.topic, this.o.maxBlockMs);
            partitions = this.topics.get(record.topic);
            if (partitions === undefined) {
              partitions = t.partitions.map((p) => ({
                q: new PartitionQueue(record.topic, p.partition),
                s: new PartitionSendState<ProducerBatch>(this.idempotent, this.o.maxInFlightPerPartition),
                newIdPending: false,
              }));
              this.topics.set(record.topic, partitions);
            }
          }
          const late = this.txn?.state.placeable(generation) ?? null;
          if (late !== null) throw late;
          this.place(record, partitions, key, value, size, resolve, reject);
        } catch (err) {
          reject(err as Error);
        } finally {
          this.sendPlaced();
        }
      });
    });
  }

  /** A send that waited (for metadata or room) is placed, or failed: flush() may go on once none waits. */
  private sendPlaced(): void {
    if (--this.waitingSends === 0) for (const w of this.sendWaiters.splice(0)) w();
  }

  /** Chooses the partition (explicit, by key, or sticky) and appends. */
  private place(record: ProducerRecord, partitions: Partition[], key: Buffer | null, value: Buffer | null, size: number, resolve: (m: RecordMetadata) => void, reject: (e: Error) => void): void {
    const n = partitions.length;
    let partition: number;
    if (record.partition !== undefined) {
      partition = record.partition;
      if (!Number.isInteger(partition) || partition < 0 || partition >= n) {
        reject(new CairnError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic "${record.topic}" has partitions 0..${n - 1}, not ${partition}`));
        return;
      }
    } else if (key !== null) {
      partition = partitionForKey(key, n);
    } else {
      partition = this.sticky.partition(record.topic, n);
    }
    const p = partitions[partition]!;
    const now = this.clock.nowMs();
    const open = p.q.batches[p.q.batches.length - 1];
    const wasOpen = open !== undefined && !open.sealed;
    const batch = this.accumulator.append(p.q, { timestamp: record.timestamp ?? now, key, value, headers: toHeaders(record.headers), bytes: size, resolve, reject }, now);
    const closedFullBatch = wasOpen && open.sealed;
    this.bufferedBytes += size;
    this.pendingRecords++;
    if (record.partition === undefined && key === null) this.sticky.onAppended(p.q.topic, p.q.partition, size, closedFullBatch, n);
    // Nothing in flight: leave at once — on the next turn of the event loop, so that records sent in the same tick share the batch.
    if (p.s.inFlightCount === 0 || closedFullBatch) this.drainSoon();
    else if (batch.recordCount === 1) this.drainAt(batch.createdMs + this.o.lingerMs);
  }

  private waitForRoom(bytes: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.roomWaiters.findIndex((w) => w.timer === timer);
        if (i >= 0) this.roomWaiters.splice(i, 1);
        reject(new CairnError(ErrorCode.REQUEST_TIMED_OUT, `no room in the producer buffer (${this.o.bufferMemoryBytes} bytes) within ${this.o.maxBlockMs} ms`));
      }, this.o.maxBlockMs);
      this.roomWaiters.push({ bytes, resolve, reject, timer });
    });
  }

  private release(b: ProducerBatch): void {
    this.bufferedBytes -= b.bytes;
    this.pendingRecords -= b.recordCount;
    while (this.roomWaiters.length > 0 && this.bufferedBytes + this.roomWaiters[0]!.bytes <= this.o.bufferMemoryBytes) {
      const w = this.roomWaiters.shift()!;
      clearTimeout(w.timer);
      w.resolve();
    }
    if (this.pendingRecords === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private drainSoon(): void {
    this.immediate ??= setImmediate(() => {
      this.immediate = null;
      this.drain();
    });
  }

  private drainAt(atMs: number): void {
    if (this.timer !== null && this.timerAtMs <= atMs) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAtMs = Infinity;
        this.drain();
      },
      Math.max(0, atMs - this.clock.nowMs()),
    );
  }

  private *allPartitions(): Generator<Partition> {
    for (const ps of this.topics.values()) yield* ps;
  }

  /** Sends every ready batch whose partition may send; at most one batch per partition per request. */
  private drain(): void {
    if (this.closed) return;
    const now = this.clock.nowMs();
    const byBroker = new Map<number, Partition[]>();
    let nextWakeMs = Infinity;
    for (const p of this.allPartitions()) {
      this.settle(p, now);
      // A resend that expires at the head of the queue can make an epoch bump due: settle again, or what is behind it never goes.
      if (this.expireQueued(p, now)) this.settle(p, now);
      if (p.q.batches.length === 0 || !this.hasProducerId(p)) continue;
      if (!p.s.canSend()) continue; // a response, or the new id, wakes it
      if (p.q.retryAtMs > now) {
        nextWakeMs = Math.min(nextWakeMs, p.q.retryAtMs);
        continue;
      }
      const readyAt = this.accumulator.readyAtMs(p.q, now, { idle: p.s.inFlightCount === 0, flushing: this.flushing > 0 });
      if (readyAt > now) {
        nextWakeMs = Math.min(nextWakeMs, readyAt);
        continue;
      }
      const leader = this.cluster.cachedPartition(p.q.topic, p.q.partition)?.leaderId ?? -1;
      if (leader < 0) {
        p.q.retryAtMs = now + this.cluster.backoff.retryBackoffMs;
        nextWakeMs = Math.min(nextWakeMs, p.q.retryAtMs);
        void this.cluster.refresh().catch(() => undefined);
        continue;
      }
      const group = byBroker.get(leader);
      if (group) group.push(p);
      else byBroker.set(leader, [p]);
    }
    for (const [broker, group] of byBroker) this.sendRounds(broker, group, now);
    if (nextWakeMs < Infinity) this.drainAt(nextWakeMs);
  }

  /**
   * Requests to one broker, each with at most one batch per partition (the broker requires it of
   * idempotent batches; it also makes each in-flight request one batch of the partition): round
   * after round while some partition has a ready batch and room in flight.
   */
  private sendRounds(broker: number, group: Partition[], now: number): void {
    let pending = group;
    while (pending.length > 0) {
      const taken: { p: Partition; b: ProducerBatch }[] = [];
      const next: Partition[] = [];
      let bytes = 0;
      for (const p of pending) {
        if (!p.s.canSend() || this.accumulator.readyAtMs(p.q, now, { idle: p.s.inFlightCount === 0, flushing: this.flushing > 0 }) > now) continue;
        const size = p.q.batches[0]!.sizeBytes;
        if (taken.length > 0 && bytes + size > this.o.maxRequestBytes) {
          next.push(p);
          continue;
        }
        const b = this.accumulator.take(p.q)!;
        p.s.onSend(b);
        b.attempts++;
        bytes += size;
        taken.push({ p, b });
        next.push(p);
      }
      if (taken.length === 0) return;
      this.sendRequest(broker, taken);
      pending = next;
    }
  }

  /** What happens once nothing of the partition is in flight: expiry of failed batches, an epoch bump, resends. */
  private settle(p: Partition, now: number): void {
    if (p.s.inFlightCount > 0) return;
    for (const b of p.s.waitingBatches()) {
      if (b.createdMs + this.o.deliveryTimeoutMs > now) continue;
      p.s.onExpired(b);
      this.failBatch(b, this.timeoutError(b));
    }
    if (this.txn !== null && (p.s.bumpDue || (p.s.resendDue && this.txn.state.aborting))) {
      // The epoch is the coordinator's: the transaction must abort, whose end gives the next
      // epoch; and nothing of an aborted transaction is worth resending. What waits fails here,
      // forgotten by the partition's bookkeeping, and the partition sends nothing until then.
      const err = new CairnError(ErrorCode.TRANSACTION_ABORTABLE, this.txn.state.aborting ? 'the transaction was aborted' : `a write to ${p.q.topic}-${p.q.partition} failed; abort the transaction`);
      if (p.s.bumpDue) this.txn.state.failed(err);
      for (const b of p.s.waitingBatches()) {
        p.s.onExpired(b);
        this.failBatch(b, err);
      }
      for (const b of p.q.batches.splice(0)) this.failBatch(b, err);
      return;
    }
    if (p.s.bumpDue && !p.newIdPending) {
      if (p.s.bumpEpoch()) this.failAbandoned(p);
      else this.newProducerIdFor(p);
    }
    if (p.s.resendDue) {
      const resends = p.s.takeResends();
      p.q.batches.unshift(...resends);
      p.q.retryAtMs = now + backoffMs(resends[0]!.attempts, this.cluster.backoff, this.random());
    }
  }

  /**
   * Fails what an epoch bump gave up: batches sent under the old epoch and not acknowledged. Any
   * of them may be in the log; resent under new numbers it could be written twice.
   */
  private failAbandoned(p: Partition): void {
    for (const b of p.s.takeAbandoned()) {
      const why = b.lastError;
      const msg = 'given up when the partition bumped its producer epoch: it may or may not have been written';
      this.failBatch(b, why ? new CairnError(why.code, `${why.message} (${msg})`) : new CairnError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, msg));
    }
  }

  /** Fails batches at the head of the queue that ran out of delivery time before they could leave; says whether it failed any. */
  private expireQueued(p: Partition, now: number): boolean {
    let any = false;
    for (let b = p.q.batches[0]; b !== undefined && b.createdMs + this.o.deliveryTimeoutMs <= now; b = p.q.batches[0]) {
      p.q.batches.shift();
      p.s.onExpired(b);
      this.failBatch(b, this.timeoutError(b));
      any = true;
    }
    return any;
  }

  /** Whether the partition can stamp batches: true without idempotence; else gives it the shared id, asking for one once. */
  private hasProducerId(p: Partition): boolean {
    if (p.s.hasProducerId) return true;
    if (this.producerId !== null) {
      p.s.setProducerId(this.producerId);
      return true;
    }
    // A transactional producer's id comes from initTransactions() alone.
    if (this.txn === null && !this.producerIdPending) {
      this.producerIdPending = true;
      this.initProducerId().then(
        (id) => {
          this.producerIdPending = false;
          this.producerId = id;
          this.drain();
        },
        (err: CairnError) => {
          // Nothing can be sent idempotently without an id: fail what waits for one; the next send asks again.
          this.producerIdPending = false;
          for (const x of this.allPartitions()) if (!x.s.hasProducerId) for (const b of x.q.batches.splice(0)) this.failBatch(b, err);
        },
      );
    }
    return false;
  }

  /** KIP-360 at the largest epoch: a new id for this partition; it stays blocked until then. */
  private newProducerIdFor(p: Partition): void {
    p.newIdPending = true;
    this.initProducerId().then(
      (id) => {
        p.newIdPending = false;
        p.s.setProducerId(id);
        this.failAbandoned(p);
        this.drain();
      },
      () => {
        // Try again after a backoff; the delivery timeout bounds how long its batches wait.
        p.newIdPending = false;
        this.drainAt(this.clock.nowMs() + this.cluster.backoff.retryBackoffMaxMs);
      },
    );
  }

  /** InitProducerId at any broker, retried (any broker answers) until the delivery timeout. */
  private initProducerId(): Promise<ProducerIdAndEpoch> {
    return this.cluster.retrying(
      'InitProducerId',
      async (attempt) => {
        const addresses = this.cluster.brokerCandidates();
        const conn = this.cluster.connection(addresses[(attempt - 1) % addresses.length]!);
        const res = await conn.rpc.unary<InitProducerIdRequest, InitProducerIdResponse>('InitProducerId', {}, this.cluster.requestTimeoutMs);
        if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage || undefined);
        return { producerId: res.producerId, producerEpoch: res.producerEpoch };
      },
      this.o.deliveryTimeoutMs,
    );
  }

  private sendRequest(broker: number, taken: { p: Partition; b: ProducerBatch }[]): void {
    let conn: BrokerConnection;
    try {
      conn = this.cluster.broker(broker);
    } catch (err) {
      const e = asCairnError(err);
      for (const t of taken) this.onAnswer(t.p, t.b, e.code, e.message, -1, -1);
      void this.cluster.refresh().catch(() => undefined);
      this.drainSoon();
      return;
    }
    const req: Omit<ProduceRequest, 'correlationId'> = {
      acks: this.acks,
      timeoutMs: this.cluster.requestTimeoutMs,
      transactionalId: this.txn?.coordinator.transactionalId ?? '',
      partitions: taken.map((t) => ({ topic: t.p.q.topic, partition: t.p.q.partition, batches: t.b.wireBytes() })),
    };
    this.withRequestTimeout(conn.produce.send(req, this.acks !== 0)).then(
      (res) => {
        for (const t of taken) {
          const r: PartitionProduceResult | null | undefined = res === null ? null : res.results.find((x) => x.topic === t.p.q.topic && x.partition === t.p.q.partition);
          if (r === null) this.onAnswer(t.p, t.b, ErrorCode.NONE, '', -1, -1);
          else if (r === undefined) this.onAnswer(t.p, t.b, ErrorCode.NETWORK_EXCEPTION, 'response had no result for the partition', -1, -1);
          else this.onAnswer(t.p, t.b, r.errorCode, r.errorMessage ?? '', r.baseOffset, r.logAppendTimeMs);
        }
        this.drain();
      },
      (err: unknown) => {
        const e = asCairnError(err);
        for (const t of taken) this.onAnswer(t.p, t.b, e.code, e.message, -1, -1);
        void this.cluster.refresh().catch(() => undefined);
        this.drain();
      },
    );
  }

  /** The stream has no deadline of its own: past requestTimeoutMs the outcome is unknown (REQUEST_TIMED_OUT, retriable). */
  private withRequestTimeout<T>(answer: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CairnError(ErrorCode.REQUEST_TIMED_OUT, `no answer within requestTimeoutMs ${this.cluster.requestTimeoutMs}`)), this.cluster.requestTimeoutMs);
      answer.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e as Error);
        },
      );
    });
  }

  /** One batch's answer, through the partition's bookkeeping: complete, fail, or keep for a resend (settle takes it back). */
  private onAnswer(p: Partition, b: ProducerBatch, code: number, message: string, baseOffset: number, logAppendTimeMs: number): void {
    const verdict = p.s.onResponse(b, code);
    if (verdict === 'acked') {
      if (b.settled) return;
      b.complete(baseOffset, logAppendTimeMs);
      this.release(b);
      return;
    }
    const err = new CairnError(code, message || undefined);
    b.lastError = err;
    if (needsMetadataRefresh(code)) void this.cluster.refresh().catch(() => undefined);
    if (verdict === 'fail') this.failBatch(b, err);
  }

  /** The delivery timeout ran out: report the last failure's code (it says why), else a timeout. */
  private timeoutError(batch: ProducerBatch): CairnError {
    const why = batch.lastError;
    const msg = `not delivered within deliveryTimeoutMs ${this.o.deliveryTimeoutMs}`;
    return why ? new CairnError(why.code, `${why.message} (${msg})`) : new CairnError(ErrorCode.REQUEST_TIMED_OUT, msg);
  }

  private failBatch(b: ProducerBatch, err: Error): void {
    if (b.settled) return;
    // In a transaction, any lost write means the transaction cannot commit.
    this.txn?.state.failed(err instanceof CairnError ? err : new CairnError(ErrorCode.TRANSACTION_ABORTABLE, err.message));
    b.fail(err);
    this.release(b);
  }

  // ---- transactions ----

  /**
   * Registers the transactional id with its coordinator and gets this producer's id and epoch:
   * any earlier producer with the same id is fenced, and a transaction it left open is aborted
   * (the call waits for that). Call once, before the first transaction.
   */
  async initTransactions(): Promise<void> {
    const txn = this.requireTxn('initTransactions');
    txn.state.checkInit();
    const id = await this.txnCall(txn, () => txn.coordinator.initProducerId());
    this.useProducerId(id);
    txn.state.initialized();
  }

  beginTransaction(): void {
    this.requireTxn('beginTransaction').state.begin();
  }

  /**
   * Commits consumed offsets as part of the transaction (KIP-447): they become the group's
   * committed offsets only if it commits. `group` is the consumer's groupMetadata(), so a
   * consumer that lost its partitions (a zombie) cannot commit for them.
   */
  async sendOffsetsToTransaction(offsets: readonly { topic: string; partition: number; offset: number; leaderEpoch?: number; metadata?: string }[], group: ConsumerGroupMetadata): Promise<void> {
    const txn = this.requireTxn('sendOffsetsToTransaction');
    txn.state.checkOpen('sendOffsetsToTransaction');
    if (offsets.length === 0) return;
    try {
      await this.txnCall(txn, () => txn.coordinator.addOffsets(this.producerId!, group.groupId));
      await this.txnCall(txn, () => txn.coordinator.txnOffsetCommit(this.producerId!, group, offsets));
    } catch (err) {
      txn.state.failed(err as CairnError);
      throw err;
    }
  }

  /**
   * Sends everything of the transaction, then commits it: its records become visible to
   * read_committed consumers, its offsets committed. Throws TRANSACTION_ABORTABLE when a write of
   * it failed (call abortTransaction()); after a timeout or network failure it may be called
   * again (the coordinator answers a repeated commit as the first).
   */
  async commitTransaction(): Promise<void> {
    const txn = this.requireTxn('commitTransaction');
    txn.state.startCommit();
    await this.flush();
    txn.state.checkCommittable();
    const next = await this.txnCall(txn, () => txn.coordinator.endTxn(this.producerId!, true));
    this.useProducerId(next);
    txn.state.ended();
  }

  /**
   * Aborts the transaction: what was not sent yet fails, what is in flight is waited for, and
   * the coordinator writes abort markers (read_committed consumers drop its records). May be
   * called again after a timeout or network failure.
   */
  async abortTransaction(): Promise<void> {
    const txn = this.requireTxn('abortTransaction');
    txn.state.startAbort();
    // Sends still waiting for metadata or room fail as they come to be placed (the transaction is aborting).
    while (this.waitingSends > 0) await new Promise<void>((resolve) => this.sendWaiters.push(resolve));
    const aborted = new CairnError(ErrorCode.TRANSACTION_ABORTABLE, 'the transaction was aborted');
    for (const p of this.allPartitions()) for (const b of p.q.batches.splice(0)) this.failBatch(b, aborted);
    await this.idle();
    const next = await this.txnCall(txn, () => txn.coordinator.endTxn(this.producerId!, false));
    this.useProducerId(next);
    txn.state.ended();
  }

  /** Where the transaction is (transactional producers only). */
  get transactionState(): TransactionState {
    return this.txn?.state.state ?? 'uninitialized';
  }

  private requireTxn(what: string): Transactional {
    if (this.txn === null) throw new CairnError(ErrorCode.INVALID_CONFIG, `${what}() needs the transactionalId option`);
    if (this.closed) throw new CairnError(ErrorCode.NETWORK_EXCEPTION, 'producer is closed');
    return this.txn;
  }

  /** A call at a coordinator; a fencing answer makes the producer fenced for good. */
  private async txnCall<T>(txn: Transactional, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err instanceof CairnError ? err : new CairnError(ErrorCode.NETWORK_EXCEPTION, (err as Error).message);
      txn.state.callFailed(e);
      throw e;
    }
  }

  /** The producer's identity from now on (after init or a transaction's end): every partition starts its sequences again. */
  private useProducerId(id: ProducerIdAndEpoch): void {
    this.producerId = id;
    for (const p of this.allPartitions()) {
      if (!p.s.hasProducerId && p.q.batches.length === 0) continue;
      p.s.setProducerId(id);
      this.failAbandoned(p);
    }
  }

  /** Resolves once nothing is queued or in flight. */
  private idle(): Promise<void> {
    if (this.pendingRecords === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.drain();
    return done;
  }

  /** Sends everything buffered now and resolves once every record sent before the call has completed. */
  async flush(): Promise<void> {
    while (this.waitingSends > 0) await new Promise<void>((resolve) => this.sendWaiters.push(resolve));
    if (this.pendingRecords === 0) return;
    this.flushing++;
    try {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      this.drain();
      await idle;
    } finally {
      this.flushing--;
    }
  }

  /** Flushes, then closes connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      if (this.immediate) clearImmediate(this.immediate);
      this.cluster.close();
    }
  }
}

function asCairnError(err: unknown): CairnError {
  return err instanceof CairnError ? err : new CairnError(ErrorCode.NETWORK_EXCEPTION, err instanceof Error ? err.message : String(err));
}
