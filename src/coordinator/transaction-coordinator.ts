import { CairnError, ErrorCode, TopicPartitionSets, type TopicPartitions } from '../common';
import type { CoordinatorResult } from './group-messages';
import { markerIdentity, type TxnMetadata, type TxnRecord, TxnsState, type TxnState } from './txn-state';

const { equals, isEmpty, minus, NO_PARTITIONS, union } = TopicPartitionSets;

/** The largest producer epoch (int16). An end that would bump past it moves the producer to a new id. */
export const MAX_PRODUCER_EPOCH = 32_767;

export interface TransactionCoordinatorConfig {
  /** transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for. */
  maxTimeoutMs: number;
}

export const DEFAULT_TRANSACTION_COORDINATOR_CONFIG: TransactionCoordinatorConfig = Object.freeze({ maxTimeoutMs: 900_000 });

export interface InitProducerIdTxnRequest {
  transactionalId: string;
  transactionTimeoutMs: number;
}

export interface TxnIdentityResponse {
  errorCode: ErrorCode;
  errorMessage: string;
  producerId: number;
  producerEpoch: number;
}

export interface AddPartitionsRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  partitions: TopicPartitions;
  /** Only check that the partitions are in the ongoing transaction (KIP-890 part 1, for clients that add partitions themselves). */
  verifyOnly: boolean;
}

export interface EndTxnRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  commit: boolean;
}

export interface SimpleResponse {
  errorCode: ErrorCode;
  errorMessage: string;
}

/** A transaction the coordinator has decided and whose markers must now be written. */
export interface PendingMarkers {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  commit: boolean;
  partitions: TopicPartitions;
}

/**
 * The transaction coordinator of one `__transaction_state` partition (Kafka's
 * TransactionCoordinator and TransactionStateManager, KIP-98 with KIP-890's "transaction
 * version 2"): a pure state machine, no I/O, time passed in. Like the group coordinator, a
 * handler checks everything first, then makes records and replays each into the state, so the
 * next request sees them; the shell appends them (acks=all) and answers once they are
 * committed, and reloads the partition if an append fails.
 *
 * Every transaction end bumps the producer epoch (KIP-890): the markers carry the bumped epoch,
 * so a partition refuses any late write of the ended transaction, and the coordinator refuses
 * its late requests. A producer id whose epoch would pass MAX_PRODUCER_EPOCH moves to a new id.
 * Decided transactions (Prepare*) are listed by `pendingMarkers`; the shell writes their
 * markers and calls `markersWritten`. A coordinator that loads a partition finishes every
 * transaction it finds decided, and times out the open ones from their recorded start.
 */
export class TransactionCoordinator {
  readonly state = new TxnsState();
  /**
   * When each open transaction times out, on the monotonic clock: a wall clock that jumps back
   * must not keep a transaction open (its recorded start, a wall time, is for people). Not
   * records: a coordinator that loads a partition gives every open transaction a full timeout.
   */
  private readonly deadlines = new Map<string, number>();

  constructor(private readonly config: TransactionCoordinatorConfig = DEFAULT_TRANSACTION_COORDINATOR_CONFIG) {}

  replay(r: TxnRecord): void {
    this.state.replay(r);
  }

  /** Loading done: every open transaction's timeout starts now (monotonic ms). */
  onLoaded(monoMs: number): void {
    for (const m of this.state.txns.values()) if (m.state === 'Ongoing') this.deadlines.set(m.transactionalId, monoMs + m.timeoutMs);
  }

  /** Whether an InitProducerId for `transactionalId` needs a fresh producer id from the shell (a new id, or an exhausted epoch). */
  needsProducerIdForInit(transactionalId: string): boolean {
    const m = this.state.txns.get(transactionalId);
    return m === undefined || m.producerEpoch >= MAX_PRODUCER_EPOCH - 1;
  }

  /** Whether ending the current transaction of `transactionalId` moves it to a new producer id (its epoch is exhausted). */
  needsProducerIdForEnd(transactionalId: string): boolean {
    const m = this.state.txns.get(transactionalId);
    return m !== undefined && m.producerEpoch + 1 >= MAX_PRODUCER_EPOCH;
  }

