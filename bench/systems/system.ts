/**
 * What a benchmark needs from a message log, so the same workload runs unchanged against Cairn,
 * NATS JetStream and Redis Streams. Each adapter starts its own cluster (or says why it cannot),
 * and states what an acknowledgement means there — the durability column of every result.
 */

export interface StreamSpec {
  /** Name of the topic (Cairn), the stream prefix (NATS) or the key prefix (Redis). */
  name: string;
  /** Parallel units: Cairn partitions; NATS streams (one per partition); Redis stream keys. */
  partitions: number;
  /** Copies of every record: Cairn's replication factor, NATS's num_replicas, Redis primary + replicas. */
  replicas: number;
}

export interface ProducerSpec {
  /** Wait for every replica ('all', the default) or only the leader (1). */
  acks: 'all' | 1;
  /**
   * Client-side batching where the client has it (Cairn's batch.size and linger.ms; Redis pipeline
   * depth). Undefined: the client's own defaults (for Cairn, the Producer's), so the benchmark's
   * defaults are the producer's defaults.
   */
  batchBytes?: number;
  lingerMs?: number;
  /** Cairn's enableIdempotence; undefined: the Producer's default (on with acks=all). */
  idempotence?: boolean;
  /**
   * Cairn only: a transactional producer (one transactional id per producer), committing once a
   * transaction holds `recordsPerTransaction` records or is `transactionDurationMs` old (Kafka's
   * producer-perf-test `--transaction-duration-ms`: checked at each send), whichever comes first.
   * Either one alone makes the producer transactional.
   */
  recordsPerTransaction?: number;
  transactionDurationMs?: number;
}

export interface BenchProducer {
  /** Resolves when the record is acknowledged as `acks` asks; rejects on failure. */
  send(value: Buffer): Promise<unknown>;
  /** Waits for every outstanding send. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** A transactional producer: how many transactions it has committed so far. */
  committedTransactions?(): number;
}

export interface BenchConsumer {
  /**
   * Starts delivering every record of every partition, from the first, to `onRecord`, calling
   * `onDelivered` after each delivery (a poll's records, or one pushed message) — the reader
   * takes the time there, not per record.
   */
  start(onRecord: (value: Uint8Array) => void, onDelivered: () => void): void;
  close(): Promise<void>;
}

export interface BenchSystem {
  /** Short name used in tables: "cairn", "nats", "redis". */
  readonly name: string;
  /** What an acknowledged write means here (fsync or not, how many copies), printed next to every figure. */
  readonly durability: string;
  /** The version string of the server, for the report. */
  version(): string;
  /** Starts the servers (a fresh data directory each time). */
  start(): Promise<void>;
  createStream(spec: StreamSpec): Promise<void>;
  producer(stream: StreamSpec, spec: ProducerSpec): Promise<BenchProducer>;
  /**
   * A reader of its own: a consumer group of one member where the system has groups (NATS durable
   * consumer, Redis XREADGROUP), an independent consumer of all partitions in Cairn (whose groups
   * have not landed yet; every reader here has its own position, which is what a group gives).
   */
  consumer(stream: StreamSpec, group: string): Promise<BenchConsumer>;
  /**
   * Loads `records` records of `recordSize` bytes as fast as the system takes them, by its own
   * bulk path (untimed setup for the replay workload); resolves with how many it stored. Without
   * it, the benchmark fills through producer().
   */
  fill?(stream: StreamSpec, records: number, recordSize: number): Promise<number>;
  /** Outstanding records per producer that suit this system best, when it has its own. */
  readonly preferredWindow?: number;
  /** The pids of the server processes it started (for the CPU each one used), when it knows them. */
  serverPids?(): number[];
  /** Stops the servers and removes their data. */
  stop(): Promise<void>;
}

/** Why a peer cannot run here, with the command that installs it; null when it can. */
export type Availability = { ok: true } | { ok: false; reason: string; install: string };

/** A BenchConsumer that calls `readOnce` in a loop until closed, then `release`. */
export function pollingConsumer(readOnce: (onRecord: (value: Uint8Array) => void) => Promise<void>, release: () => void): BenchConsumer {
  let running = true;
  let loop: Promise<void> = Promise.resolve();
  return {
    start(onRecord, onDelivered) {
      loop = (async () => {
        while (running) {
          await readOnce(onRecord);
          onDelivered();
        }
      })();
    },
    async close() {
      running = false;
      await loop.catch(() => undefined);
      release();
    },
  };
}
