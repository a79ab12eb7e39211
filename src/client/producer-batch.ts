import type { CairnError } from '../common';
import { type Compression, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, RecordBatchBuilder, stampProducerState } from '../record';

/** What `Producer.send` resolves with. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks=0 (the broker does not answer). */
  offset: number;
  timestamp: number;
}

/** How one record's `send()` promise is settled. */
export interface RecordCompletion {
  resolve: (m: RecordMetadata) => void;
  reject: (e: Error) => void;
}

/**
 * One batch of one partition, from its first record to its acknowledgement: the builder, the
 * callers waiting on its records, and (idempotent producer) the producer id, epoch and base
 * sequence it was first sent with. Sequence fields stay NO_SEQUENCE until the first send.
 */
export class ProducerBatch {
  readonly builder: RecordBatchBuilder;
  readonly completions: RecordCompletion[] = [];
  readonly timestamps: number[] = [];
  built: Buffer | null = null;
  /** Bytes charged against the producer's buffer memory. */
  bytes = 0;
  /** Sends so far (1 after the first). */
  attempts = 0;
  /** Why the last attempt failed: reported if the delivery timeout runs out, since it says why. */
  lastError: CairnError | null = null;
  producerId = NO_PRODUCER_ID;
  producerEpoch = NO_PRODUCER_EPOCH;
  baseSequence = NO_SEQUENCE;

  constructor(
    readonly topic: string,
    readonly partition: number,
    maxBytes: number,
    compression: Compression,
    readonly createdMs: number,
  ) {
    this.builder = new RecordBatchBuilder(maxBytes, { compression });
  }

  get recordCount(): number {
    return this.completions.length;
  }

  /** Whether the batch has been sent at least once (its outcome may be unknown). */
  get sent(): boolean {
    return this.attempts > 0;
  }

  /** Stops appending and returns the batch's bytes (built once). */
  close(): Buffer {
    this.built ??= this.builder.build();
    return this.built;
  }

  /** The bytes to send, with the producer id, epoch and sequence stamped when the batch has them. */
  wireBytes(): Buffer {
    const buf = this.close();
    if (this.baseSequence !== NO_SEQUENCE) stampProducerState(buf, 0, buf.length, this.producerId, this.producerEpoch, this.baseSequence);
    return buf;
  }

  /** Resolves every record: offsets from `baseOffset` (-1 with acks=0), broker time when it stamped one. */
  complete(baseOffset: number, logAppendTimeMs: number): void {
    for (let i = 0; i < this.completions.length; i++) {
      this.completions[i]!.resolve({
        topic: this.topic,
        partition: this.partition,
        offset: baseOffset < 0 ? -1 : baseOffset + i,
        timestamp: logAppendTimeMs >= 0 ? logAppendTimeMs : this.timestamps[i]!,
      });
    }
  }

  /** Rejects every record with `err`. */
  fail(err: Error): void {
    for (const c of this.completions) c.reject(err);
  }
}
