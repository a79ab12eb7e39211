import { CairnError, ErrorCode, isRetriable, needsMetadataRefresh } from '../common';
import { Compression, type Header, RecordBatchBuilder } from '../record';
import type { PartitionProduceResult, ProduceRequest, ProduceResponse } from '../protocol';
import { type BrokerConnection, Cluster, type ClientOptions } from './cluster';
import { partitionForKey, StickyPartitioner } from './partitioner';
import { backoffMs } from './retry';

export type Acks = 0 | 1 | -1 | 'all';

export interface ProducerOptions extends ClientOptions {
  /** 0: fire and forget; 1: the leader wrote it; 'all' (-1, the default): every in-sync replica has it durably. */
  acks?: Acks;
  /** How long a batch waits for more records before it is sent (Kafka 4's default: 5). */
  lingerMs?: number;
  /** Largest batch built, in bytes. */
  batchSizeBytes?: number;
  /** Bytes of records waiting to be sent before send() starts to wait for room. */
  bufferMemoryBytes?: number;
  /** How long send() waits for room in the buffer before failing. */
  maxBlockMs?: number;
  /** Upper bound on the time from send() to success or failure, retries included. */
  deliveryTimeoutMs?: number;
  /** Requests in flight per broker. Batches of one partition are never in flight twice, so order is kept across retries. */
  maxInFlightPerBroker?: number;
  /** Largest produce request, in bytes (many batches go in one request). */
  maxRequestBytes?: number;
  compression?: 'none' | 'gzip';
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

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks=0 (the broker does not answer). */
  offset: number;
  timestamp: number;
}

class ProducerBatch {
  readonly builder: RecordBatchBuilder;
  readonly resolves: ((m: RecordMetadata) => void)[] = [];
  readonly rejects: ((e: Error) => void)[] = [];
  readonly timestamps: number[] = [];
  built: Buffer | null = null;
  bytes = 0;
  attempts = 0;
  /** Why the last attempt failed: reported if the delivery timeout runs out, since it says why. */
  lastError: CairnError | null = null;

  constructor(
    readonly topic: string,
    readonly partition: number,
    maxBytes: number,
    compression: Compression,
    readonly createdMs: number,
  ) {
    this.builder = new RecordBatchBuilder(maxBytes, { compression });
  }

  close(): Buffer {
    this.built ??= this.builder.build();
    return this.built;
  }
}

