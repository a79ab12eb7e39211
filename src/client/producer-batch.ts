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

/**
 * One batch of one partition, from its first record to its acknowledgement: the builder, the
 * callers waiting on its records, and (idempotent producer) the producer id, epoch and base
 * sequence it was first sent with. Sequence fields stay NO_SEQUENCE until the first send.
 */
export class ProducerBatch {
  readonly builder: RecordBatchBuilder;
  /** How each record's `send()` promise is settled, in record order (two arrays: no object per record on the hot path). */
  readonly resolves: ((m: RecordMetadata) => void)[] = [];
  readonly rejects: ((e: Error) => void)[] = [];
  readonly timestamps: number[] = [];
  /** No more records: full, or sent. */
  sealed = false;
  built: Buffer | null = null;
  /** The producer id, epoch and sequence in `built` (what it was built or last stamped with). */
  private wire = { producerId: NO_PRODUCER_ID, producerEpoch: NO_PRODUCER_EPOCH, baseSequence: NO_SEQUENCE };
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
    initialCapacity?: number,
    transactional = false,
  ) {
    this.builder = new RecordBatchBuilder(maxBytes, { compression, initialCapacity, transactional });
  }

  get recordCount(): number {
    return this.resolves.length;
  }

  /** Whether the batch has been sent at least once (its outcome may be unknown). */
  get sent(): boolean {
    return this.attempts > 0;
  }

  /** Stops appending (the batch is full); it is built when first sent. */
  seal(): void {
    this.sealed = true;
  }

  /** Its size on the wire: exact once built, else the uncompressed size so far. */
  get sizeBytes(): number {
    return this.built?.length ?? this.builder.sizeInBytes;
  }

  /**
   * The bytes to send, with the producer id, epoch and sequence when the batch has them. Built at
   * the first send with those fields (one CRC); a resend after an epoch bump re-stamps them.
   */
  wireBytes(): Buffer {
    this.sealed = true;
    const fields = { producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence: this.baseSequence };
    if (this.built === null) {
      this.built = this.builder.build(fields);
    } else if (fields.producerId !== this.wire.producerId || fields.producerEpoch !== this.wire.producerEpoch || fields.baseSequence !== this.wire.baseSequence) {
      stampProducerState(this.built, 0, this.built.length, fields.producerId, fields.producerEpoch, fields.baseSequence);
    }
    this.wire = fields;
    return this.built;
  }

  /** Resolves every record: offsets from `baseOffset` (-1 with acks=0), broker time when it stamped one. */
  /** Completed or failed: settled once, whatever calls come after (the buffer it held is released once). */
  settled = false;

  complete(baseOffset: number, logAppendTimeMs: number): void {
    this.settled = true;
    for (let i = 0; i < this.resolves.length; i++) {
      this.resolves[i]!({
        topic: this.topic,
        partition: this.partition,
        offset: baseOffset < 0 ? -1 : baseOffset + i,
        timestamp: logAppendTimeMs >= 0 ? logAppendTimeMs : this.timestamps[i]!,
      });
    }
  }

  /** Rejects every record with `err`. */
  fail(err: Error): void {
    this.settled = true;
    for (const reject of this.rejects) reject(err);
  }
}
