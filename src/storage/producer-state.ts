import { CairnError, ErrorCode } from '../common';
import { crc32c, DecodeError, Decoder, Encoder, incrementSequence, PRODUCER_BATCHES_RETAINED, type ValidatedBatch } from '../record';

/**
 * Default bound on the producers one partition remembers. Kafka has no per-partition bound (only
 * producer.id.expiration.ms); Cairn names one (style §3) so that a client minting producer ids
 * cannot grow a broker's memory without limit. 10 000 producers of 5 batches each is a few MB.
 * Past it the least recently written producer is forgotten: its next batch, unless it starts a
 * new sequence at 0, is refused with UNKNOWN_PRODUCER_ID.
 */
export const MAX_PRODUCERS_PER_PARTITION = 10_000;

/** One appended batch of a producer, as the leader remembers it. */
export interface ProducerBatch {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
}

/** What a partition knows of one producer (Kafka's ProducerStateEntry). */
export interface ProducerEntry {
  readonly producerId: number;
  readonly producerEpoch: number;
  /** Its latest batches of `producerEpoch`, oldest first, at most PRODUCER_BATCHES_RETAINED. */
  readonly batches: readonly ProducerBatch[];
  /** Wall time of its latest append here, for producer.id.expiration.ms. */
  readonly lastTimestampMs: number;
}

export type SequenceVerdict = { kind: 'new' } | { kind: 'duplicate'; firstOffset: number; lastOffset: number };

export interface ProducerStateTableOptions {
  /** Bound on the producers remembered; the least recently written goes first. Default MAX_PRODUCERS_PER_PARTITION. */
  maxProducers?: number;
}

interface MutableEntry {
  producerId: number;
  producerEpoch: number;
  batches: ProducerBatch[];
  lastTimestampMs: number;
}

/**
 * One partition's idempotent-producer state (Kafka's ProducerStateManager, in-memory part; KIP-98).
 * Pure: no I/O and no clock — times come in as arguments. The leader asks `check` before it
 * writes a batch (check changes nothing) and calls `update` once the write succeeded, so a failed
 * write leaves no trace (style §12); followers and recovery call `update` alone.
 */
export class ProducerStateTable {
  readonly maxProducers: number;
  /** In least-recently-written order (a Map keeps insertion order; update re-inserts). */
  private readonly entries = new Map<number, MutableEntry>();

