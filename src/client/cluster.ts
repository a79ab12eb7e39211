import { CairnError, ErrorCode, needsMetadataRefresh } from '../common';
import type { FetchRequest, FetchResponse, MetadataResponse, PartitionMetadata, ProduceRequest, ProduceResponse, TopicMetadata } from '../protocol';
import * as grpc from '@grpc/grpc-js';
import { channelCredentials, type ClientTls, CorrelatedStream, RpcClient } from '../protocol/io';
import { type SaslOptions, ScramClient } from './sasl';
import { type BackoffOptions, DEFAULT_API_TIMEOUT_MS, DEFAULT_BACKOFF, withRetries } from './retry';

export interface ClientOptions {
  /** `host:port` or a list of them, or comma-separated; default CAIRN_BOOTSTRAP or 127.0.0.1:9092. */
  bootstrap?: string | string[];
  /** Refresh metadata at least this often (Kafka's metadata.max.age.ms). */
  metadataMaxAgeMs?: number;
  /** How long one request may take before it counts as failed (outcome unknown). */
  requestTimeoutMs?: number;
  /**
   * How long an Admin or Consumer call keeps retrying retriable errors (Kafka's
   * default.api.timeout.ms, 60 s): an election, a broker still registering, metadata still
   * propagating. The producer's sends are bounded by its deliveryTimeoutMs instead.
   */
  defaultApiTimeoutMs?: number;
  /** First and largest wait between retries (Kafka's retry.backoff.ms / retry.backoff.max.ms). */
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /** TLS toward SSL listeners: the CA, and a client certificate for mutual TLS (docs/security.md). Plaintext without. */
  tls?: ClientTls;
  /** A user name and password (SASL/SCRAM), over `tls`, for a client without a certificate. */
  sasl?: SaslOptions;
  /** Names this client to the brokers (Kafka's client.id): their logs, and client-id quotas. */
  clientId?: string;
}