  /**
   * InitProducerId with a transactional id: a new producer instance takes the id over. The
   * previous instance's epoch is fenced; a transaction it left open is aborted first (the answer
   * is then CONCURRENT_TRANSACTIONS, and the producer asks again once the markers are written).
   * `newProducerId` must be given when needsProducerIdForInit says so.
   */
  initProducerId(req: InitProducerIdTxnRequest, nowMs: number, newProducerId: number | null): CoordinatorResult<TxnIdentityResponse, TxnRecord> {
    return this.run(
      (emit) => {
        checkId(req.transactionalId);
        if (!Number.isInteger(req.transactionTimeoutMs) || req.transactionTimeoutMs <= 0 || req.transactionTimeoutMs > this.config.maxTimeoutMs) {
          throw new CairnError(ErrorCode.INVALID_TRANSACTION_TIMEOUT, `transaction timeout ${req.transactionTimeoutMs} ms is not in 1..${this.config.maxTimeoutMs} (transaction.max.timeout.ms)`);
        }
        const m = this.state.txns.get(req.transactionalId);
        const fresh = (producerId: number) => {
          const value = idle(req.transactionalId, producerId, 0, req.transactionTimeoutMs, nowMs);
          emit({ transactionalId: req.transactionalId, value });
          return identity(value);
        };
        if (m === undefined) return fresh(required(newProducerId));
        switch (m.state) {
          case 'PrepareCommit':
          case 'PrepareAbort':
            throw new CairnError(ErrorCode.CONCURRENT_TRANSACTIONS, `transaction of "${req.transactionalId}" is being completed; retry`);
          case 'Ongoing':
            // The previous instance left a transaction open: fence its epoch and abort it.
            emit({ transactionalId: req.transactionalId, value: this.ending(m, false, m.producerId, m.producerEpoch + 1, nowMs) });
            throw new CairnError(ErrorCode.CONCURRENT_TRANSACTIONS, `aborting the open transaction of "${req.transactionalId}" left by its previous producer; retry`);
          default:
            if (m.producerEpoch >= MAX_PRODUCER_EPOCH - 1) return fresh(required(newProducerId));
            {
              const value: TxnMetadata = { ...idle(req.transactionalId, m.producerId, m.producerEpoch + 1, req.transactionTimeoutMs, nowMs) };
              emit({ transactionalId: req.transactionalId, value });
              return identity(value);
            }
        }
      },
      (err) => ({ errorCode: err.code, errorMessage: err.message, producerId: -1, producerEpoch: -1 }),
      // An abort decided on the way to a refusal is a record the shell must still write.
      true,
    );
  }

  /**
   * AddPartitionsToTxn: the partitions (or a group's offsets partition) join the producer's
   * transaction, which becomes Ongoing. The partition leaders call it before the first
   * transactional write of a producer epoch (KIP-890 part 2: the client never adds partitions
   * itself); with `verifyOnly`, it only checks they are in (part 1, for clients that add them).
   */
  addPartitions(req: AddPartitionsRequest, nowMs: number, monoMs = nowMs): CoordinatorResult<SimpleResponse, TxnRecord> {
    return this.run(
      (emit) => {
        const m = this.current(req.transactionalId, req.producerId, req.producerEpoch);
        if (req.verifyOnly) {
          if (m.state !== 'Ongoing' || !isEmpty(minus(req.partitions, m.partitions))) {
            throw new CairnError(ErrorCode.INVALID_TXN_STATE, `the partitions are not in an ongoing transaction of "${req.transactionalId}"`);
          }
          return ok();
        }
        if (m.state === 'PrepareCommit' || m.state === 'PrepareAbort') {
          throw new CairnError(ErrorCode.CONCURRENT_TRANSACTIONS, `the previous transaction of "${req.transactionalId}" is being completed; retry`);
        }
        const partitions = union(m.state === 'Ongoing' ? m.partitions : NO_PARTITIONS, req.partitions);
        if (m.state === 'Ongoing' && equals(partitions, m.partitions)) return ok();
        if (m.state !== 'Ongoing') this.deadlines.set(m.transactionalId, monoMs + m.timeoutMs);
        emit({
          transactionalId: m.transactionalId,
          value: { ...m, state: 'Ongoing', partitions, txnStartTimestampMs: m.state === 'Ongoing' ? m.txnStartTimestampMs : nowMs, lastUpdateTimestampMs: nowMs },
        });
        return ok();
      },
      (err) => errorOf(err),
    );
  }

