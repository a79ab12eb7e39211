import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { errorName, type Logger } from '../common';
import type { ImageChanges, MetadataImage } from '../metadata';
import { ERROR_CODE_KEY } from '../protocol/io';
import type { Partition } from '../replication/io';
import { delegateTo, type FileSystem } from '../storage';
import type { Endpoint } from './config';

/** What a scrape reads from the node; every value is read when Prometheus asks, never cached. */
export interface NodeView {
  image(): MetadataImage;
  /** The partition replicas this node hosts (empty on a controller-only node). */
  partitions(): readonly Partition[];
  minInsyncReplicas(topic: string): number;
  /** This node's controller: null when it is not a voter. */
  quorum(): { active: boolean; leaderId: number; term: number; commitIndex: number; voterLag: { id: number; lag: number }[] } | null;
  /** Committed offsets of the groups this node coordinates. */
  groupOffsets(): { groupId: string; topic: string; partition: number; offset: number }[];
  wallMs(): number;
}

interface ApiMetrics {
  name: string;
  requests: { inc(): void };
  latency: { observe(seconds: number): void };
  produce: boolean;
  fetch: boolean;
}

/** Seconds: sub-millisecond to seconds, for request latencies (long-polled fetches reach the top buckets). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * One node's Prometheus metrics (prom-client, a registry per node), served at `/metrics` on
 * `metrics.listener`. Gauges are read from the node at scrape time (NodeView); counters and
 * histograms are fed by a gRPC server interceptor (requests, errors, latency, bytes per topic),
 * the storage layer's fsyncs (`timedFileSystem`) and the metadata images (ISR changes, onImage).
 * docs/operations.md lists every metric and what an operator does about it.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'api'>;
  private readonly errors: Counter<'api' | 'error'>;
  private readonly latency: Histogram<'api'>;
  private readonly bytesIn: Counter<'topic'>;
  private readonly bytesOut: Counter<'topic'>;
  private readonly fsyncs: Histogram;
  private readonly isrChanges: Counter<'change'>;
  private server: http.Server | null = null;
  private readonly apis = new Map<string, ApiMetrics>();
  private lastImage: MetadataImage | null = null;

  constructor(
    private readonly nodeId: number,
    private readonly view: NodeView,
    private readonly logger: Logger,
  ) {
    const r = this.registry;
    r.setDefaultLabels({ node: String(nodeId) });
    collectDefaultMetrics({ register: r });
    this.requests = new Counter({ name: 'cairn_requests_total', help: 'Requests received, per API (each message of a stream counts)', labelNames: ['api'], registers: [r] });
    this.errors = new Counter({
      name: 'cairn_request_errors_total',
      help: 'Errors answered, per API and error name (a failed call, or an error code inside an answer, per partition or item)',
      labelNames: ['api', 'error'],
      registers: [r],
    });
    this.latency = new Histogram({
      name: 'cairn_request_duration_seconds',
      help: 'Time from a request to its answer, per API (stream messages matched by correlation id)',
      labelNames: ['api'],
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.bytesIn = new Counter({ name: 'cairn_topic_bytes_in_total', help: 'Record batch bytes produced to this node, per topic', labelNames: ['topic'], registers: [r] });
    this.bytesOut = new Counter({ name: 'cairn_topic_bytes_out_total', help: 'Record batch bytes fetched from this node by clients, per topic', labelNames: ['topic'], registers: [r] });
    this.fsyncs = new Histogram({ name: 'cairn_log_fsync_duration_seconds', help: 'fdatasync of partition log files', buckets: FSYNC_BUCKETS, registers: [r] });
    this.isrChanges = new Counter({ name: 'cairn_isr_changes_total', help: 'ISR shrinks and expansions of the partitions this node leads', labelNames: ['change'], registers: [r] });
    for (const change of ['shrink', 'expand']) this.isrChanges.inc({ change }, 0);
    this.defineGauges();
  }

  private defineGauges(): void {
    const r = this.registry;
    const v = this.view;
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], collect: (g: Gauge<L>) => void) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          collect(this);
        },
      });
    const led = () => v.partitions().filter((p) => p.role === 'leader');
    gauge('cairn_partitions_under_replicated', 'Partitions this node leads whose ISR is smaller than their replica set', [], (g) =>
      g.set(led().filter((p) => p.isr.length < p.replicas.length).length),
    );
    gauge('cairn_partitions_under_min_isr', 'Partitions this node leads whose ISR is below min.insync.replicas (acks=all writes fail)', [], (g) =>
      g.set(led().filter((p) => p.isr.length < v.minInsyncReplicas(p.topic)).length),
    );
    gauge('cairn_partitions_offline', "Partitions with no leader in this node's metadata image (the same on every node once it is current)", [], (g) => {
      let n = 0;
      for (const t of v.image().topicsByName.values()) for (const p of t.partitions) if (p.leader < 0) n++;
      g.set(n);
    });
    gauge('cairn_partitions_led', 'Partitions this node leads', [], (g) => g.set(led().length));
    gauge('cairn_partitions_hosted', 'Partition replicas this node hosts', [], (g) => g.set(v.partitions().length));
    gauge('cairn_log_size_bytes', 'Bytes on disk of each partition replica this node hosts', ['topic', 'partition'], (g) => {
      for (const p of v.partitions()) g.set({ topic: p.topic, partition: String(p.partition) }, p.log.sizeInBytes);
    });
    gauge('cairn_partition_high_watermark', 'High watermark of each partition this node leads', ['topic', 'partition'], (g) => {
      for (const p of led()) g.set({ topic: p.topic, partition: String(p.partition) }, p.highWatermark);
    });
    gauge('cairn_partition_last_stable_offset', 'Last stable offset (read_committed end) of each partition this node leads', ['topic', 'partition'], (g) => {
      for (const p of led()) g.set({ topic: p.topic, partition: String(p.partition) }, p.log.lastStableOffset);
    });
    gauge(
      'cairn_partition_oldest_open_transaction_age_seconds',
      'Age of the oldest open transaction holding back the last stable offset, per partition this node leads (absent: none open)',
      ['topic', 'partition'],
      (g) => {
        const now = v.wallMs();
        for (const p of led()) {
          const open = p.log.openTransactions();
          if (open.length === 0) continue;
          const oldest = Math.min(...open.map((t) => t.startTimestampMs));
          g.set({ topic: p.topic, partition: String(p.partition) }, Math.max(0, now - oldest) / 1000);
        }
      },
    );
    gauge('cairn_group_committed_offset', 'Committed offset of each group partition, reported by its coordinator', ['group', 'topic', 'partition'], (g) => {
      for (const o of v.groupOffsets()) g.set({ group: o.groupId, topic: o.topic, partition: String(o.partition) }, o.offset);
    });
    gauge(
      'cairn_group_lag',
      "Records between a group's committed offset and the high watermark, for group partitions whose coordinator also leads the partition (the rest: the cairn:group_lag recording rule in deploy/prometheus)",
      ['group', 'topic', 'partition'],
      (g) => {
        const hw = new Map(led().map((p) => [`${p.topic}\u0000${p.partition}`, p.highWatermark]));
        for (const o of v.groupOffsets()) {
          const end = hw.get(`${o.topic}\u0000${o.partition}`);
          if (end !== undefined) g.set({ group: o.groupId, topic: o.topic, partition: String(o.partition) }, Math.max(0, end - Math.max(0, o.offset)));
        }
      },
    );
    gauge('cairn_metadata_offset', "The metadata log offset this node's image is at", [], (g) => g.set(v.image().offset));
    gauge('cairn_brokers_fenced', "Fenced brokers in this node's metadata image", [], (g) => g.set([...v.image().brokers.values()].filter((b) => b.fenced).length));
    gauge('cairn_controller_active', '1 on the active controller (the Raft leader), 0 elsewhere', [], (g) => g.set(v.quorum()?.active ? 1 : 0));
    gauge('cairn_raft_term', "This voter's Raft term", [], (g) => {
      const q = v.quorum();
      if (q) g.set(q.term);
    });
    gauge('cairn_raft_leader', 'The controller leader this voter knows (-1: none)', [], (g) => {
      const q = v.quorum();
      if (q) g.set(q.leaderId);
    });
    gauge('cairn_raft_commit_index', "This voter's Raft commit index", [], (g) => {
      const q = v.quorum();
      if (q) g.set(q.commitIndex);
    });
    gauge('cairn_raft_commit_lag', 'On the Raft leader: entries each voter is behind the commit index', ['voter'], (g) => {
      for (const l of v.quorum()?.voterLag ?? []) g.set({ voter: String(l.id) }, l.lag);
    });
  }

  /**
   * Counts the ISR shrinks and expansions of the partitions this node leads, as each metadata image
   * applies them: the leader's own AlterPartition requests and the controller's (a fenced broker
   * leaves every ISR at once), like Kafka's IsrShrinksPerSec and IsrExpandsPerSec.
   */
  onImage(image: MetadataImage, changes: ImageChanges | null): void {
    const before = this.lastImage;
    this.lastImage = image;
    if (!before || !changes) return;
    for (const key of changes.partitions) {
      const now = image.partitionByKey(key);
      const then = before.partitionByKey(key);
      if (!now || !then || now.leader !== this.nodeId) continue;
      if (now.isr.length < then.isr.length) this.isrChanges.inc({ change: 'shrink' });
      else if (now.isr.length > then.isr.length) this.isrChanges.inc({ change: 'expand' });
    }
  }

  /** `inner` with every fsync of a file timed into cairn_log_fsync_duration_seconds. */
  timedFileSystem(inner: FileSystem): FileSystem {
    return {
      ...delegateTo(inner),
      fsync: (fd, callback) => {
        const end = this.fsyncs.startTimer();
        inner.fsync(fd, (err) => {
          if (!err) end();
          callback(err);
        });
      },
    };
  }

  /**
   * A server interceptor counting every request message, its answer's latency and errors, and the
   * batch bytes produced and fetched per topic. Installed first on every listener, so it also sees
   * the request gate's refusals.
   */
  interceptor(): grpc.ServerInterceptor {
    return (method, call) => {
      const api = this.apiOf(method.path);
      const unaryCall = !method.requestStream && !method.responseStream;
      /** When each request message of a stream arrived, by correlation id (ms, performance.now). */
      const started = new Map<string, number>();
      let unaryStart = -1;
      return new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMessage: (message, nextMessage) => {
              api.requests.inc();
              const m = message as Record<string, unknown> | null;
              if (unaryCall) unaryStart = performance.now();
              else if (m && m.correlationId !== undefined) started.set(String(m.correlationId), performance.now());
              if (api.produce && m && Array.isArray(m.partitions)) this.countBytes(this.bytesIn, m.partitions);
              nextMessage(message);
            },
          }),
        sendMessage: (message, next) => {
          const m = message as Record<string, unknown> | null;
          if (m) {
            if (!unaryCall && m.correlationId !== undefined) {
              const key = String(m.correlationId);
              const at = started.get(key);
              if (at !== undefined) {
                api.latency.observe((performance.now() - at) / 1000);
                started.delete(key);
              }
            }
            if (api.fetch && Array.isArray(m.results)) this.countBytes(this.bytesOut, m.results);
            this.countAnswerErrors(api.name, m, 0);
          }
          next(message);
        },
        sendStatus: (status, next) => {
          if (unaryStart >= 0) api.latency.observe((performance.now() - unaryStart) / 1000);
          unaryStart = -1;
          if (status.code !== grpc.status.OK && status.code !== grpc.status.CANCELLED) {
            const code = Number(status.metadata?.get(ERROR_CODE_KEY)[0] ?? NaN);
            this.errors.inc({ api: api.name, error: Number.isInteger(code) ? errorName(code) : grpc.status[status.code]! });
          }
          next(status);
        },
      });
    };
  }

  /** One API's counters, looked up once per method path (prom-client's label children skip hashing labels per request). */
  private apiOf(path: string): ApiMetrics {
    let a = this.apis.get(path);
    if (!a) {
      // Service.Method: /cairn.v1.Broker/Fetch → Broker.Fetch (Replica.Fetch is another API).
      const name = path
        .slice(1)
        .replace(/^cairn\.v1\./, '')
        .replace('/', '.');
      a = { name, requests: this.requests.labels({ api: name }), latency: this.latency.labels({ api: name }), produce: name.startsWith('Broker.Produce'), fetch: name.startsWith('Broker.Fetch') };
      this.apis.set(path, a);
    }
    return a;
  }

  private countBytes(counter: Counter<'topic'>, partitions: unknown[]): void {
    for (const p of partitions as { topic?: string; batches?: Uint8Array }[]) {
      if (p?.topic && p.batches && p.batches.length > 0) counter.labels({ topic: p.topic }).inc(p.batches.length);
    }
  }

  /** Error codes inside an answer: its own, and those of its items and their items (per partition). */
  private countAnswerErrors(api: string, m: Record<string, unknown>, depth: number): void {
    const code = m.errorCode;
    if (typeof code === 'number' && code !== 0) this.errors.inc({ api, error: errorName(code) });
    if (depth >= 2) return;
    for (const value of Object.values(m)) {
      if (!Array.isArray(value)) continue;
      for (const item of value) if (item && typeof item === 'object' && !Buffer.isBuffer(item)) this.countAnswerErrors(api, item as Record<string, unknown>, depth + 1);
    }
  }

  /** Serves `/metrics` (Prometheus text format) on `at`; resolves to the bound port. */
  listen(at: Endpoint): Promise<number> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => {
          this.logger.error({ err: err.message }, 'collecting metrics failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${err.message}\n`);
        },
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : at.port);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