export function bootstrapList(b: string | string[] | undefined): string[] {
  const raw = b ?? process.env.CAIRN_BOOTSTRAP ?? '127.0.0.1:9092';
  const list = (Array.isArray(raw) ? raw : raw.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new CairnError(ErrorCode.INVALID_CONFIG, 'bootstrap list is empty');
  return list;
}

/** The data-path channels to one broker: unary calls plus one produce and one fetch stream. */
export class BrokerConnection {
  readonly rpc: RpcClient;
  readonly produce: CorrelatedStream<ProduceRequest, ProduceResponse>;
  readonly fetch: CorrelatedStream<FetchRequest, FetchResponse>;

  constructor(
    readonly address: string,
    rpc: RpcClient = new RpcClient(address, 'cairn.v1.Broker'),
  ) {
    this.rpc = rpc;
    this.produce = new CorrelatedStream(this.rpc, 'ProduceStream');
    this.fetch = new CorrelatedStream(this.rpc, 'FetchStream');
  }

  close(): void {
    this.produce.close();
    this.fetch.close();
    this.rpc.close();
  }
}

/**
 * What a client knows about the cluster: a metadata cache refreshed on demand and by age, and one
 * connection per broker address. Shared by Producer, Consumer and Admin.
 */
export class Cluster {
  readonly bootstrap: string[];
  private meta: MetadataResponse | null = null;
  private metaAtMs = 0;
  private refreshing: Promise<MetadataResponse> | null = null;
  private readonly connections = new Map<string, BrokerConnection>();
  private readonly admins = new Map<string, RpcClient>();
  private readonly topics = new Set<string>();
  private closed = false;
  readonly requestTimeoutMs: number;
  readonly defaultApiTimeoutMs: number;
  readonly backoff: BackoffOptions;
  /** metadata.max.age.ms: how old the cached metadata may get before it is fetched again. */
  readonly metadataMaxAgeMs: number;
  /** Plaintext, or TLS with the client's certificate. */
  private readonly transport: grpc.ChannelCredentials;
  /** With a user name and password: the SCRAM sessions, one per broker address. */
  private readonly scram: ScramClient | null;
  readonly clientId: string;

  constructor(opts: ClientOptions = {}) {
    this.transport = channelCredentials(opts.tls);
    this.clientId = opts.clientId ?? '';
    if (opts.sasl && !opts.tls) throw new CairnError(ErrorCode.INVALID_CONFIG, 'a password is sent over TLS only: sasl needs tls');
    this.scram = opts.sasl ? new ScramClient(opts.sasl, this.transport, opts.requestTimeoutMs ?? 30_000) : null;
    this.bootstrap = bootstrapList(opts.bootstrap);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.defaultApiTimeoutMs = opts.defaultApiTimeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    this.backoff = { retryBackoffMs: opts.retryBackoffMs ?? DEFAULT_BACKOFF.retryBackoffMs, retryBackoffMaxMs: opts.retryBackoffMaxMs ?? DEFAULT_BACKOFF.retryBackoffMaxMs };
    this.metadataMaxAgeMs = opts.metadataMaxAgeMs ?? 300_000;
  }

  /**
   * Runs `attempt` with retries of retriable errors until `timeoutMs` (default: the client's
   * defaultApiTimeoutMs) passes, refreshing metadata first when an error says it is stale.
   */
  retrying<T>(what: string, attempt: (n: number) => Promise<T>, timeoutMs = this.defaultApiTimeoutMs): Promise<T> {
    return withRetries(attempt, {
      what,
      deadlineMs: Date.now() + timeoutMs,
      backoff: this.backoff,
      beforeRetry: async (err) => {
        if (this.closed) throw err;
        if (needsMetadataRefresh(err.code)) await this.refresh().catch(() => undefined);
      },
    });
  }

  get metadata(): MetadataResponse | null {
    return this.meta;
  }

  /** Addresses to try for cluster-wide calls (Metadata, InitProducerId): known brokers first, then the bootstrap list. */
  brokerCandidates(): string[] {
    const known = (this.meta?.brokers ?? []).map((b) => `${b.host}:${b.port}`);
    return [...new Set([...known, ...this.bootstrap])];
  }

  /** Fetches metadata (for every topic this client has asked about, or all if `all`); concurrent callers share one request. */
  refresh(all = false): Promise<MetadataResponse> {
    if (this.closed) return Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, 'client closed'));
    if (this.refreshing) return this.refreshing;
    const topics = all ? [] : [...this.topics];
    this.refreshing = (async () => {
      let last: unknown;
      for (const address of this.brokerCandidates()) {
        try {
          const res = await this.connection(address).rpc.unary<{ topics: string[] }, MetadataResponse>('Metadata', { topics }, Math.min(this.requestTimeoutMs, 5_000));
          if (!all || topics.length === 0) {
            this.meta = res;
            this.metaAtMs = Date.now();
          }
          return res;
        } catch (err) {
          last = err;
        }
      }
      throw last instanceof CairnError ? last : new CairnError(ErrorCode.NETWORK_EXCEPTION, `no broker answered (tried ${this.brokerCandidates().join(', ')})`);
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private stale(): boolean {
    return this.meta === null || Date.now() - this.metaAtMs > this.metadataMaxAgeMs;
  }

  /** The topic's metadata, refreshing if the topic is new to this client, unknown, or the cache is old. */
  async topic(name: string): Promise<TopicMetadata> {
    if (!this.topics.has(name)) {
      this.topics.add(name);
      await this.refresh();
    } else if (this.stale()) {
      await this.refresh();
    }
    let t = this.meta?.topics.find((x) => x.name === name);
    if (!t || t.errorCode !== ErrorCode.NONE) {
      await this.refresh();
      t = this.meta?.topics.find((x) => x.name === name);
    }
    if (!t) throw new CairnError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic "${name}"`);
    if (t.errorCode !== ErrorCode.NONE) throw new CairnError(t.errorCode, t.errorMessage || `topic "${name}" is not available`);
    return t;
  }

  /**
   * The topic's metadata, waiting up to `timeoutMs` while it is unknown or unavailable (a topic
   * just created may not have reached the broker asked yet), as Kafka's clients wait for metadata.
   */
  waitForTopic(name: string, timeoutMs = this.defaultApiTimeoutMs): Promise<TopicMetadata> {
    return this.retrying(`metadata of topic "${name}"`, () => this.topic(name), timeoutMs);
  }

  /** Cached partition metadata (no refresh); undefined when unknown. */
  cachedPartition(topic: string, partition: number): PartitionMetadata | undefined {
    return this.meta?.topics.find((t) => t.name === topic)?.partitions[partition];
  }

  brokerAddress(nodeId: number): string {
    const b = this.meta?.brokers.find((x) => x.nodeId === nodeId);
    if (!b) throw new CairnError(ErrorCode.LEADER_NOT_AVAILABLE, `broker ${nodeId} is not among the live brokers`);
    return `${b.host}:${b.port}`;
  }

  connection(address: string): BrokerConnection {
    let c = this.connections.get(address);
    if (!c) {
      c = new BrokerConnection(address, this.rpcClient(address, 'cairn.v1.Broker'));
      this.connections.set(address, c);
    }
    return c;
  }

  broker(nodeId: number): BrokerConnection {
    return this.connection(this.brokerAddress(nodeId));
  }

  /** The Admin service at the active controller when known, else at any broker (which forwards). */
  admin(): RpcClient[] {
    const list: string[] = [];
    const ctl = this.meta?.controllerId;
    if (ctl !== undefined && ctl >= 0) {
      const b = this.meta?.brokers.find((x) => x.nodeId === ctl);
      if (b) list.push(`${b.host}:${b.port}`);
    }
    for (const a of this.brokerCandidates()) if (!list.includes(a)) list.push(a);
    return list.map((address) => {
      let c = this.admins.get(address);
      if (!c) {
        c = this.rpcClient(address, 'cairn.v1.Admin');
        this.admins.set(address, c);
      }
      return c;
    });
  }

  /** A channel to `address` for `service` with this client's TLS, SCRAM session, client id and interceptors. */
  rpcClient(address: string, service: string): RpcClient {
    const credentials = this.scram ? grpc.credentials.combineChannelCredentials(this.transport, this.scram.callCredentials(address)) : this.transport;
    return new RpcClient(address, service, credentials, this.clientId, this.scram ? [this.scram.interceptor(address)] : []);
  }

  close(): void {
    this.closed = true;
    for (const c of this.connections.values()) c.close();
    for (const c of this.admins.values()) c.close();
    this.connections.clear();
    this.admins.clear();
  }
}