  constructor(options: ProducerStateTableOptions = {}) {
    this.maxProducers = options.maxProducers ?? MAX_PRODUCERS_PER_PARTITION;
    if (!Number.isInteger(this.maxProducers) || this.maxProducers < 1) throw new RangeError(`maxProducers must be a positive integer, not ${this.maxProducers}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The state of one producer, or undefined when this partition does not know it. */
  get(producerId: number): ProducerEntry | undefined {
    const e = this.entries.get(producerId);
    return e === undefined ? undefined : { ...e, batches: [...e.batches] };
  }

  /** Every producer, least recently written first. */
  all(): ProducerEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e, batches: [...e.batches] }));
  }

  /**
   * The leader's sequence rules (KIP-98, as Kafka's ProducerAppendInfo and
   * ProducerStateEntry.findDuplicateBatch apply them) for a batch of `producerId` at `epoch`
   * carrying sequences firstSeq..lastSeq. Changes nothing. Throws CairnError with
   * INVALID_PRODUCER_EPOCH (a fenced, older epoch), OUT_OF_ORDER_SEQUENCE_NUMBER (a gap, or a new
   * epoch not starting at 0), UNKNOWN_PRODUCER_ID (a producer this partition does not know, not at
   * sequence 0) or INVALID_RECORD (no epoch or sequence at all).
   */
  check(producerId: number, epoch: number, firstSeq: number, lastSeq: number): SequenceVerdict {
    if (epoch < 0 || firstSeq < 0 || lastSeq < 0) {
      throw new CairnError(ErrorCode.INVALID_RECORD, `a batch of producer ${producerId} needs a producer epoch and a base sequence (has epoch ${epoch}, sequence ${firstSeq})`);
    }
    const e = this.entries.get(producerId);
    if (e === undefined) {
      // A producer seen for the first time (or expired / evicted here) must start at 0; anything
      // else may follow batches this partition lost track of.
      if (firstSeq === 0) return { kind: 'new' };
      throw new CairnError(ErrorCode.UNKNOWN_PRODUCER_ID, `producer ${producerId} is not known to this partition and its batch starts at sequence ${firstSeq}, not 0`);
    }
    if (epoch < e.producerEpoch) {
      throw new CairnError(ErrorCode.INVALID_PRODUCER_EPOCH, `producer ${producerId} sent epoch ${epoch}, older than its current epoch ${e.producerEpoch}: it has been fenced`);
    }
    if (epoch > e.producerEpoch) {
      if (firstSeq === 0) return { kind: 'new' };
      throw new CairnError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, `producer ${producerId} moved to epoch ${epoch} with sequence ${firstSeq}; a new epoch starts at 0`);
    }
    for (const b of e.batches) {
      if (b.firstSeq === firstSeq && b.lastSeq === lastSeq) return { kind: 'duplicate', firstOffset: b.firstOffset, lastOffset: b.lastOffset };
    }
    const latest = e.batches[e.batches.length - 1];
    // An entry with no batch only comes from a snapshot of a producer whose batches were all of an older epoch; accept a fresh start.
    const expected = latest === undefined ? 0 : incrementSequence(latest.lastSeq, 1);
    if (firstSeq === expected) return { kind: 'new' };
    throw new CairnError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, `producer ${producerId} epoch ${epoch} sent sequence ${firstSeq}, expected ${expected}`);
  }

  /**
   * Records an appended batch without checking it: the leader after `check` and a successful
   * write; followers and recovery for every batch with a producer id. A batch of a newer epoch
   * replaces the older epoch's batches. The producer becomes the most recently written; past
   * `maxProducers` the least recently written is forgotten.
   */
  update(producerId: number, epoch: number, firstSeq: number, lastSeq: number, firstOffset: number, lastOffset: number, nowMs: number): void {
    let e = this.entries.get(producerId);
    if (e !== undefined) this.entries.delete(producerId);
    if (e === undefined || epoch > e.producerEpoch) e = { producerId, producerEpoch: epoch, batches: [], lastTimestampMs: nowMs };
    // A batch of an older epoch can only come through replication or replay, where the leader
    // already judged it; it keeps the entry's newer epoch and is not remembered.
    if (epoch === e.producerEpoch) {
      e.batches.push({ firstSeq, lastSeq, firstOffset, lastOffset });
      if (e.batches.length > PRODUCER_BATCHES_RETAINED) e.batches.shift();
    }
    e.lastTimestampMs = Math.max(e.lastTimestampMs, nowMs);
    this.entries.set(producerId, e);
    this.evictPastBound();
  }

  private evictPastBound(): void {
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.maxProducers) return;
      this.entries.delete(id);
    }
  }

  /**
   * Forgets producers whose latest append is at least `expirationMs` old at `nowMs`
   * (producer.id.expiration.ms; `>=` as Kafka's isProducerExpired). Returns how many went.
   */
  removeExpired(nowMs: number, expirationMs: number): number {
    let removed = 0;
    for (const [id, e] of this.entries) {
      if (nowMs - e.lastTimestampMs >= expirationMs) {
        this.entries.delete(id);
        removed++;
      }
    }
    return removed;
  }

  /** Forgets every producer (the log was reset). */
  clear(): void {
    this.entries.clear();
  }

  /** Replaces this table's content with `other`'s. */
  replaceWith(other: ProducerStateTable): void {
    this.entries.clear();
    for (const e of other.entries.values()) this.entries.set(e.producerId, { ...e, batches: [...e.batches] });
    this.evictPastBound();
  }

  // ---- snapshot format ----

  /**
   * The snapshot of this table (Kafka's producer snapshot, simplified), big-endian:
   * `version int16 | crc32c uint32 | producerCount int32 | producers…`, each producer
   * `producerId int64 | epoch int16 | lastTimestampMs int64 | batchCount int8 | batches…`, each
   * batch `firstSeq int32 | lastSeq int32 | firstOffset int64 | lastOffset int64`. Producers in
   * least-recently-written order, so the LRU bound evicts the same ones after a reload. The CRC
   * covers everything after itself.
   */
  encodeSnapshot(): Buffer {
    const enc = new Encoder(16 + this.entries.size * (19 + PRODUCER_BATCHES_RETAINED * 24));
    enc.int16(SNAPSHOT_VERSION).uint32(0).int32(this.entries.size);
    for (const e of this.entries.values()) {
      enc.int64(e.producerId).int16(e.producerEpoch).int64(e.lastTimestampMs).int8(e.batches.length);
      for (const b of e.batches) enc.int32(b.firstSeq).int32(b.lastSeq).int64(b.firstOffset).int64(b.lastOffset);
    }
    const out = Buffer.from(enc.finish());
    out.writeUInt32BE(crc32c(out.subarray(SNAPSHOT_CRC_END)), 2);
    return out;
  }

  /** Decodes a snapshot; never throws: damage, truncation or an unknown version is a typed failure. */
  static decodeSnapshot(buf: Buffer, options: ProducerStateTableOptions = {}): SnapshotDecodeResult {
    if (buf.length < SNAPSHOT_HEADER_BYTES) return { ok: false, reason: `snapshot of ${buf.length} bytes is shorter than its ${SNAPSHOT_HEADER_BYTES}-byte header` };
    const version = buf.readInt16BE(0);
    if (version !== SNAPSHOT_VERSION) return { ok: false, reason: `unknown snapshot version ${version} (expected ${SNAPSHOT_VERSION})` };
    const stored = buf.readUInt32BE(2);
    const actual = crc32c(buf.subarray(SNAPSHOT_CRC_END));
    if (stored !== actual) return { ok: false, reason: `snapshot fails its CRC32C (stored ${stored}, computed ${actual})` };
    const table = new ProducerStateTable(options);
    try {
      const d = new Decoder(buf, SNAPSHOT_CRC_END);
      const count = d.int32();
      if (count < 0 || count * MIN_ENTRY_BYTES > d.remaining()) return { ok: false, reason: `snapshot claims ${count} producers in ${d.remaining()} bytes` };
      for (let i = 0; i < count; i++) {
        const producerId = d.int64();
        const producerEpoch = d.int16();
        const lastTimestampMs = d.int64();
        const batchCount = d.int8();
        if (producerId < 0 || producerEpoch < 0) return { ok: false, reason: `producer ${i} has id ${producerId}, epoch ${producerEpoch}` };
        if (batchCount < 0 || batchCount > PRODUCER_BATCHES_RETAINED) return { ok: false, reason: `producer ${producerId} has ${batchCount} batches` };
        if (table.entries.has(producerId)) return { ok: false, reason: `producer ${producerId} appears twice` };
        const batches: ProducerBatch[] = [];
        for (let j = 0; j < batchCount; j++) {
          const b = { firstSeq: d.int32(), lastSeq: d.int32(), firstOffset: d.int64(), lastOffset: d.int64() };
          const prev = batches[batches.length - 1];
          if (b.firstSeq < 0 || b.lastSeq < 0 || b.firstOffset < 0 || b.lastOffset < b.firstOffset || (prev !== undefined && b.firstOffset <= prev.lastOffset)) {
            return { ok: false, reason: `producer ${producerId} batch ${j} is invalid: ${JSON.stringify(b)}` };
          }
          batches.push(b);
        }
        table.entries.set(producerId, { producerId, producerEpoch, batches, lastTimestampMs });
      }
      if (d.remaining() !== 0) return { ok: false, reason: `${d.remaining()} bytes follow the last producer` };
    } catch (err) {
      if (err instanceof DecodeError) return { ok: false, reason: err.message };
      throw err;
    }
    table.evictPastBound();
    return { ok: true, table };
  }
}

export type SnapshotDecodeResult = { ok: true; table: ProducerStateTable } | { ok: false; reason: string };

const SNAPSHOT_VERSION = 1;
/** version (2) + crc (4): the CRC covers the bytes from here. */
const SNAPSHOT_CRC_END = 6;
const SNAPSHOT_HEADER_BYTES = SNAPSHOT_CRC_END + 4;
/** producerId + epoch + lastTimestampMs + batchCount. */
const MIN_ENTRY_BYTES = 8 + 2 + 8 + 1;

/**
 * The one idempotent batch of a leader append, or null when no batch has a producer id. Kafka
 * refuses an idempotent batch that shares its partition's request with others: the sequence
 * rules, and the duplicate answer with the original offsets, are per batch.
 */
export function idempotentBatchOf(validated: readonly ValidatedBatch[]): { producerId: number; producerEpoch: number; firstSeq: number; lastSeq: number } | null {
  if (!validated.some((b) => b.producerId >= 0)) return null;
  if (validated.length !== 1) throw new CairnError(ErrorCode.INVALID_RECORD, 'an idempotent batch must be the only batch of its partition in a request');
  const b = validated[0]!;
  const lastSeq = b.baseSequence < 0 ? b.baseSequence : incrementSequence(b.baseSequence, b.lastOffsetDelta);
  return { producerId: b.producerId, producerEpoch: b.producerEpoch, firstSeq: b.baseSequence, lastSeq };
}
