import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import type { ClientOptions } from '../../src/client/cluster';
import { freePorts, LocalCluster } from '../../src/cli/local-cluster';
import { createBenchTopic } from '../cluster';
import { type BenchConsumer, type BenchProducer, type BenchSystem, pollingConsumer, type ProducerSpec, type StreamSpec } from './system';

/** Cairn: `nodes` combined controller+broker processes on loopback, default durability policy. */
export class CairnSystem implements BenchSystem {
  private producerCount = 0;
  readonly name = 'cairn';
  readonly durability: string;
  private cluster: LocalCluster | null = null;
  private baseDir = '';

  /** `bootstrap`: use a cluster that is already running (start and stop leave it alone). */
  constructor(private readonly o: { nodes: number; baseDir?: string; flags?: Record<string, string>; bootstrap?: string; secure?: boolean; metrics?: boolean }) {
    this.durability =
      o.flags?.['log-flush-policy'] === 'interval'
        ? `acks=all: on every in-sync replica, fsync every ${o.flags['log-flush-interval-ms'] ?? 1000} ms`
        : 'acks=all: fsynced on every in-sync replica before the ack (group commit; default policy)';
  }

  version(): string {
    let version = '';
    try {
      version = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // run from an unusual place: leave the version out
    }
    return `cairn ${version} (${this.o.nodes} combined nodes${this.o.secure ? ', TLS + mutual TLS on every link, authorization on' : ''}${this.o.metrics ? ', Prometheus metrics on' : ''}) on Node.js ${process.versions.node}`.replace(
      'cairn  ',
      'cairn ',
    );
  }

  get bootstrap(): string {
    if (this.o.bootstrap) return this.o.bootstrap;
    if (!this.cluster) throw new Error('cairn is not started');
    return this.cluster.bootstrap;
  }

  async start(): Promise<void> {
    if (this.o.bootstrap) return;
    this.baseDir = fs.mkdtempSync(path.join(this.o.baseDir ?? os.tmpdir(), 'cairn-bench-'));
    const metricsPorts = this.o.metrics ? await freePorts(this.o.nodes) : undefined;
    this.cluster = new LocalCluster({ baseDir: this.baseDir, ports: await freePorts(this.o.nodes), metricsPorts, flags: this.o.flags, logLevel: 'warn', secure: this.o.secure });
    this.cluster.startAll();
    await this.cluster.waitReady();
  }

  serverPids(): number[] {
    if (!this.cluster) return [];
    return Array.from({ length: this.o.nodes }, (_, i) => this.cluster!.process(i + 1)?.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** How clients connect: the bootstrap list, and on a secure cluster TLS with the admin certificate. */
  private get client(): ClientOptions {
    return this.cluster && !this.o.bootstrap ? this.cluster.clientOptions : { bootstrap: this.bootstrap };
  }

  async createStream(s: StreamSpec): Promise<void> {
    await createBenchTopic(this.client, s.name, s.partitions, s.replicas, s.replicas >= 3 ? { 'min.insync.replicas': '2' } : {});
  }

  async producer(s: StreamSpec, spec: ProducerSpec): Promise<BenchProducer> {
    const transactional = spec.recordsPerTransaction !== undefined || spec.transactionDurationMs !== undefined;
    const perTxn = spec.recordsPerTransaction ?? Infinity;
    const maxAgeMs = spec.transactionDurationMs ?? Infinity;
    const producer = new Producer({
      ...this.client,
      acks: spec.acks,
      lingerMs: spec.lingerMs,
      batchSizeBytes: spec.batchBytes,
      enableIdempotence: spec.idempotence,
      bufferMemoryBytes: 256 * 1024 * 1024,
      transactionalId: transactional ? `bench-${s.name}-${++this.producerCount}` : undefined,
    });
    const topic = s.name;
    await producer.cluster.topic(topic);
    if (!transactional) {
      return {
        send: (value) => producer.send({ topic, value }),
        flush: () => producer.flush(),
        close: () => producer.close(),
      };
    }
    await producer.initTransactions();
    // One transaction per `perTxn` records or `maxAgeMs` (checked at each send, as Kafka's
    // producer-perf-test does). Sends that come while one commits wait, in order, in a queue that
    // opens the next transaction once the commit is done: waking every waiting send at each commit
    // (an `await` per send) cost the load generator O(window) per transaction.
    let inTxn = 0;
    let txnStartMs = 0;
    let committing: Promise<void> | null = null;
    const waiting: { value: Buffer; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
    let head = 0;
    const place = (value: Buffer): Promise<unknown> => {
      if (inTxn === 0) {
        producer.beginTransaction();
        if (maxAgeMs !== Infinity) txnStartMs = performance.now();
      }
      const sent = producer.send({ topic, value });
      if (++inTxn >= perTxn || (maxAgeMs !== Infinity && performance.now() - txnStartMs >= maxAgeMs)) void commit().catch(() => undefined);
      return sent;
    };
    const drainWaiting = () => {
      while (committing === null && head < waiting.length) {
        const w = waiting[head]!;
        waiting[head++] = undefined as never;
        place(w.value).then(w.resolve, w.reject);
      }
      // Drop the sent prefix once it is half the array: under steady load the queue never empties.
      if (head > 0 && head * 2 >= waiting.length) {
        waiting.splice(0, head);
        head = 0;
      }
    };
    let committed = 0;
    const commit = () => {
      inTxn = 0;
      committing = producer
        .commitTransaction()
        .then(() => void committed++)
        .finally(() => {
          committing = null;
          drainWaiting();
        });
      return committing;
    };
    const send = (value: Buffer): Promise<unknown> => {
      if (committing === null && head === waiting.length) return place(value);
      return new Promise((resolve, reject) => waiting.push({ value, resolve, reject }));
    };
    return {
      send,
      committedTransactions: () => committed,
      flush: async () => {
        while (committing !== null) await committing;
        if (inTxn > 0) await commit();
      },
      close: async () => {
        while (committing !== null) await committing.catch(() => undefined);
        if (inTxn > 0) await commit().catch(() => undefined);
        await producer.close();
      },
    };
  }

  /**
   * A member of consumer group `group` (as NATS gets a durable consumer and Redis a consumer
   * group): it subscribes, the group's coordinator assigns it every partition, and it reads from
   * the start with auto-commit at its defaults. It is returned once it has its partitions, as the
   * peers' consumers are once created.
   */
  async consumer(s: StreamSpec, group: string): Promise<BenchConsumer> {
    const consumer = new Consumer({ ...this.client, groupId: group, autoOffsetReset: 'earliest', maxPollRecords: 50_000 });
    consumer.subscribe([s.name]);
    const deadline = Date.now() + 30_000;
    while (consumer.assignment().length < s.partitions) {
      if (Date.now() > deadline) throw new Error(`group ${group}: no assignment of ${s.name} within 30 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return pollingConsumer(
      async (onRecord) => {
        for (const r of await consumer.poll(200)) onRecord(r.value!);
      },
      () => void consumer.close(),
    );
  }

  async stop(): Promise<void> {
    if (!this.cluster) return;
    await this.cluster.stopAll('SIGTERM');
    this.cluster = null;
    // CAIRN_BENCH_KEEP=1 keeps the data directories and each node's server.log (e.g. for --trace-gc output).
    if (process.env.CAIRN_BENCH_KEEP === '1') process.stderr.write(`kept ${this.baseDir}\n`);
    else fs.rmSync(this.baseDir, { recursive: true, force: true });
  }
}
