import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { MAX_PRODUCER_EPOCH, TransactionCoordinator } from '../../../src/coordinator/transaction-coordinator';
import { decodeTxnRecord, encodeTxnRecord } from '../../../src/coordinator/txn-record-codec';
import type { TxnRecord } from '../../../src/coordinator/txn-state';

const TID = 'copy-job';
const TIMEOUT = 60_000;

/** A coordinator with `TID` initialized as producer 100, epoch 0; every record it made goes to `log`. */
function setup() {
  const c = new TransactionCoordinator({ maxTimeoutMs: 900_000 });
  const log: TxnRecord[] = [];
  const keep = <T>(r: { records: TxnRecord[]; response: T }): T => {
    log.push(...r.records);
    return r.response;
  };
  const init = keep(c.initProducerId({ transactionalId: TID, transactionTimeoutMs: TIMEOUT }, 0, 100));
  expect(init).toMatchObject({ errorCode: ErrorCode.NONE, producerId: 100, producerEpoch: 0 });
  return { c, log, keep };
}

const add = (producerEpoch: number, partitions: Record<string, number[]>, producerId = 100, verifyOnly = false) => ({ transactionalId: TID, producerId, producerEpoch, partitions, verifyOnly });
const end = (producerEpoch: number, commit: boolean, producerId = 100) => ({ transactionalId: TID, producerId, producerEpoch, commit });

