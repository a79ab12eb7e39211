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
  /** The first offset of its transaction open in this partition, or -1 (none). */
  readonly currentTxnFirstOffset: number;
  /** Wall time of that transaction's first write here, or -1: how long it has held the last stable offset back. */
  readonly currentTxnStartTimestampMs: number;
  /** The coordinator epoch of the latest transaction marker written for it here, or -1. */
  readonly coordinatorEpoch: number;
}

/**
 * An aborted transaction of this partition (Kafka's AbortedTxn, one line of its .txnindex):
 * its records lie in [firstOffset, lastOffset], lastOffset being the abort marker's offset.
 * `lastStableOffset` is the partition's last stable offset right after the marker: no
 * transaction completed later started below it, which bounds a search (see abortedIn).
 */
export interface AbortedTxn {
  readonly producerId: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly lastStableOffset: number;
}

/** A transaction marker as the table applies it (see record/control.ts for the bytes). */
export interface MarkerInfo {
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
}

/** What the leader proved before a transactional write: the coordinator added this partition to the producer's transaction (KIP-890). */
export interface VerificationGuard {
  readonly producerId: number;
  readonly producerEpoch: number;
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
  currentTxnFirstOffset: number;
  currentTxnStartTimestampMs: number;
  coordinatorEpoch: number;
}

const newEntry = (producerId: number, producerEpoch: number, nowMs: number): MutableEntry => ({
  producerId,
  producerEpoch,
  batches: [],
  lastTimestampMs: nowMs,
  currentTxnFirstOffset: -1,
  currentTxnStartTimestampMs: -1,
  coordinatorEpoch: -1,
});

/**
 * One partition's producer state (Kafka's ProducerStateManager, in-memory part; KIP-98): the
 * idempotent producers' sequences, and the transactions open here, completed, and aborted.
 * Pure: no I/O and no clock — times come in as arguments. The leader asks `check` (and
 * `checkTransactional`, `checkMarker`) before it writes a batch (checks change nothing) and calls
 * `update` (`completeTxn`) once the write succeeded, so a failed write leaves no trace (style
 * §12); followers and recovery call `update` and `completeTxn` alone.
 *
 * The last stable offset (LSO) of the partition is the first offset of the oldest transaction
 * that is open, or completed but whose marker is not yet below the high watermark; a
 * read_committed consumer reads below it only.
 */
export class ProducerStateTable {
  readonly maxProducers: number;
  /** In least-recently-written order (a Map keeps insertion order; update re-inserts). */
  private readonly entries = new Map<number, MutableEntry>();
  /** Open transactions, producer id → first offset, in first-offset order (they begin in log order). */
  private readonly ongoing = new Map<number, number>();
  /** Completed transactions whose marker the high watermark has not passed yet, in marker order. */
  private unreplicated: { producerId: number; firstOffset: number; lastOffset: number }[] = [];
  /** Aborted transactions, in marker (lastOffset) order. */
  private aborted: AbortedTxn[] = [];
  /** Verifications in progress, by producer id: a marker or a newer epoch voids them. */
  private readonly guards = new Map<number, VerificationGuard>();

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

  /** Open transactions here, oldest first: producer id, first offset, and when it was written. */
  openTransactions(): { producerId: number; firstOffset: number; startTimestampMs: number }[] {
    return [...this.ongoing].map(([producerId, firstOffset]) => ({ producerId, firstOffset, startTimestampMs: this.entries.get(producerId)?.currentTxnStartTimestampMs ?? -1 }));
  }

