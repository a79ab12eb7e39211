import { CairnError, ErrorCode } from '../common';
import { isFatalTxnError, type TransactionState } from './transactions';

const HINTS: Partial<Record<TransactionState, string>> = {
  uninitialized: 'call initTransactions() first',
  ready: 'call beginTransaction() first',
  inTransaction: 'a transaction is already open',
  committing: 'the transaction is committing',
  aborting: 'the transaction is aborting',
};

/**
 * A transactional producer's state machine (Kafka's TransactionManager, the states of
 * `TransactionState`), pure: the Producer calls it before and after each step and on every lost
 * write, and it says which calls are allowed and with which error a refused one fails. No I/O:
 * the coordinator calls are TransactionCoordinatorClient's, the sends the Producer's.
 *
 *   uninitialized --initialized--> ready --begin--> inTransaction --startCommit--> committing --ended--> ready
 *                                                        |   \--failed--> abortable        |
 *                                                        \----------startAbort------------> aborting --ended--> ready
 *   any state --fence (a fatal coordinator answer, or a write refused as fenced)--> fenced, for good
 */
export class TransactionStateMachine {
  private current: TransactionState = 'uninitialized';
  /** Why the open transaction must abort, or why the producer is fenced. */
  private error: CairnError | null = null;
  /** Counts transactions begun: a send that waited (for metadata or room) checks it still belongs to the open one. */
  private begun = 0;

  constructor(readonly transactionalId: string) {}

  get state(): TransactionState {
    return this.current;
  }

  /** The transaction begun last (see `placeable`). */
  get generation(): number {
    return this.begun;
  }

  /** Before initTransactions(): it may run once. */
  checkInit(): void {
    if (this.current !== 'uninitialized') throw new CairnError(ErrorCode.INVALID_TXN_STATE, `initTransactions() was already called (the producer is ${this.current})`);
  }

  /** initTransactions() got the producer's id and epoch. */
  initialized(): void {
    this.current = 'ready';
  }

  begin(): void {
    if (this.current !== 'ready') throw this.refusal('beginTransaction');
    this.begun++;
    this.current = 'inTransaction';
  }

  /** send() and sendOffsetsToTransaction() need an open transaction: null if one is, else the error the call fails with. */
  notOpen(what: string): CairnError | null {
    return this.current === 'inTransaction' ? null : this.refusal(what);
  }

  /** notOpen, thrown. */
  checkOpen(what: string): void {
    const refused = this.notOpen(what);
    if (refused !== null) throw refused;
  }

  /**
   * A send made in transaction `generation` that waited (for metadata or room) is about to be
   * placed: null if that transaction is still open (or committing, whose flush waits for it),
   * else the error it fails with. Placed after its transaction ended, it would open one nobody ends.
   */
  placeable(generation: number): CairnError | null {
    if (generation === this.begun && (this.current === 'inTransaction' || this.current === 'committing')) return null;
    return new CairnError(ErrorCode.TRANSACTION_ABORTABLE, `the transaction this record was sent in has ended (the producer is ${this.current})`);
  }

  /** commitTransaction() starts (or is called again after a failed attempt). */
  startCommit(): void {
    if (this.current !== 'inTransaction' && this.current !== 'committing') throw this.refusal('commitTransaction');
    this.current = 'committing';
  }

  /** After the commit's flush: throws TRANSACTION_ABORTABLE (the transaction must abort) if a write of it failed. */
  checkCommittable(): void {
    if (this.error === null) return;
    if (this.current !== 'fenced') this.current = 'abortable';
    throw new CairnError(ErrorCode.TRANSACTION_ABORTABLE, `the transaction cannot commit: ${this.error.message}`);
  }

  /** abortTransaction() starts (or is called again after a failed attempt). */
  startAbort(): void {
    if (this.current !== 'inTransaction' && this.current !== 'abortable' && this.current !== 'aborting' && this.current !== 'committing') throw this.refusal('abortTransaction');
    this.current = 'aborting';
  }

  get aborting(): boolean {
    return this.current === 'aborting';
  }

  /** The coordinator ended the transaction (committed or aborted): the next one may begin. */
  ended(): void {
    this.error = null;
    this.current = 'ready';
  }

  /** A write or offset commit of the transaction failed: only an abort can follow (or, for a fatal code, the producer is fenced for good). */
  failed(err: CairnError): void {
    if (isFatalTxnError(err.code)) {
      this.fence(err);
      return;
    }
    if (this.current === 'fenced') return;
    // Kept while aborting too (the abort fails what was queued): ended() forgets it.
    this.error ??= err;
    if (this.current === 'inTransaction') this.current = 'abortable';
  }

  /** A call at a coordinator failed: a fatal code fences the producer; any other leaves the state (the call may be repeated). */
  callFailed(err: CairnError): void {
    if (isFatalTxnError(err.code)) this.fence(err);
  }

  /** The error a call refused in this state fails with. */
  refusal(what: string): CairnError {
    if (this.current === 'fenced' && this.error) return this.error;
    if (this.current === 'abortable' && this.error) return new CairnError(ErrorCode.TRANSACTION_ABORTABLE, `${what}(): the transaction must be aborted first (${this.error.message})`);
    return new CairnError(ErrorCode.INVALID_TXN_STATE, `${what}() while the producer is ${this.current}: ${HINTS[this.current] ?? ''}`);
  }

  private fence(err: CairnError): void {
    this.current = 'fenced';
    this.error = new CairnError(ErrorCode.PRODUCER_FENCED, `transactional id "${this.transactionalId}" is fenced: ${err.message}`);
  }
}
