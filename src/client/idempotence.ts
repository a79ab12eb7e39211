import { ErrorCode, isRetriable } from '../common';
import { incrementSequence, NO_SEQUENCE, PRODUCER_BATCHES_RETAINED } from '../record';

/**
 * Per-partition send bookkeeping of the producer, pure: which batches of a partition are in
 * flight, which wait to be resent, and — for an idempotent producer (KIP-98) — the producer id,
 * epoch and next sequence number, with the recovery of KIP-360 (bump the epoch, restart at 0).
 *
 * The rules (the broker's side is in the comment above InitProducerIdRequest in proto/cairn.proto):
 * - A batch gets its sequence when first sent and keeps it on every retry. Nothing once sent is
 *   ever renumbered: an epoch bump gives up every batch sent under the old epoch and not
 *   acknowledged (`takeAbandoned`; the shell fails them as of unknown outcome). Any of them may be
 *   in some replica's log — a leader that wrote it and lost leadership before answering can lead
 *   again with it, even after another leader answered OUT_OF_ORDER_SEQUENCE_NUMBER for it — and
 *   under a new epoch and sequence it would be written a second time. (Kafka's producer renumbers
 *   them; the whole-cluster simulation found the duplicate that makes, seed 42.)
 * - Up to `maxInFlight` batches of a partition are in flight. Once one fails retriably (or its
 *   outcome is unknown), nothing new is sent until the others are back; then every failed batch
 *   goes back to the head of the queue, in sequence order, and is resent as it was.
 * - OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID on a batch behind one not yet
 *   acknowledged is expected (the earlier one failed): resend in order. On the first
 *   unacknowledged batch they fail that batch, and so does any other failure of a sent batch
 *   (a fatal code, or the delivery timeout): its sequence range is then a gap the broker will not
 *   fill, so the partition bumps its epoch once nothing is in flight and starts again at 0.
 * - Except when a sent batch expires (its outcome unknown) while later batches of the partition
 *   are still unacknowledged: the broker may have written it and them. They keep their epoch and
 *   sequences and are resent ("an unresolved gap", as Kafka's producer has): an acknowledgement
 *   of one of them shows the expired batch was written; OUT_OF_ORDER_SEQUENCE_NUMBER or
 *   UNKNOWN_PRODUCER_ID on the first of them says this leader has a gap, and the partition bumps
 *   (giving them up, as above).
 * - INVALID_PRODUCER_EPOCH fails the batch without a bump: a newer producer fenced this one.
 * - No new batch goes out while `maxInFlight` batches have been sent since the oldest one not yet
 *   acknowledged (acknowledged ones after it included): the leader remembers only the last 5
 *   batches per producer, so a resend of a batch whose answer was lost must still find its
 *   original there, or it would be taken for a gap.
 */

/** Kafka's limit for an idempotent producer: the leader remembers only this many batches per producer. */
export const MAX_IN_FLIGHT_PER_PARTITION = PRODUCER_BATCHES_RETAINED;
/** The largest producer epoch (int16); past it the producer needs a new id. */
export const MAX_PRODUCER_EPOCH = 32767;

/** A producer id and epoch, as InitProducerId answers. */
export interface ProducerIdAndEpoch {
  producerId: number;
  producerEpoch: number;
}

/** What the bookkeeping needs of a batch; the sequence fields are written here. */
export interface SequencedBatch {
  readonly recordCount: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

/** What to do with a batch after its answer. */
export type BatchVerdict = 'acked' | 'resend' | 'fail';

export class PartitionSendState<B extends SequencedBatch> {
  producerId = -1;
  producerEpoch = -1;
  nextSequence = 0;
  /** A sent batch failed: bump the epoch once nothing is in flight (idempotent only). */
  bumpNeeded = false;
  /** A sent batch expired with later ones unacknowledged: whether it was written is not known yet. */
  unresolvedGap = false;
  /** Sent and not yet acknowledged or failed, in sequence (send) order. */
  private readonly unacked: B[] = [];
  private readonly inFlight = new Set<B>();
  /** Failed retriably, waiting for the rest of the partition's in-flight batches to come back. */
  private readonly waiting = new Set<B>();
  /** Every batch first sent since the oldest unacknowledged one, that one included, in order. */
  private window: B[] = [];
  /** Sent under an epoch that a bump left behind, not acknowledged: for the shell to fail. */
  private abandoned: B[] = [];