  /** Aborted transactions remembered, in marker order. */
  abortedTransactions(): readonly AbortedTxn[] {
    return this.aborted;
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

  /** The epoch rule alone (a coordinator's write, which has no sequence): INVALID_PRODUCER_EPOCH for an epoch older than the partition's. */
  checkEpoch(producerId: number, epoch: number): void {
    const e = this.entries.get(producerId);
    if (epoch < 0) throw new CairnError(ErrorCode.INVALID_RECORD, `a batch of producer ${producerId} needs a producer epoch`);
    if (e !== undefined && epoch < e.producerEpoch) {
      throw new CairnError(ErrorCode.INVALID_PRODUCER_EPOCH, `producer ${producerId} sent epoch ${epoch}, older than its current epoch ${e.producerEpoch}: it has been fenced`);
    }
  }

  /**
   * Records an appended batch without checking it: the leader after `check` and a successful
   * write; followers and recovery for every batch with a producer id. A batch of a newer epoch
   * replaces the older epoch's batches. The producer becomes the most recently written; past
   * `maxProducers` the least recently written is forgotten.
   */
  update(producerId: number, epoch: number, firstSeq: number, lastSeq: number, firstOffset: number, lastOffset: number, nowMs: number, transactional = false): void {
    let e = this.entries.get(producerId);
    if (e !== undefined) this.entries.delete(producerId);
    if (e === undefined) e = newEntry(producerId, epoch, nowMs);
    else if (epoch > e.producerEpoch) {
      e.producerEpoch = epoch;
      e.batches = [];
      this.guards.delete(producerId);
    }
    if (transactional && e.currentTxnFirstOffset < 0) {
      e.currentTxnFirstOffset = firstOffset;
      e.currentTxnStartTimestampMs = nowMs;
      this.ongoing.set(producerId, firstOffset);
      this.guards.delete(producerId);
    }
    // A batch of an older epoch can only come through replication or replay, where the leader
    // already judged it; it keeps the entry's newer epoch and is not remembered. A batch without
    // a sequence (a coordinator's) has nothing to remember either.
    if (epoch === e.producerEpoch && firstSeq >= 0) {
      e.batches.push({ firstSeq, lastSeq, firstOffset, lastOffset });
      if (e.batches.length > PRODUCER_BATCHES_RETAINED) e.batches.shift();
    }
    e.lastTimestampMs = Math.max(e.lastTimestampMs, nowMs);
    this.entries.set(producerId, e);
    this.evictPastBound();
  }

  /** Forgets the least recently written producers past the bound, never one with a transaction open here (the LSO needs it). */
  private evictPastBound(): void {
    for (const [id, e] of this.entries) {
      if (this.entries.size <= this.maxProducers) return;
      if (e.currentTxnFirstOffset < 0) this.entries.delete(id);
    }
  }

  // ---- transactions ----

  /**
   * The transaction rules for a data batch of `producerId` at `epoch` (KIP-98, KIP-890).
   * Changes nothing. A transactional batch continues the producer's open transaction here, or
   * starts one only with a verification `guard` still standing (the coordinator said this
   * partition is in the producer's ongoing transaction, and no marker came since). A plain
   * batch may not interleave with an open transaction. Throws INVALID_TXN_STATE otherwise.
   */
  checkTransactional(producerId: number, epoch: number, transactional: boolean, guard: VerificationGuard | null): void {
    const e = this.entries.get(producerId);
    const open = e !== undefined && e.currentTxnFirstOffset >= 0;
    if (!transactional) {
      if (open) throw new CairnError(ErrorCode.INVALID_TXN_STATE, `producer ${producerId} has a transaction open in this partition: a non-transactional batch may not join it`);
      return;
    }
    if (open && epoch === e.producerEpoch) return;
    if (guard !== null && this.guards.get(producerId) === guard && guard.producerEpoch === epoch) return;
    throw new CairnError(
      ErrorCode.INVALID_TXN_STATE,
      `producer ${producerId} epoch ${epoch} has no transaction open in this partition that the coordinator verified; the partition was not added, or its transaction already ended`,
    );
  }

  /**
   * Opens a verification for a transactional write of `producerId` at `epoch` (Kafka's
   * VerificationGuard): the caller asks the coordinator, then appends with the guard, which
   * holds only if no marker of the producer, nor a newer epoch, was written in between.
   */
  startVerification(producerId: number, epoch: number): VerificationGuard {
    const existing = this.guards.get(producerId);
    if (existing !== undefined && existing.producerEpoch === epoch) return existing;
    const guard: VerificationGuard = Object.freeze({ producerId, producerEpoch: epoch });
    this.guards.set(producerId, guard);
    return guard;
  }

  /** Whether a transactional write of `producerId` at `epoch` needs the coordinator's word first (no transaction of that epoch open here). */
  needsVerification(producerId: number, epoch: number): boolean {
    const e = this.entries.get(producerId);
    return e === undefined || e.currentTxnFirstOffset < 0 || e.producerEpoch !== epoch;
  }

  /**
   * Whether the leader may write `marker`: not from an older producer epoch than the
   * partition's (INVALID_PRODUCER_EPOCH), nor from an older coordinator than the last one that
   * wrote a marker for this producer (TRANSACTION_COORDINATOR_FENCED). Changes nothing.
   */
  checkMarker(marker: MarkerInfo): void {
    const e = this.entries.get(marker.producerId);
    if (e === undefined) return;
    if (marker.producerEpoch < e.producerEpoch) {
      throw new CairnError(ErrorCode.INVALID_PRODUCER_EPOCH, `marker of producer ${marker.producerId} has epoch ${marker.producerEpoch}, older than the partition's ${e.producerEpoch}`);
    }
    if (marker.coordinatorEpoch < e.coordinatorEpoch) {
      throw new CairnError(
        ErrorCode.TRANSACTION_COORDINATOR_FENCED,
        `marker of producer ${marker.producerId} comes from coordinator epoch ${marker.coordinatorEpoch}, older than ${e.coordinatorEpoch}`,
      );
    }
  }

  /**
   * Applies a marker written at `markerOffset`: the producer's open transaction here (if any)
   * ends, and is remembered as aborted when it was. The marker's epoch becomes the producer's
   * (KIP-890 bumps it at every transaction end: the next batch starts at sequence 0, and a
   * late batch of the old epoch is refused).
   */
  completeTxn(marker: MarkerInfo, markerOffset: number, nowMs: number): void {
    const { producerId } = marker;
    let e = this.entries.get(producerId);
    if (e !== undefined) this.entries.delete(producerId);
    if (e === undefined) e = newEntry(producerId, marker.producerEpoch, nowMs);
    else if (marker.producerEpoch > e.producerEpoch) {
      e.producerEpoch = marker.producerEpoch;
      e.batches = [];
    }
    e.coordinatorEpoch = Math.max(e.coordinatorEpoch, marker.coordinatorEpoch);
    e.lastTimestampMs = Math.max(e.lastTimestampMs, nowMs);
    this.guards.delete(producerId);
    const firstOffset = e.currentTxnFirstOffset;
    if (firstOffset >= 0) {
      e.currentTxnFirstOffset = -1;
      e.currentTxnStartTimestampMs = -1;
      this.ongoing.delete(producerId);
      this.unreplicated.push({ producerId, firstOffset, lastOffset: markerOffset });
      if (!marker.commit) {
        const lastStableOffset = this.firstOpenOffset() ?? markerOffset + 1;
        this.aborted.push({ producerId, firstOffset, lastOffset: markerOffset, lastStableOffset });
      }
    }
    this.entries.set(producerId, e);
    this.evictPastBound();
  }

  private firstOpenOffset(): number | null {
    for (const first of this.ongoing.values()) return first;
    return null;
  }

  /**
   * The first offset no read_committed consumer may read yet, at high watermark `hw`: the
   * first offset of the oldest open transaction, or of a completed one whose marker is not
   * below `hw` (its outcome could still be lost with the leader), else `hw`. Forgets completed
   * transactions the high watermark has passed.
   */
  lastStableOffset(hw: number): number {
    if (this.unreplicated.length > 0 && this.unreplicated[0]!.lastOffset < hw) this.unreplicated = this.unreplicated.filter((t) => t.lastOffset >= hw);
    let lso = hw;
    const open = this.firstOpenOffset();
    if (open !== null && open < lso) lso = open;
    for (const t of this.unreplicated) if (t.firstOffset < lso) lso = t.firstOffset;
    return lso;
  }

  /**
   * The aborted transactions a read of [fetchOffset, upperBound) must know to drop records
   * (Kafka's collectAbortedTxns): those ending at or after `fetchOffset` and starting before
   * `upperBound`. The search stops at the first whose last stable offset reaches `upperBound`:
   * every transaction completed after it started at or above that offset.
   */
  abortedIn(fetchOffset: number, upperBound: number): { producerId: number; firstOffset: number }[] {
    const out: { producerId: number; firstOffset: number }[] = [];
    let lo = 0;
    let hi = this.aborted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.aborted[mid]!.lastOffset < fetchOffset) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.aborted.length; i++) {
      const t = this.aborted[i]!;
      if (t.firstOffset < upperBound) out.push({ producerId: t.producerId, firstOffset: t.firstOffset });
      if (t.lastStableOffset >= upperBound) break;
    }
    return out;
  }

  /** Forgets aborted transactions that ended below `logStartOffset` (retention removed them). */
  removeAbortedBelow(logStartOffset: number): void {
    if (this.aborted.length > 0 && this.aborted[0]!.lastOffset < logStartOffset) this.aborted = this.aborted.filter((t) => t.lastOffset >= logStartOffset);
  }

  /**
   * Forgets producers whose latest append is at least `expirationMs` old at `nowMs`
   * (producer.id.expiration.ms; `>=` as Kafka's isProducerExpired). Returns how many went.
   */
  removeExpired(nowMs: number, expirationMs: number): number {
    let removed = 0;
    for (const [id, e] of this.entries) {
      // A producer with a transaction open here stays: the coordinator ends it (and its timeout bounds it).
      if (nowMs - e.lastTimestampMs >= expirationMs && e.currentTxnFirstOffset < 0) {
        this.entries.delete(id);
        removed++;
      }
    }
    return removed;
  }

  /** Forgets every producer (the log was reset). */
  clear(): void {
    this.entries.clear();
    this.ongoing.clear();
    this.unreplicated = [];
    this.aborted = [];
    this.guards.clear();
  }

  /** Replaces this table's content with `other`'s (verifications in progress are voided). */
  replaceWith(other: ProducerStateTable): void {
    this.clear();
    for (const e of other.entries.values()) this.entries.set(e.producerId, { ...e, batches: [...e.batches] });
    this.indexOpenTransactions();
    this.unreplicated = [...other.unreplicated];
    this.aborted = [...other.aborted];
    this.evictPastBound();
  }

  /** Rebuilds `ongoing` from the entries, in first-offset order. */
  private indexOpenTransactions(): void {
    this.ongoing.clear();
    const open = [...this.entries.values()].filter((e) => e.currentTxnFirstOffset >= 0).sort((a, b) => a.currentTxnFirstOffset - b.currentTxnFirstOffset);
    for (const e of open) this.ongoing.set(e.producerId, e.currentTxnFirstOffset);
  }

  // ---- snapshot format ----

  /**
   * The snapshot of this table (Kafka's producer snapshot, simplified), big-endian:
   * `version int16 | crc32c uint32 | producerCount int32 | producers… | abortedCount int32 | aborted…`,
   * each producer `producerId int64 | epoch int16 | lastTimestampMs int64 | currentTxnFirstOffset int64 |
   * currentTxnStartTimestampMs int64 | coordinatorEpoch int32 | batchCount int8 | batches…`, each batch `firstSeq int32 | lastSeq int32 |
   * firstOffset int64 | lastOffset int64`, each aborted transaction `producerId int64 | firstOffset int64 |
   * lastOffset int64 | lastStableOffset int64` (Cairn keeps the aborted-transaction index here, not in
   * per-segment files). Producers in least-recently-written order, so the LRU bound evicts the same
   * ones after a reload. The CRC covers everything after itself. Version 1 (before transactions: no
   * transaction fields, no aborted list) is still read.
   */
  encodeSnapshot(): Buffer {
    const enc = new Encoder(20 + this.entries.size * (MIN_ENTRY_BYTES + PRODUCER_BATCHES_RETAINED * 24) + this.aborted.length * 32);
    enc.int16(SNAPSHOT_VERSION).uint32(0).int32(this.entries.size);
    for (const e of this.entries.values()) {
      enc.int64(e.producerId).int16(e.producerEpoch).int64(e.lastTimestampMs).int64(e.currentTxnFirstOffset).int64(e.currentTxnStartTimestampMs).int32(e.coordinatorEpoch).int8(e.batches.length);
      for (const b of e.batches) enc.int32(b.firstSeq).int32(b.lastSeq).int64(b.firstOffset).int64(b.lastOffset);
    }
    enc.int32(this.aborted.length);
    for (const t of this.aborted) enc.int64(t.producerId).int64(t.firstOffset).int64(t.lastOffset).int64(t.lastStableOffset);
    const out = Buffer.from(enc.finish());
    out.writeUInt32BE(crc32c(out.subarray(SNAPSHOT_CRC_END)), 2);
    return out;
  }

  /** Decodes a snapshot; never throws: damage, truncation or an unknown version is a typed failure. */
  static decodeSnapshot(buf: Buffer, options: ProducerStateTableOptions = {}): SnapshotDecodeResult {
    if (buf.length < SNAPSHOT_HEADER_BYTES) return { ok: false, reason: `snapshot of ${buf.length} bytes is shorter than its ${SNAPSHOT_HEADER_BYTES}-byte header` };
    const version = buf.readInt16BE(0);
    if (version !== SNAPSHOT_VERSION && version !== 1) return { ok: false, reason: `unknown snapshot version ${version} (expected ${SNAPSHOT_VERSION})` };
    const withTxns = version >= 2;
    const stored = buf.readUInt32BE(2);
    const actual = crc32c(buf.subarray(SNAPSHOT_CRC_END));
    if (stored !== actual) return { ok: false, reason: `snapshot fails its CRC32C (stored ${stored}, computed ${actual})` };
    const table = new ProducerStateTable(options);
    try {
      const d = new Decoder(buf, SNAPSHOT_CRC_END);
      const count = d.int32();
      const minEntry = withTxns ? MIN_ENTRY_BYTES : MIN_ENTRY_BYTES_V1;
      if (count < 0 || count * minEntry > d.remaining()) return { ok: false, reason: `snapshot claims ${count} producers in ${d.remaining()} bytes` };
      for (let i = 0; i < count; i++) {
        const producerId = d.int64();
        const producerEpoch = d.int16();
        const lastTimestampMs = d.int64();
        const currentTxnFirstOffset = withTxns ? d.int64() : -1;
        const currentTxnStartTimestampMs = withTxns ? d.int64() : -1;
        const coordinatorEpoch = withTxns ? d.int32() : -1;
        const batchCount = d.int8();
        if (producerId < 0 || producerEpoch < 0) return { ok: false, reason: `producer ${i} has id ${producerId}, epoch ${producerEpoch}` };
        if (currentTxnFirstOffset < -1 || coordinatorEpoch < -1)
          return { ok: false, reason: `producer ${producerId} has transaction offset ${currentTxnFirstOffset}, coordinator epoch ${coordinatorEpoch}` };
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
        table.entries.set(producerId, { producerId, producerEpoch, batches, lastTimestampMs, currentTxnFirstOffset, currentTxnStartTimestampMs, coordinatorEpoch });
      }
      if (withTxns) {
        const abortedCount = d.int32();
        if (abortedCount < 0 || abortedCount * 32 > d.remaining()) return { ok: false, reason: `snapshot claims ${abortedCount} aborted transactions in ${d.remaining()} bytes` };
        for (let i = 0; i < abortedCount; i++) {
          const t = { producerId: d.int64(), firstOffset: d.int64(), lastOffset: d.int64(), lastStableOffset: d.int64() };
          const prev = table.aborted[table.aborted.length - 1];
          if (t.producerId < 0 || t.firstOffset < 0 || t.lastOffset < t.firstOffset || t.lastStableOffset <= t.firstOffset || (prev !== undefined && t.lastOffset <= prev.lastOffset)) {
            return { ok: false, reason: `aborted transaction ${i} is invalid: ${JSON.stringify(t)}` };
          }
          table.aborted.push(t);
        }
      }
      if (d.remaining() !== 0) return { ok: false, reason: `${d.remaining()} bytes follow the last ${withTxns ? 'aborted transaction' : 'producer'}` };
    } catch (err) {
      if (err instanceof DecodeError) return { ok: false, reason: err.message };
      throw err;
    }
    table.indexOpenTransactions();
    table.evictPastBound();
    return { ok: true, table };
  }
}

