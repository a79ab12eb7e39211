import { describe, expect, it } from 'vitest';
import { TransactionStateMachine } from '../../../src/client/transaction-state';
import { CairnError, ErrorCode } from '../../../src/common/errors';

/** The error `fn` throws (fails the test if it throws none). */
function thrown(fn: () => void): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected a throw');
}

/** A machine with a transaction open. */
function inTransaction(): TransactionStateMachine {
  const m = new TransactionStateMachine('tx-1');
  m.checkInit();
  m.initialized();
  m.begin();
  return m;
}

describe('TransactionStateMachine', () => {
  it('runs init, begin, commit and the next transaction', () => {
    const m = new TransactionStateMachine('tx-1');
    expect(m.state).toBe('uninitialized');
    m.checkInit();
    m.initialized();
    expect(m.state).toBe('ready');
    expect(thrown(() => m.checkInit()).code).toBe(ErrorCode.INVALID_TXN_STATE);
    m.begin();
    expect(m.state).toBe('inTransaction');
    expect(m.generation).toBe(1);
    m.checkOpen('send');
    m.startCommit();
    expect(m.state).toBe('committing');
    m.checkCommittable();
    m.ended();
    expect(m.state).toBe('ready');
    m.begin();
    expect(m.generation).toBe(2);
  });

  it('refuses calls out of order with INVALID_TXN_STATE and says what to call', () => {
    const m = new TransactionStateMachine('tx-1');
    const before = thrown(() => m.begin());
    expect(before.code).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(before.message).toContain('initTransactions()');
    m.initialized();
    const send = thrown(() => m.checkOpen('send'));
    expect(send.code).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(send.message).toContain('beginTransaction()');
    expect(thrown(() => m.startCommit()).code).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(thrown(() => m.startAbort()).code).toBe(ErrorCode.INVALID_TXN_STATE);
    m.begin();
    expect(thrown(() => m.begin()).message).toContain('already open');
  });

  it('a failed write makes the transaction abortable: only an abort goes on, and it clears the failure', () => {
    const m = inTransaction();
    m.failed(new CairnError(ErrorCode.NOT_ENOUGH_REPLICAS, 'two replicas are down'));
    expect(m.state).toBe('abortable');
    const send = thrown(() => m.checkOpen('send'));
    expect(send.code).toBe(ErrorCode.TRANSACTION_ABORTABLE);
    expect(send.message).toContain('two replicas are down');
    expect(thrown(() => m.startCommit()).code).toBe(ErrorCode.TRANSACTION_ABORTABLE);
    // A second failure does not replace the first one's reason.
    m.failed(new CairnError(ErrorCode.REQUEST_TIMED_OUT, 'later'));
    expect(thrown(() => m.checkOpen('send')).message).toContain('two replicas are down');
    m.startAbort();
    expect(m.aborting).toBe(true);
    // What fails while aborting is the abort's own doing: it does not survive into the next transaction.
    m.failed(new CairnError(ErrorCode.TRANSACTION_ABORTABLE, 'the transaction was aborted'));
    m.ended();
    m.begin();
    m.startCommit();
    m.checkCommittable();
  });

  it('a write that fails while committing stops the commit after its flush', () => {
    const m = inTransaction();
    m.startCommit();
    m.failed(new CairnError(ErrorCode.REQUEST_TIMED_OUT, 'no answer'));
    expect(m.state).toBe('committing');
    const err = thrown(() => m.checkCommittable());
    expect(err.code).toBe(ErrorCode.TRANSACTION_ABORTABLE);
    expect(err.message).toContain('no answer');
    expect(m.state).toBe('abortable');
    m.startAbort();
    m.ended();
    expect(m.state).toBe('ready');
  });

  it('a coordinator call that fails retriably leaves the state, so the commit may be called again', () => {
    const m = inTransaction();
    m.startCommit();
    m.callFailed(new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'loading'));
    expect(m.state).toBe('committing');
    m.startCommit();
    m.checkCommittable();
    m.ended();
    expect(m.state).toBe('ready');
  });

  for (const [how, code] of [
    ['a coordinator call', ErrorCode.PRODUCER_FENCED],
    ['a coordinator call', ErrorCode.INVALID_PRODUCER_ID_MAPPING],
    ['a write', ErrorCode.INVALID_PRODUCER_EPOCH],
    ['a write', ErrorCode.TRANSACTIONAL_ID_NOT_FOUND],
  ] as const) {
    it(`${how} answered ${ErrorCode[code]} fences the producer for good`, () => {
      const m = inTransaction();
      const err = new CairnError(code, 'a newer producer took the id');
      if (how === 'a write') m.failed(err);
      else m.callFailed(err);
      expect(m.state).toBe('fenced');
      for (const call of [() => m.checkOpen('send'), () => m.begin(), () => m.startCommit(), () => m.startAbort()]) {
        const refused = thrown(call);
        expect(refused.code).toBe(ErrorCode.PRODUCER_FENCED);
        expect(refused.message).toContain('"tx-1"');
      }
      // Nothing brings it back: a later non-fatal failure leaves it fenced.
      m.failed(new CairnError(ErrorCode.REQUEST_TIMED_OUT, 'late'));
      expect(m.state).toBe('fenced');
      expect(m.placeable(m.generation)?.code).toBe(ErrorCode.TRANSACTION_ABORTABLE);
    });
  }

  it('a send that waited is placed only into the transaction it was sent in', () => {
    const m = inTransaction();
    const first = m.generation;
    expect(m.placeable(first)).toBeNull();
    m.startCommit();
    expect(m.placeable(first)).toBeNull(); // the commit's flush waits for it
    m.checkCommittable();
    m.ended();
    expect(m.placeable(first)?.code).toBe(ErrorCode.TRANSACTION_ABORTABLE);
    m.begin();
    // The next transaction is open, but the send belongs to the one that ended.
    expect(m.placeable(first)?.message).toContain('has ended');
    expect(m.placeable(m.generation)).toBeNull();
    m.startAbort();
    expect(m.placeable(m.generation)?.code).toBe(ErrorCode.TRANSACTION_ABORTABLE);
  });
});