  /**
   * EndTxn: decides the transaction (Prepare*, durable before the answer), bumping the epoch;
   * the answer carries the producer's identity for its next transaction. A retried end of a
   * transaction already decided the same way is answered as the first was (a retried commit is
   * never told "aborted"). An end with nothing added completes at once. `newProducerId` must be
   * given when needsProducerIdForEnd says so.
   */
  endTxn(req: EndTxnRequest, nowMs: number, newProducerId: number | null): CoordinatorResult<TxnIdentityResponse, TxnRecord> {
    return this.run(
      (emit) => {
        checkId(req.transactionalId);
        const m = this.state.txns.get(req.transactionalId);
        if (m === undefined) throw new CairnError(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `no transactional id "${req.transactionalId}"; call initTransactions first`);
        const retryOf = m.prevProducerId === req.producerId && m.prevProducerEpoch === req.producerEpoch;
        if (retryOf && m.state !== 'Ongoing') {
          const decided = m.state === 'PrepareCommit' || m.state === 'CompleteCommit' ? true : m.state === 'PrepareAbort' || m.state === 'CompleteAbort' ? false : null;
          if (decided === req.commit) return identity(m);
          if (decided !== null) {
            throw new CairnError(ErrorCode.INVALID_TXN_STATE, `the transaction of "${req.transactionalId}" was already ${decided ? 'committed' : 'aborted'} (timed out, or ended by another call)`);
          }
        }
        const cur = this.current(req.transactionalId, req.producerId, req.producerEpoch);
        switch (cur.state) {
          case 'PrepareCommit':
          case 'PrepareAbort':
            throw new CairnError(ErrorCode.CONCURRENT_TRANSACTIONS, `the previous transaction of "${req.transactionalId}" is being completed; retry`);
          case 'Ongoing': {
            const next = this.nextIdentity(cur, newProducerId);
            const value = this.ending(cur, req.commit, next.producerId, next.producerEpoch, nowMs);
            emit({ transactionalId: cur.transactionalId, value });
            return identity(value);
          }
          default: {
            // Nothing was added: no marker to write, but the epoch still moves on (every end bumps it).
            const next = this.nextIdentity(cur, newProducerId);
            const value: TxnMetadata = {
              ...cur,
              ...next,
              prevProducerId: cur.producerId,
              prevProducerEpoch: cur.producerEpoch,
              state: req.commit ? 'CompleteCommit' : 'CompleteAbort',
              partitions: NO_PARTITIONS,
              txnStartTimestampMs: -1,
              lastUpdateTimestampMs: nowMs,
            };
            emit({ transactionalId: cur.transactionalId, value });
            return identity(value);
          }
        }
      },
      (err) => ({ errorCode: err.code, errorMessage: err.message, producerId: -1, producerEpoch: -1 }),
    );
  }

  /** Every decided transaction whose markers are still to be written. */
  pendingMarkers(): PendingMarkers[] {
    const out: PendingMarkers[] = [];
    for (const m of this.state.txns.values()) {
      if (m.state !== 'PrepareCommit' && m.state !== 'PrepareAbort') continue;
      out.push({ transactionalId: m.transactionalId, ...markerIdentity(m), commit: m.state === 'PrepareCommit', partitions: m.partitions });
    }
    return out;
  }