export type SnapshotDecodeResult = { ok: true; table: ProducerStateTable } | { ok: false; reason: string };

const SNAPSHOT_VERSION = 2;
/** version (2) + crc (4): the CRC covers the bytes from here. */
const SNAPSHOT_CRC_END = 6;
const SNAPSHOT_HEADER_BYTES = SNAPSHOT_CRC_END + 4;
/** producerId + epoch + lastTimestampMs + currentTxnFirstOffset + currentTxnStartTimestampMs + coordinatorEpoch + batchCount. */
const MIN_ENTRY_BYTES = 8 + 2 + 8 + 8 + 8 + 4 + 1;
/** Version 1: producerId + epoch + lastTimestampMs + batchCount. */
const MIN_ENTRY_BYTES_V1 = 8 + 2 + 8 + 1;

/**
 * The one idempotent batch of a leader append, or null when no batch has a producer id. Kafka
 * refuses an idempotent batch that shares its partition's request with others: the sequence
 * rules, and the duplicate answer with the original offsets, are per batch.
 */
export function idempotentBatchOf(validated: readonly ValidatedBatch[]): IdempotentBatch | null {
  if (!validated.some((b) => b.producerId >= 0 || b.transactional)) return null;
  if (validated.length !== 1) throw new CairnError(ErrorCode.INVALID_RECORD, 'an idempotent or transactional batch must be the only batch of its partition in a request');
  const b = validated[0]!;
  if (b.producerId < 0) throw new CairnError(ErrorCode.INVALID_RECORD, 'a transactional batch needs a producer id');
  const lastSeq = b.baseSequence < 0 ? b.baseSequence : incrementSequence(b.baseSequence, b.lastOffsetDelta);
  return { producerId: b.producerId, producerEpoch: b.producerEpoch, firstSeq: b.baseSequence, lastSeq, transactional: b.transactional };
}

export interface IdempotentBatch {
  producerId: number;
  producerEpoch: number;
  firstSeq: number;
  lastSeq: number;
  transactional: boolean;
}