describe('TransactionCoordinator', () => {
  it('runs a transaction: add partitions, end with a bumped epoch, markers, complete', () => {
    const { c, keep } = setup();
    expect(keep(c.addPartitions(add(0, { out: [0, 1] }), 10)).errorCode).toBe(ErrorCode.NONE);
    expect(keep(c.addPartitions(add(0, { out: [1, 2] }), 11)).errorCode).toBe(ErrorCode.NONE);
    expect(c.describe(TID)).toMatchObject({ state: 'Ongoing', partitions: { out: [0, 1, 2] }, txnStartTimestampMs: 10 });
    // Adding what is already in writes nothing.
    expect(c.addPartitions(add(0, { out: [2] }), 12).records).toEqual([]);
    const ended = keep(c.endTxn(end(0, true), 20, null));
    expect(ended).toMatchObject({ errorCode: ErrorCode.NONE, producerId: 100, producerEpoch: 1 });
    expect(c.pendingMarkers()).toEqual([{ transactionalId: TID, producerId: 100, producerEpoch: 1, commit: true, partitions: { out: [0, 1, 2] } }]);
    // The next transaction waits for the markers.
    expect(c.addPartitions(add(1, { out: [0] }), 21).response.errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(keep(c.markersWritten(c.pendingMarkers()[0]!, 30))).toBe(true);
    expect(c.describe(TID)).toMatchObject({ state: 'CompleteCommit', producerEpoch: 1 });
    expect(c.pendingMarkers()).toEqual([]);
    expect(keep(c.addPartitions(add(1, { out: [0] }), 31)).errorCode).toBe(ErrorCode.NONE);
  });

  it('refuses a late request of an ended transaction (KIP-890: the epoch moved on)', () => {
    const { c, keep } = setup();
    keep(c.addPartitions(add(0, { out: [0] }), 10));
    keep(c.endTxn(end(0, false), 20, null));
    keep(c.markersWritten(c.pendingMarkers()[0]!, 21));
    // A write of the ended transaction reaching a new partition late: the leader's add is refused.
    expect(c.addPartitions(add(0, { out: [1] }), 30).response.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    expect(c.describe(TID)?.state).toBe('CompleteAbort');
  });

  it('answers a retried commit as committed, never as aborted', () => {
    const { c, keep } = setup();
    keep(c.addPartitions(add(0, { out: [0] }), 10));
    const first = keep(c.endTxn(end(0, true), 20, null));
    // Retried while the markers are being written, and after.
    expect(c.endTxn(end(0, true), 21, null).response).toEqual(first);
    keep(c.markersWritten(c.pendingMarkers()[0]!, 22));
    expect(c.endTxn(end(0, true), 23, null)).toEqual({ records: [], response: first });
    // The other outcome is refused, not silently accepted.
    expect(c.endTxn(end(0, false), 24, null).response.errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
  });

  it('aborts a transaction past its timeout, fencing its producer', () => {
    const { c, keep } = setup();
    keep(c.addPartitions(add(0, { out: [0] }), 1_000));
    expect(c.tick(1_000 + TIMEOUT - 1).records).toEqual([]);
    expect(keep(c.tick(1_000 + TIMEOUT))).toEqual([TID]);
    expect(c.describe(TID)).toMatchObject({ state: 'PrepareAbort', producerEpoch: 1 });
    expect(c.pendingMarkers()[0]).toMatchObject({ producerEpoch: 1, commit: false });
    // The producer's commit is refused: its transaction was aborted.
    expect(c.endTxn(end(0, true), 1_000 + TIMEOUT + 1, null).response.errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(c.addPartitions(add(0, { out: [1] }), 1_000 + TIMEOUT + 1).response.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });

  it('times out on the monotonic clock: a wall clock jumping back does not keep a transaction open; a loaded coordinator gives it a full timeout', () => {
    const { c, log, keep } = setup();
    keep(c.addPartitions(add(0, { out: [0] }), 1_000, 50));
    // The wall clock went back an hour; the monotonic one went on past the timeout.
    expect(keep(c.tick(1_000 - 3_600_000, 50 + TIMEOUT))).toEqual([TID]);
    // A coordinator that loads an open transaction from the log counts its timeout from the load.
    const loaded = new TransactionCoordinator();
    for (const r of log.slice(0, 2)) loaded.replay(r);
    expect(loaded.describe(TID)?.state).toBe('Ongoing');
    loaded.onLoaded(10_000);
    expect(loaded.tick(0, 10_000 + TIMEOUT - 1).response).toEqual([]);
    expect(loaded.tick(0, 10_000 + TIMEOUT).response).toEqual([TID]);
  });

  it('a new producer instance fences the old one and aborts what it left open', () => {
    const { c, keep } = setup();
    keep(c.addPartitions(add(0, { out: [0] }), 10));
    const again = c.initProducerId({ transactionalId: TID, transactionTimeoutMs: TIMEOUT }, 20, null);
    expect(again.response.errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(again.records).toHaveLength(1);
    expect(c.describe(TID)).toMatchObject({ state: 'PrepareAbort' });
    expect(c.initProducerId({ transactionalId: TID, transactionTimeoutMs: TIMEOUT }, 21, null).response.errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    keep(c.markersWritten(c.pendingMarkers()[0]!, 22));
    expect(keep(c.initProducerId({ transactionalId: TID, transactionTimeoutMs: TIMEOUT }, 23, null))).toMatchObject({ producerId: 100, producerEpoch: 2 });
    // The zombie (epoch 0) can neither add nor commit.
    expect(c.addPartitions(add(0, { out: [0] }), 24).response.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    expect(c.endTxn(end(0, true), 24, null).response.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });

  it('moves to a new producer id when the epoch is exhausted; the markers still fence the old id', () => {
    const c = new TransactionCoordinator();
    c.replay({
      transactionalId: TID,
      value: {
        transactionalId: TID,
        producerId: 100,
        producerEpoch: MAX_PRODUCER_EPOCH - 1,
        prevProducerId: 100,
        prevProducerEpoch: MAX_PRODUCER_EPOCH - 2,
        timeoutMs: TIMEOUT,
        state: 'CompleteCommit',
        partitions: {},
        txnStartTimestampMs: -1,
        lastUpdateTimestampMs: 0,
      },
    });
    c.addPartitions(add(MAX_PRODUCER_EPOCH - 1, { out: [0] }), 1);
    expect(c.needsProducerIdForEnd(TID)).toBe(true);
    expect(c.endTxn(end(MAX_PRODUCER_EPOCH - 1, true), 2, null).response.errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(c.endTxn(end(MAX_PRODUCER_EPOCH - 1, true), 2, 200).response).toMatchObject({ producerId: 200, producerEpoch: 0 });
    expect(c.pendingMarkers()[0]).toMatchObject({ producerId: 100, producerEpoch: MAX_PRODUCER_EPOCH });
    // A retry from the old identity is still recognised.
    expect(c.endTxn(end(MAX_PRODUCER_EPOCH - 1, true), 3, null).response).toMatchObject({ producerId: 200, producerEpoch: 0 });
    expect(c.addPartitions(add(MAX_PRODUCER_EPOCH - 1, { out: [0] }), 4).response.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });

  it('refuses bad input with typed errors and writes nothing', () => {
    const { c } = setup();
    expect(c.initProducerId({ transactionalId: TID, transactionTimeoutMs: 0 }, 1, null).response.errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    expect(c.initProducerId({ transactionalId: TID, transactionTimeoutMs: 900_001 }, 1, null).response.errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    expect(c.initProducerId({ transactionalId: '', transactionTimeoutMs: TIMEOUT }, 1, null).response.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect(c.addPartitions(add(0, { out: [0] }, 999), 1).response.errorCode).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(c.addPartitions({ ...add(0, { out: [0] }), transactionalId: 'nope' }, 1).response.errorCode).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(c.addPartitions(add(5, { out: [0] }), 1).response.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect(c.describe(TID)?.state).toBe('Empty');
  });

  it('verifies without adding (for clients that add partitions themselves)', () => {
    const { c, keep } = setup();
    expect(c.addPartitions(add(0, { out: [0] }, 100, true), 1).response.errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    keep(c.addPartitions(add(0, { out: [0] }), 2));
    expect(c.addPartitions(add(0, { out: [0] }, 100, true), 3)).toEqual({ records: [], response: { errorCode: ErrorCode.NONE, errorMessage: '' } });
  });

  it('a coordinator that replays the records has the same state, and the records survive encoding', () => {
    const { c, log, keep } = setup();
    keep(c.addPartitions(add(0, { out: [0], __consumer_offsets: [3] }), 10));
    keep(c.endTxn(end(0, true), 20, null));
    const replayed = new TransactionCoordinator();
    for (const r of log) {
      const { key, value } = encodeTxnRecord(r);
      replayed.replay(decodeTxnRecord(key, value));
    }
    expect(replayed.list()).toEqual(c.list());
    expect(replayed.pendingMarkers()).toEqual(c.pendingMarkers());
    expect(() => decodeTxnRecord(Buffer.from('[1,"txn","x"]'), Buffer.from('{"v":1,"state":"Weird"}'))).toThrow(/not a transaction state/);
    expect(decodeTxnRecord(Buffer.from('[1,"txn","x"]'), null)).toEqual({ transactionalId: 'x', value: null });
  });
});