  /** The markers of `pending` are all written: the transaction completes (if it is still the one decided). */
  markersWritten(pending: PendingMarkers, nowMs: number): CoordinatorResult<boolean, TxnRecord> {
    const records: TxnRecord[] = [];
    const m = this.state.txns.get(pending.transactionalId);
    const expected: TxnState = pending.commit ? 'PrepareCommit' : 'PrepareAbort';
    if (m === undefined || m.state !== expected || markerIdentity(m).producerEpoch !== pending.producerEpoch || m.prevProducerId !== pending.producerId) return { records, response: false };
    const value: TxnMetadata = { ...m, state: pending.commit ? 'CompleteCommit' : 'CompleteAbort', partitions: NO_PARTITIONS, txnStartTimestampMs: -1, lastUpdateTimestampMs: nowMs };
    this.state.replay({ transactionalId: m.transactionalId, value });
    records.push({ transactionalId: m.transactionalId, value });
    return { records, response: true };
  }

  /** Aborts every open transaction past its timeout (bumping the epoch: the producer is fenced from it). `nowMs` is wall time (for records), `monoMs` the monotonic clock the deadlines run on. */
  tick(nowMs: number, monoMs = nowMs): CoordinatorResult<string[], TxnRecord> {
    const records: TxnRecord[] = [];
    const aborted: string[] = [];
    for (const m of [...this.state.txns.values()]) {
      if (m.state !== 'Ongoing') continue;
      const deadline = this.deadlines.get(m.transactionalId) ?? monoMs + m.timeoutMs;
      if (!this.deadlines.has(m.transactionalId)) this.deadlines.set(m.transactionalId, deadline);
      if (deadline > monoMs) continue;
      // An exhausted epoch cannot be bumped here without a new id; the producer's own end or init moves it on.
      if (m.producerEpoch + 1 >= MAX_PRODUCER_EPOCH) continue;
      const value = this.ending(m, false, m.producerId, m.producerEpoch + 1, nowMs);
      this.state.replay({ transactionalId: m.transactionalId, value });
      records.push({ transactionalId: m.transactionalId, value });
      aborted.push(m.transactionalId);
    }
    return { records, response: aborted };
  }

  /**
   * Aborts the open transaction of `transactionalId` on an operator's word (`cairn transactions
   * abort`), fencing its producer as a timeout does.
   */
  forceAbort(transactionalId: string, nowMs: number): CoordinatorResult<SimpleResponse, TxnRecord> {
    return this.run(
      (emit) => {
        const m = this.state.txns.get(transactionalId);
        if (m === undefined) throw new CairnError(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `no transactional id "${transactionalId}"`);
        if (m.state !== 'Ongoing') throw new CairnError(ErrorCode.INVALID_TXN_STATE, `"${transactionalId}" has no open transaction (it is ${m.state})`);
        if (m.producerEpoch + 1 >= MAX_PRODUCER_EPOCH) throw new CairnError(ErrorCode.INVALID_TXN_STATE, `"${transactionalId}" has an exhausted epoch; its producer must end or re-initialize it`);
        emit({ transactionalId, value: this.ending(m, false, m.producerId, m.producerEpoch + 1, nowMs) });
        return ok();
      },
      (err) => errorOf(err),
    );
  }

  describe(transactionalId: string): TxnMetadata | undefined {
    return this.state.txns.get(transactionalId);
  }

