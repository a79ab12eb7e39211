import type { Compression, Header } from '../record';
import { ProducerBatch, type RecordMetadata } from './producer-batch';

/**
 * The producer's record accumulator (Kafka's RecordAccumulator), pure: records and `nowMs` in,
 * batches and "ready at" times out. No timers, no clock, no sockets — the Producer shell owns those.
 */
export interface AccumulatorConfig {
  /** Largest batch built, in bytes (a first record larger than this still gets a batch of its own). */
  batchSizeBytes: number;
  /** How long a batch waits for more records while its partition has requests in flight. */
  lingerMs: number;
  compression: Compression;
  /** Batches of a transactional producer (the TRANSACTIONAL attribute). */
  transactional?: boolean;
}

/**
 * One partition's batches waiting to be sent, oldest first. Batches taken back for a retry go
 * to the head, in sequence order, so nothing of the partition overtakes them.
 */
export class PartitionQueue {
  readonly batches: ProducerBatch[] = [];
  /** No send before this time (retry backoff, or waiting for a leader). */
  retryAtMs = 0;
  /**
   * Bytes the partition's last closed batch reached (full, or taken to be sent): a new batch
   * reserves that much up front, so a partition whose batches fill up builds each in one buffer
   * instead of growing it by doubling.
   */
  lastBatchBytes = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
}

/** One record for `RecordAccumulator.append`. */
export interface AccumulatedRecord {
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Header[] | undefined;
  /** Bytes charged against the producer's buffer memory. */
  bytes: number;
  resolve: (m: RecordMetadata) => void;
  reject: (e: Error) => void;
}

/** When a partition's head batch may leave, given what the shell knows about the partition. */
export interface ReadinessContext {
  /** The partition has nothing in flight (a lone record then leaves at once instead of lingering). */
  idle: boolean;
  /** A flush() is waiting: everything leaves now. */
  flushing: boolean;
}

export class RecordAccumulator {
  constructor(readonly config: AccumulatorConfig) {}

  /**
   * Appends a record to the partition's open batch, opening a new one when there is none or it is
   * full (then the full one is sealed: the shell sees that its last batch changed and was sealed).
   * Returns the batch the record went to.
   */
  append(q: PartitionQueue, r: AccumulatedRecord, nowMs: number): ProducerBatch {
    let batch = q.batches[q.batches.length - 1];
    if (batch === undefined || batch.sealed || !batch.builder.tryAppend(r.timestamp, r.key, r.value, r.headers)) {
      if (batch !== undefined) {
        if (!batch.sealed) batch.seal();
        q.lastBatchBytes = batch.builder.sizeInBytes;
      }
      batch = new ProducerBatch(q.topic, q.partition, this.config.batchSizeBytes, this.config.compression, nowMs, q.lastBatchBytes || undefined, this.config.transactional === true);
      batch.builder.tryAppend(r.timestamp, r.key, r.value, r.headers);
      q.batches.push(batch);
    }
    batch.resolves.push(r.resolve);
    batch.rejects.push(r.reject);
    batch.timestamps.push(r.timestamp);
    batch.bytes += r.bytes;
    return batch;
  }

  /** Takes the partition's head batch to be sent (its size is the next batch's estimate). */
  take(q: PartitionQueue): ProducerBatch | undefined {
    const batch = q.batches.shift();
    if (batch !== undefined) q.lastBatchBytes = batch.builder.sizeInBytes;
    return batch;
  }

  /**
   * When the partition's head batch may be sent: now (a time ≤ nowMs) if it is closed (full, or
   * taken back for a retry), not the last batch, full, flushing, or its partition is idle; else
   * when its linger ends. Infinity when the queue is empty. The retry backoff is the shell's.
   */
  readyAtMs(q: PartitionQueue, nowMs: number, ctx: ReadinessContext): number {
    const head = q.batches[0];
    if (head === undefined) return Infinity;
    if (head.sealed || q.batches.length > 1 || ctx.flushing || ctx.idle || head.builder.sizeInBytes >= this.config.batchSizeBytes) return nowMs;
    return head.createdMs + this.config.lingerMs;
  }
}