class PartitionQueue {
  readonly batches: ProducerBatch[] = [];
  inflight = false;
  retryAtMs = 0;
  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
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
 * The producer (design brief §3, §9): records accumulate per partition into batches (by linger
 * time and size), batches of many partitions go to each leader in one request over that broker's
 * produce stream, and retriable failures are retried with backoff after a metadata refresh until
 * the delivery timeout. A partition never has two requests in flight, so records of one partition
 * are written in send order even across retries.
 */
export class Producer {
  readonly cluster: Cluster;
  private readonly acks: 0 | 1 | -1;
  private readonly o: Required<Omit<ProducerOptions, keyof ClientOptions | 'acks' | 'compression'>> & { compression: Compression };
  /** Per topic, one queue per partition (index = partition id). */
  private readonly topicQueues = new Map<string, PartitionQueue[]>();
  private readonly inflightPerBroker = new Map<number, number>();
  private readonly sticky = new StickyPartitioner();
  private bufferedBytes = 0;
  private readonly roomWaiters: { bytes: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;
  private flushing = 0;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private pendingRecords = 0;

  constructor(opts: ProducerOptions = {}) {
    this.cluster = new Cluster(opts);
    const acks = opts.acks ?? 'all';
    this.acks = acks === 'all' ? -1 : acks;
    if (![0, 1, -1].includes(this.acks)) throw new CairnError(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1, -1 or 'all'`);
    this.o = {
      lingerMs: opts.lingerMs ?? 5,
      batchSizeBytes: opts.batchSizeBytes ?? 64 * 1024,
      bufferMemoryBytes: opts.bufferMemoryBytes ?? 32 * 1024 * 1024,
      maxBlockMs: opts.maxBlockMs ?? 60_000,
      deliveryTimeoutMs: opts.deliveryTimeoutMs ?? 120_000,
      maxInFlightPerBroker: opts.maxInFlightPerBroker ?? 5,
      maxRequestBytes: opts.maxRequestBytes ?? 8 * 1024 * 1024,
      compression: opts.compression === 'gzip' ? Compression.GZIP : Compression.NONE,
    };
  }

  /** Sends one record; resolves when it is acknowledged as configured by `acks`, rejects with a CairnError otherwise. */
  send(record: ProducerRecord): Promise<RecordMetadata> {
    if (this.closed) return Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, 'producer is closed'));
    const key = toBuffer(record.key);
    const value = toBuffer(record.value);
    const size = (key?.length ?? 0) + (value?.length ?? 0) + RECORD_OVERHEAD_BYTES;
    const queues = this.topicQueues.get(record.topic);
    // The hot path: metadata cached and room in the buffer, so nothing to wait for.
    if (queues !== undefined && (this.bufferedBytes + size <= this.o.bufferMemoryBytes || this.bufferedBytes === 0)) {
      return new Promise<RecordMetadata>((resolve, reject) => this.place(record, queues, key, value, size, resolve, reject));
    }
    return this.sendSlow(record, key, value, size);
  }

  private async sendSlow(record: ProducerRecord, key: Buffer | null, value: Buffer | null, size: number): Promise<RecordMetadata> {
    if (this.bufferedBytes + size > this.o.bufferMemoryBytes && this.bufferedBytes > 0) await this.waitForRoom(size);
    let queues = this.topicQueues.get(record.topic);
    if (queues === undefined) {
      // Kafka's producer waits up to max.block.ms for a topic's metadata (it may have just been created).
      const t = await this.cluster.waitForTopic(record.topic, this.o.maxBlockMs);
      queues = this.topicQueues.get(record.topic);
      if (queues === undefined) {
        queues = t.partitions.map((p) => new PartitionQueue(record.topic, p.partition));
        this.topicQueues.set(record.topic, queues);
      }
    }
    const q = queues;
    return new Promise<RecordMetadata>((resolve, reject) => this.place(record, q, key, value, size, resolve, reject));
  }

  /** Chooses the partition (explicit, by key, or sticky) and appends. */
  private place(record: ProducerRecord, queues: PartitionQueue[], key: Buffer | null, value: Buffer | null, size: number, resolve: (m: RecordMetadata) => void, reject: (e: Error) => void): void {
    const n = queues.length;
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
    this.append(queues[partition]!, n, record.timestamp ?? Date.now(), key, value, toHeaders(record.headers), size, resolve, reject);
  }

  private append(
    q: PartitionQueue,
    numPartitions: number,
    ts: number,
    key: Buffer | null,
    value: Buffer | null,
    headers: Header[] | undefined,
    size: number,
    resolve: (m: RecordMetadata) => void,
    reject: (e: Error) => void,
  ): void {
    let batch = q.batches[q.batches.length - 1];
    if (!batch || batch.built !== null || !batch.builder.tryAppend(ts, key, value, headers)) {
      if (batch && batch.built === null) {
        batch.close();
        this.sticky.onBatchClosed(q.topic, q.partition, numPartitions);
        this.schedule(0);
      }
      batch = new ProducerBatch(q.topic, q.partition, this.o.batchSizeBytes, this.o.compression, Date.now());
      batch.builder.tryAppend(ts, key, value, headers);
      q.batches.push(batch);
      this.schedule(this.o.lingerMs);
    }
    batch.resolves.push(resolve);
    batch.rejects.push(reject);
    batch.timestamps.push(ts);
    batch.bytes += size;
    this.bufferedBytes += size;
    this.pendingRecords++;
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

  private release(bytes: number, records: number): void {
    this.bufferedBytes -= bytes;
    this.pendingRecords -= records;
    while (this.roomWaiters.length > 0 && this.bufferedBytes + this.roomWaiters[0]!.bytes <= this.o.bufferMemoryBytes) {
      const w = this.roomWaiters.shift()!;
      clearTimeout(w.timer);
      w.resolve();
    }
    if (this.pendingRecords === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private schedule(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.timer !== null && this.timerAtMs <= at) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAtMs = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAtMs = Infinity;
      this.drain();
    }, delayMs);
  }

  /** Sends every batch that is ready (full, lingered, or flushing) whose partition is free and whose leader has room. */
  private drain(): void {
    const now = Date.now();
    const byBroker = new Map<number, { queues: PartitionQueue[]; bytes: number }>();
    let nextWakeMs = Infinity;
    for (const queues of this.topicQueues.values())
      for (const q of queues) {
        if (q.inflight || q.batches.length === 0) continue;
        const head = q.batches[0]!;
        if (now - head.createdMs > this.o.deliveryTimeoutMs) {
          this.failBatches(q, q.batches.splice(0), this.timeoutError(head));
          continue;
        }
        if (q.retryAtMs > now) {
          nextWakeMs = Math.min(nextWakeMs, q.retryAtMs);
          continue;
        }
        const ready = q.batches.length > 1 || head.built !== null || this.flushing > 0 || now - head.createdMs >= this.o.lingerMs || head.builder.sizeInBytes >= this.o.batchSizeBytes;
        if (!ready) {
          nextWakeMs = Math.min(nextWakeMs, head.createdMs + this.o.lingerMs);
          continue;
        }
        const leader = this.cluster.cachedPartition(q.topic, q.partition)?.leaderId ?? -1;
        if (leader < 0) {
          q.retryAtMs = now + this.cluster.backoff.retryBackoffMs;
          nextWakeMs = Math.min(nextWakeMs, q.retryAtMs);
          void this.cluster.refresh().catch(() => undefined);
          continue;
        }
        let group = byBroker.get(leader);
        if (!group) {
          group = { queues: [], bytes: 0 };
          byBroker.set(leader, group);
        }
        group.queues.push(q);
      }
    for (const [broker, group] of byBroker) {
      let pending: PartitionQueue[] = group.queues;
      while (pending.length > 0 && (this.inflightPerBroker.get(broker) ?? 0) < this.o.maxInFlightPerBroker) {
        const taken: { q: PartitionQueue; batches: ProducerBatch[] }[] = [];
        let bytes = 0;
        const rest: PartitionQueue[] = [];
        for (const q of pending) {
          if (bytes >= this.o.maxRequestBytes) {
            rest.push(q);
            continue;
          }
          const batches: ProducerBatch[] = [];
          while (q.batches.length > 0 && (batches.length === 0 || bytes + q.batches[0]!.builder.sizeInBytes <= this.o.maxRequestBytes)) {
            const b = q.batches[0]!;
            const isLast = q.batches.length === 1;
            if (isLast && b.built === null && this.flushing === 0 && now - b.createdMs < this.o.lingerMs && b.builder.sizeInBytes < this.o.batchSizeBytes && batches.length > 0) break;
            q.batches.shift();
            bytes += b.close().length;
            batches.push(b);
          }
          if (batches.length > 0) taken.push({ q, batches });
        }
        pending = rest;
        if (taken.length === 0) break;
        this.sendRequest(broker, taken);
      }
    }
    if (nextWakeMs < Infinity) this.schedule(Math.max(0, nextWakeMs - Date.now()));
  }

  private sendRequest(broker: number, taken: { q: PartitionQueue; batches: ProducerBatch[] }[]): void {
    let conn: BrokerConnection;
    try {
      conn = this.cluster.broker(broker);
    } catch (err) {
      for (const t of taken) this.retryOrFail(t.q, t.batches, err as CairnError);
      void this.cluster.refresh().catch(() => undefined);
      return;
    }
    for (const t of taken) {
      t.q.inflight = true;
      for (const b of t.batches) b.attempts++;
    }
    this.inflightPerBroker.set(broker, (this.inflightPerBroker.get(broker) ?? 0) + 1);
    const req: Omit<ProduceRequest, 'correlationId'> = {
      acks: this.acks,
      timeoutMs: this.cluster.requestTimeoutMs,
      partitions: taken.map((t) => ({
        topic: t.q.topic,
        partition: t.q.partition,
        batches: t.batches.length === 1 ? t.batches[0]!.close() : Buffer.concat(t.batches.map((b) => b.close())),
      })),
    };
    conn.produce.send(req, this.acks !== 0).then(
      (res) => {
        this.inflightPerBroker.set(broker, this.inflightPerBroker.get(broker)! - 1);
        this.onResponse(taken, res);
        this.drain();
      },
      (err: CairnError) => {
        this.inflightPerBroker.set(broker, this.inflightPerBroker.get(broker)! - 1);
        for (const t of taken) {
          t.q.inflight = false;
          this.retryOrFail(t.q, t.batches, err);
        }
        void this.cluster.refresh().catch(() => undefined);
        this.drain();
      },
    );
  }

  private onResponse(taken: { q: PartitionQueue; batches: ProducerBatch[] }[], res: ProduceResponse | null): void {
    for (const t of taken) {
      t.q.inflight = false;
      if (res === null) {
        this.complete(t.batches, -1, -1);
        continue;
      }
      const r: PartitionProduceResult | undefined = res.results.find((x) => x.topic === t.q.topic && x.partition === t.q.partition);
      if (!r) {
        this.retryOrFail(t.q, t.batches, new CairnError(ErrorCode.NETWORK_EXCEPTION, 'response had no result for the partition'));
        continue;
      }
      if (r.errorCode === ErrorCode.NONE) {
        this.complete(t.batches, r.baseOffset, r.logAppendTimeMs);
      } else {
        const err = new CairnError(r.errorCode, r.errorMessage || undefined);
        if (needsMetadataRefresh(r.errorCode)) {
          void this.cluster.refresh().catch(() => undefined);
        }
        this.retryOrFail(t.q, t.batches, err);
      }
    }
  }

  private complete(batches: ProducerBatch[], baseOffset: number, logAppendTimeMs: number): void {
    let offset = baseOffset;
    for (const b of batches) {
      const n = b.resolves.length;
      for (let i = 0; i < n; i++) {
        b.resolves[i]!({ topic: b.topic, partition: b.partition, offset: baseOffset < 0 ? -1 : offset + i, timestamp: logAppendTimeMs >= 0 ? logAppendTimeMs : b.timestamps[i]! });
      }
      offset += n;
      this.release(b.bytes, n);
    }
  }

  /** The delivery timeout ran out: report the last failure's code (it says why), else a timeout. */
  private timeoutError(batch: ProducerBatch): CairnError {
    const why = batch.lastError;
    const msg = `not delivered within deliveryTimeoutMs ${this.o.deliveryTimeoutMs}`;
    return why ? new CairnError(why.code, `${why.message} (${msg})`) : new CairnError(ErrorCode.REQUEST_TIMED_OUT, msg);
  }

  private retryOrFail(q: PartitionQueue, batches: ProducerBatch[], err: CairnError): void {
    const now = Date.now();
    for (const b of batches) b.lastError = err;
    const expired = batches[0]!.createdMs + this.o.deliveryTimeoutMs <= now;
    if (!isRetriable(err.code) || this.closed) {
      this.failBatches(q, batches, err);
      return;
    }
    if (expired) {
      this.failBatches(q, batches, this.timeoutError(batches[0]!));
      return;
    }
    // Back to the head of the queue, in order: nothing of this partition overtakes them.
    q.batches.unshift(...batches);
    const attempts = batches[0]!.attempts;
    q.retryAtMs = now + backoffMs(attempts, this.cluster.backoff, Math.random());
    this.schedule(q.retryAtMs - now);
  }

  private failBatches(_q: PartitionQueue, batches: ProducerBatch[], err: Error): void {
    for (const b of batches) {
      for (const reject of b.rejects) reject(err);
      this.release(b.bytes, b.rejects.length);
    }
  }

  /** Sends everything buffered now and resolves once every record sent before the call has completed. */
  async flush(): Promise<void> {
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
      this.cluster.close();
    }
  }
}