  list(): TxnMetadata[] {
    return [...this.state.txns.values()].sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : 1));
  }

  // ---- rules ----

  /** The metadata of an id whose current identity is (producerId, producerEpoch); else the typed refusal. */
  private current(transactionalId: string, producerId: number, producerEpoch: number): TxnMetadata {
    checkId(transactionalId);
    const m = this.state.txns.get(transactionalId);
    if (m === undefined) throw new CairnError(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `no transactional id "${transactionalId}"; call initTransactions first`);
    if (producerId !== m.producerId) {
      if (producerId === m.prevProducerId)
        throw new CairnError(ErrorCode.PRODUCER_FENCED, `producer ${producerId} of "${transactionalId}" moved to id ${m.producerId}; this request is from an ended transaction`);
      throw new CairnError(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `producer ${producerId} is not the producer of "${transactionalId}" (${m.producerId})`);
    }
    if (producerEpoch < m.producerEpoch) {
      throw new CairnError(ErrorCode.PRODUCER_FENCED, `producer ${producerId} epoch ${producerEpoch} of "${transactionalId}" is fenced (the current epoch is ${m.producerEpoch})`);
    }
    if (producerEpoch > m.producerEpoch) throw new CairnError(ErrorCode.INVALID_PRODUCER_EPOCH, `producer ${producerId} epoch ${producerEpoch} is newer than the coordinator's ${m.producerEpoch}`);
    return m;
  }

  /** The identity after an end: the next epoch, or a new id at epoch 0 when the epoch is exhausted. */
  private nextIdentity(m: TxnMetadata, newProducerId: number | null): { producerId: number; producerEpoch: number } {
    if (m.producerEpoch + 1 < MAX_PRODUCER_EPOCH) return { producerId: m.producerId, producerEpoch: m.producerEpoch + 1 };
    return { producerId: required(newProducerId), producerEpoch: 0 };
  }

  /** The decided state of `m`'s transaction, the producer moving to (producerId, producerEpoch); markers carry m's id at m's epoch + 1. */
  private ending(m: TxnMetadata, commit: boolean, producerId: number, producerEpoch: number, nowMs: number): TxnMetadata {
    this.deadlines.delete(m.transactionalId);
    return { ...m, producerId, producerEpoch, prevProducerId: m.producerId, prevProducerEpoch: m.producerEpoch, state: commit ? 'PrepareCommit' : 'PrepareAbort', lastUpdateTimestampMs: nowMs };
  }

  /** Runs a handler; a refusal thrown before any record becomes its error answer (with `keepRecords`, also after records). */
  private run<T>(handler: (emit: (r: TxnRecord) => void) => T, refused: (err: CairnError) => T, keepRecords = false): CoordinatorResult<T, TxnRecord> {
    const records: TxnRecord[] = [];
    const emit = (r: TxnRecord) => {
      this.state.replay(r);
      records.push(r);
    };
    try {
      return { records, response: handler(emit) };
    } catch (err) {
      if (!(err instanceof CairnError) || (records.length > 0 && !keepRecords)) throw err;
      return { records, response: refused(err) };
    }
  }
}

function idle(transactionalId: string, producerId: number, producerEpoch: number, timeoutMs: number, nowMs: number): TxnMetadata {
  return {
    transactionalId,
    producerId,
    producerEpoch,
    prevProducerId: -1,
    prevProducerEpoch: -1,
    timeoutMs,
    state: 'Empty',
    partitions: NO_PARTITIONS,
    txnStartTimestampMs: -1,
    lastUpdateTimestampMs: nowMs,
  };
}

function identity(m: TxnMetadata): TxnIdentityResponse {
  return { errorCode: ErrorCode.NONE, errorMessage: '', producerId: m.producerId, producerEpoch: m.producerEpoch };
}

const ok = (): SimpleResponse => ({ errorCode: ErrorCode.NONE, errorMessage: '' });
const errorOf = (err: CairnError): SimpleResponse => ({ errorCode: err.code, errorMessage: err.message });

/** Bound on a transactional id's length, as on group ids. */
const MAX_TRANSACTIONAL_ID_LENGTH = 255;

function checkId(transactionalId: string): void {
  if (typeof transactionalId !== 'string' || transactionalId.length === 0 || transactionalId.length > MAX_TRANSACTIONAL_ID_LENGTH) {
    throw new CairnError(ErrorCode.INVALID_REQUEST, `transactional id must be 1..${MAX_TRANSACTIONAL_ID_LENGTH} characters`);
  }
}

function required(newProducerId: number | null): number {
  // The shell asks needsProducerId* first; a race with another request for the same id lands here: retriable.
  if (newProducerId === null) throw new CairnError(ErrorCode.CONCURRENT_TRANSACTIONS, 'a new producer id is needed; retry');
  return newProducerId;
}