  constructor(
    readonly idempotent: boolean,
    readonly maxInFlight: number,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || (idempotent && maxInFlight > MAX_IN_FLIGHT_PER_PARTITION)) {
      throw new Error(`maxInFlight ${maxInFlight} out of range (1..${idempotent ? MAX_IN_FLIGHT_PER_PARTITION : '∞'})`);
    }
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Whether the partition has a producer id (always true without idempotence). */
  get hasProducerId(): boolean {
    return !this.idempotent || this.producerId >= 0;
  }

  /** Whether the queue's head may be sent now. */
  canSend(): boolean {
    if (!this.hasProducerId || this.bumpNeeded || this.waiting.size > 0 || this.inFlight.size >= this.maxInFlight) return false;
    // A resend (an unacknowledged batch back in the queue) is already inside the window.
    return this.unacked.some((b) => !this.inFlight.has(b)) || this.window.length < this.maxInFlight;
  }

  /** Failed batches wait, and nothing is in flight any more: time to take them back (after a bump, if one is due). */
  get resendDue(): boolean {
    return this.waiting.size > 0 && this.inFlight.size === 0 && !this.bumpNeeded;
  }

  /** A bump is due and nothing is in flight. */
  get bumpDue(): boolean {
    return this.bumpNeeded && this.inFlight.size === 0;
  }

  /** Sets the id and epoch (first use, or a new id after the largest epoch) and renumbers what is waiting. */
  setProducerId(id: ProducerIdAndEpoch): void {
    this.producerId = id.producerId;
    this.producerEpoch = id.producerEpoch;
    this.restartSequences();
  }

  /**
   * KIP-360: epoch + 1 with the same id, sequence back to 0; the unacknowledged batches are given
   * up (`takeAbandoned`). Returns false, changing nothing, at the largest epoch: the caller must
   * get a new id (InitProducerId) and call setProducerId.
   */
  bumpEpoch(): boolean {
    if (!this.bumpDue) throw new Error(`bumpEpoch with bumpNeeded=${this.bumpNeeded} and ${this.inFlight.size} in flight`);
    if (this.producerEpoch >= MAX_PRODUCER_EPOCH) return false;
    this.producerEpoch++;
    this.restartSequences();
    return true;
  }

  private restartSequences(): void {
    if (this.inFlight.size > 0) throw new Error(`restarting sequences with ${this.inFlight.size} batches in flight`);
    this.bumpNeeded = false;
    this.unresolvedGap = false;
    this.nextSequence = 0;
    const kept = this.carriedOver([...this.unacked]);
    for (const b of this.unacked) {
      if (kept.includes(b)) continue;
      this.abandoned.push(b);
      this.waiting.delete(b);
    }
    this.unacked.splice(0, this.unacked.length, ...kept);
    for (const b of kept) this.assignSequence(b);
    this.window = [...kept];
  }

  /**
   * Which of the unacknowledged batches a restart of the sequences keeps, to renumber: none, since
   * any of them may have been written (class comment). The simulation's seeded bug
   * `producerRenumbersSentBatches` keeps them all, as Kafka's producer does.
   */
  protected carriedOver(_unacked: B[]): B[] {
    return [];
  }

  /** The batches a bump gave up, oldest first: the shell fails them (written or not, nobody knows). */
  takeAbandoned(): B[] {
    const out = this.abandoned;
    this.abandoned = [];
    return out;
  }

  private assignSequence(b: B): void {
    b.producerId = this.producerId;
    b.producerEpoch = this.producerEpoch;
    b.baseSequence = this.nextSequence;
    this.nextSequence = incrementSequence(this.nextSequence, b.recordCount);
  }

  /**
   * The batch at the queue's head is being sent. A first send gets the next sequence; a resend
   * keeps its own and must be the oldest unacknowledged batch not in flight (order is the point).
   */
  onSend(b: B): void {
    if (!this.canSend()) throw new Error(`send while the partition may not send (bumpNeeded=${this.bumpNeeded}, waiting=${this.waiting.size}, inFlight=${this.inFlight.size})`);
    const firstNotInFlight = this.unacked.find((x) => !this.inFlight.has(x));
    if (this.unacked.includes(b)) {
      if (firstNotInFlight !== b) throw new Error('a batch is resent ahead of an older unacknowledged batch');
    } else {
      if (firstNotInFlight !== undefined) throw new Error('a new batch is sent ahead of a batch waiting to be resent');
      if (this.idempotent) this.assignSequence(b);
      this.unacked.push(b);
      this.window.push(b);
    }
    this.inFlight.add(b);
  }

  /** The broker's answer for an in-flight batch (a connection error or timeout counts as its code). */
  onResponse(b: B, errorCode: number): BatchVerdict {
    if (!this.inFlight.delete(b)) throw new Error('answer for a batch that is not in flight');
    if (errorCode === ErrorCode.NONE) {
      // Written after the gap: so was whatever expired before it.
      this.unresolvedGap = false;
      this.forget(b);
      return 'acked';
    }
    const sequenceError = errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER || errorCode === ErrorCode.UNKNOWN_PRODUCER_ID;
    if (this.idempotent && sequenceError && this.unresolvedGap && this.unacked[0] === b) {
      // This leader has a gap where the expired batch was: bump (which gives up this batch and those after it).
      this.unresolvedGap = false;
      this.bumpNeeded = true;
      this.waiting.add(b);
      return 'resend';
    }
    // Behind an unacknowledged batch (resend in order), or with a bump coming (which gives it up): wait.
    const resend = this.idempotent && sequenceError ? this.unacked[0] !== b || this.bumpNeeded : isRetriable(errorCode);
    if (resend) {
      this.waiting.add(b);
      return 'resend';
    }
    this.forget(b);
    if (this.idempotent && errorCode !== ErrorCode.INVALID_PRODUCER_EPOCH) this.bumpNeeded = true;
    return 'fail';
  }

  /**
   * A batch not in flight is being failed by the shell (delivery timeout). If it was ever sent,
   * its sequence range may be a gap: an idempotent partition bumps its epoch, unless later batches
   * are unacknowledged (then the gap is unresolved until the broker answers one of them).
   */
  onExpired(b: B): void {
    if (this.inFlight.has(b)) throw new Error('expiring a batch that is in flight');
    const i = this.unacked.indexOf(b);
    if (i < 0) return; // never sent: no sequence to account for
    const laterSent = this.unacked.length > i + 1;
    this.forget(b);
    if (!this.idempotent) return;
    if (laterSent) this.unresolvedGap = true;
    else this.bumpNeeded = true;
  }

  /** The failed batches, oldest first, to go back to the head of the queue; call when `resendDue`. */
  takeResends(): B[] {
    if (!this.resendDue) throw new Error('takeResends while not resendDue');
    const out = this.unacked.filter((b) => this.waiting.has(b));
    this.waiting.clear();
    return out;
  }

  /** Waiting batches, oldest first (the shell checks them against the delivery timeout). */
  waitingBatches(): B[] {
    return this.unacked.filter((b) => this.waiting.has(b));
  }

  private forget(b: B): void {
    const i = this.unacked.indexOf(b);
    if (i >= 0) this.unacked.splice(i, 1);
    this.waiting.delete(b);
    const oldest = this.unacked[0];
    this.window = oldest === undefined ? [] : this.window.slice(Math.max(0, this.window.indexOf(oldest)));
  }
}

/** Whether a batch carries a sequence (was stamped for an idempotent send). */
export const hasSequence = (b: SequencedBatch): boolean => b.baseSequence !== NO_SEQUENCE;
