import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { batchIsControl, decodeAllRecords, encodeBatch, forEachBatch } from '../../../src/record/batch';
import { encodeTxnMarker, readTxnMarker } from '../../../src/record/control';
import { crc32c } from '../../../src/record/crc32c';
import { validateBatches } from '../../../src/record/validate';
import { ProducerStateTable } from '../../../src/storage/producer-state';
import { codeOf } from '../../helpers/errors';
import { nodeFileSystem } from '../../../src/storage/file-system';
import { openTestLog } from '../../helpers/partition-log';
import { tmpDir } from '../../helpers/tmp';

const commit = (producerId: number, producerEpoch: number, coordinatorEpoch = 0) => ({ producerId, producerEpoch, coordinatorEpoch, commit: true });
const abort = (producerId: number, producerEpoch: number, coordinatorEpoch = 0) => ({ producerId, producerEpoch, coordinatorEpoch, commit: false });

describe('transaction markers (control batches)', () => {
  it('round-trip, and anything else is not a marker', () => {
    const buf = encodeTxnMarker({ producerId: 9, producerEpoch: 3, coordinatorEpoch: 7, commit: false }, 1000);
    expect(batchIsControl(buf)).toBe(true);
    expect(readTxnMarker(buf)).toEqual({ producerId: 9, producerEpoch: 3, coordinatorEpoch: 7, commit: false });
    expect(readTxnMarker(encodeTxnMarker(commit(9, 4, 1), 0))?.commit).toBe(true);
    expect(readTxnMarker(encodeBatch([{ value: Buffer.from('x') }]))).toBeNull();
    // A control batch with an unknown type is not taken for a marker.
    const odd = Buffer.alloc(4);
    odd.writeInt16BE(0, 0);
    odd.writeInt16BE(5, 2);
    expect(readTxnMarker(encodeBatch([{ key: odd, value: null }], { control: true, producerId: 1, producerEpoch: 0 }))).toBeNull();
  });
});

describe('ProducerStateTable transactions', () => {
  it('a transactional batch opens a transaction only with a standing verification', () => {
    const t = new ProducerStateTable();
    expect(codeOf(() => t.checkTransactional(1, 0, true, null))).toBe(ErrorCode.INVALID_TXN_STATE);
    const guard = t.startVerification(1, 0);
    expect(() => t.checkTransactional(1, 0, true, guard)).not.toThrow();
    // The guard is for its epoch only.
    expect(codeOf(() => t.checkTransactional(1, 1, true, guard))).toBe(ErrorCode.INVALID_TXN_STATE);
    t.update(1, 0, 0, 2, 10, 12, 0, true);
    // Open now: later batches of the epoch need no verification.
    expect(t.needsVerification(1, 0)).toBe(false);
    expect(() => t.checkTransactional(1, 0, true, null)).not.toThrow();
    // A plain batch may not join it.
    expect(codeOf(() => t.checkTransactional(1, 0, false, null))).toBe(ErrorCode.INVALID_TXN_STATE);
  });

  it('a marker between the verification and the write voids the guard (a late write of an ended transaction)', () => {
    const t = new ProducerStateTable();
    const guard = t.startVerification(1, 0);
    t.completeTxn(abort(1, 1), 5, 0);
    expect(codeOf(() => t.checkTransactional(1, 0, true, guard))).toBe(ErrorCode.INVALID_TXN_STATE);
    // And the old epoch is fenced outright by the bump the marker carried (KIP-890).
    expect(codeOf(() => t.check(1, 0, 0, 0))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it('the last stable offset stays at the oldest open transaction until its marker is below the high watermark', () => {
    const t = new ProducerStateTable();
    t.startVerification(1, 0);
    t.update(1, 0, 0, 4, 10, 14, 0, true);
    t.startVerification(2, 0);
    t.update(2, 0, 0, 4, 15, 19, 0, true);
    expect(t.lastStableOffset(20)).toBe(10);
    expect(t.lastStableOffset(8)).toBe(8);
    t.completeTxn(commit(1, 1), 20, 0);
    // Producer 1's marker (20) is not below the high watermark yet.
    expect(t.lastStableOffset(20)).toBe(10);
    expect(t.lastStableOffset(21)).toBe(15);
    t.completeTxn(abort(2, 1), 21, 0);
    expect(t.lastStableOffset(21)).toBe(15);
    expect(t.lastStableOffset(22)).toBe(22);
    expect(t.openTransactions()).toEqual([]);
  });

  it('keeps aborted transactions and finds those a read needs', () => {
    const t = new ProducerStateTable();
    // Producer 1: [0..4], aborted at 10 while producer 2 (from 5) was open: its last stable offset is 5.
    t.update(1, 0, 0, 4, 0, 4, 0, true);
    t.update(2, 0, 0, 4, 5, 9, 0, true);
    t.completeTxn(abort(1, 1), 10, 0);
    t.completeTxn(commit(2, 1), 11, 0);
    t.update(3, 0, 0, 4, 12, 16, 0, true);
    t.completeTxn(abort(3, 1), 17, 0);
    expect(t.abortedTransactions()).toEqual([
      { producerId: 1, firstOffset: 0, lastOffset: 10, lastStableOffset: 5 },
      { producerId: 3, firstOffset: 12, lastOffset: 17, lastStableOffset: 18 },
    ]);
    expect(t.abortedIn(0, 18)).toEqual([
      { producerId: 1, firstOffset: 0 },
      { producerId: 3, firstOffset: 12 },
    ]);
    // A read that ends before producer 3 began needs only producer 1; one past producer 1's marker needs only 3.
    expect(t.abortedIn(0, 12)).toEqual([{ producerId: 1, firstOffset: 0 }]);
    expect(t.abortedIn(11, 18)).toEqual([{ producerId: 3, firstOffset: 12 }]);
    t.removeAbortedBelow(11);
    expect(t.abortedIn(0, 18)).toEqual([{ producerId: 3, firstOffset: 12 }]);
  });

  it('refuses a marker of an older producer epoch or an older coordinator', () => {
    const t = new ProducerStateTable();
    t.update(1, 3, 0, 0, 0, 0, 0, true);
    t.completeTxn(commit(1, 4, 2), 1, 0);
    expect(codeOf(() => t.checkMarker(commit(1, 3, 2)))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect(codeOf(() => t.checkMarker(commit(1, 4, 1)))).toBe(ErrorCode.TRANSACTION_COORDINATOR_FENCED);
    expect(() => t.checkMarker(abort(1, 5, 2))).not.toThrow();
  });

  it('never expires nor evicts a producer with an open transaction', () => {
    const t = new ProducerStateTable({ maxProducers: 2 });
    t.update(1, 0, 0, 0, 0, 0, 0, true);
    t.update(2, 0, 0, 0, 1, 1, 0);
    t.update(3, 0, 0, 0, 2, 2, 0);
    expect(t.get(1)?.currentTxnFirstOffset).toBe(0);
    expect(t.get(2)).toBeUndefined();
    expect(t.removeExpired(10_000, 1)).toBe(1);
    expect(t.get(1)).toBeDefined();
    expect(t.lastStableOffset(10)).toBe(0);
  });

  it('a snapshot keeps open and aborted transactions, and version 1 snapshots still load', () => {
    const t = new ProducerStateTable();
    t.update(1, 0, 0, 4, 0, 4, 0, true);
    t.completeTxn(abort(1, 1, 3), 5, 0);
    t.update(2, 0, 0, 1, 6, 7, 0, true);
    const decoded = ProducerStateTable.decodeSnapshot(t.encodeSnapshot());
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(decoded.table.openTransactions()).toEqual([{ producerId: 2, firstOffset: 6, startTimestampMs: 0 }]);
    expect(decoded.table.abortedTransactions()).toEqual(t.abortedTransactions());
    expect(decoded.table.get(1)).toEqual(t.get(1));
    expect(decoded.table.lastStableOffset(100)).toBe(6);
    // A version 1 snapshot: one producer 5, epoch 2, no batches.
    const v1 = Buffer.alloc(6 + 4 + 19);
    v1.writeInt16BE(1, 0);
    v1.writeInt32BE(1, 6);
    v1.writeBigInt64BE(5n, 10);
    v1.writeInt16BE(2, 18);
    v1.writeUInt32BE(crc32c(v1.subarray(6)), 2);
    const old = ProducerStateTable.decodeSnapshot(v1);
    if (!old.ok) throw new Error(old.reason);
    expect(old.table.get(5)).toMatchObject({ producerEpoch: 2, currentTxnFirstOffset: -1, coordinatorEpoch: -1 });
  });
});

function txnBatch(pid: number, epoch: number, seq: number, values: string[], transactional = true) {
  const buf = encodeBatch(
    values.map((v) => ({ value: Buffer.from(v) })),
    { producerId: pid, producerEpoch: epoch, baseSequence: seq, transactional },
  );
  const v = validateBatches(buf, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  return { buf, batches: v.batches };
}

describe('PartitionLog transactions', () => {
  it('writes markers, tracks the last stable offset and rebuilds both after reopening', async () => {
    const dir = tmpDir('txn-log');
    const log = openTestLog(dir);
    const a = txnBatch(1, 0, 0, ['a1', 'a2']);
    expect(codeOf(() => log.appendAsLeader(a.buf, a.batches, 0, 0))).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(log.logEndOffset).toBe(0);
    log.appendAsLeader(a.buf, a.batches, 0, 0, { guard: log.startTxnVerification(1, 0) });
    const b = txnBatch(2, 0, 0, ['b1']);
    log.appendAsLeader(b.buf, b.batches, 0, 0, { guard: log.startTxnVerification(2, 0) });
    const a2 = txnBatch(1, 0, 2, ['a3']);
    log.appendAsLeader(a2.buf, a2.batches, 0, 0);
    log.appendMarkerAsLeader(abort(1, 1), 0, 0);
    log.updateHighWatermark(log.logEndOffset);
    expect(log.lastStableOffset).toBe(2);
    expect(log.abortedTransactions(0, 2)).toEqual([{ producerId: 1, firstOffset: 0 }]);
    // A late write of producer 1's old epoch is refused: the abort marker bumped it.
    const late = txnBatch(1, 0, 3, ['late']);
    expect(codeOf(() => log.appendAsLeader(late.buf, late.batches, 0, 0, { guard: log.startTxnVerification(1, 0) }))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    log.appendMarkerAsLeader(commit(2, 1), 0, 0);
    log.updateHighWatermark(log.logEndOffset);
    expect(log.lastStableOffset).toBe(log.logEndOffset);
    const markers: boolean[] = [];
    const data = log.read(0, 1 << 20, log.logEndOffset, true);
    forEachBatch(data, (pos) => {
      const m = readTxnMarker(data, pos);
      if (m) markers.push(m.commit);
    });
    expect(markers).toEqual([false, true]);
    expect(decodeAllRecords(data).map((r) => r.value!.toString())).toEqual(['a1', 'a2', 'b1', 'a3']);
    await log.close();
    // Reopened from the snapshot written at close; and from the log alone.
    const again = openTestLog(dir);
    expect(again.abortedTransactions(0, 10)).toEqual([{ producerId: 1, firstOffset: 0 }]);
    expect(again.openTransactions()).toEqual([]);
    await again.close();
    for (const f of nodeFileSystem.readdir(dir)) if (f.endsWith('.snapshot')) nodeFileSystem.rm(`${dir}/${f}`);
    const replayed = openTestLog(dir);
    expect(replayed.abortedTransactions(0, 10)).toEqual([{ producerId: 1, firstOffset: 0 }]);
    expect(replayed.producerState(1)?.producerEpoch).toBe(1);
    await replayed.close();
  });

  it('an open transaction holds the last stable offset across a reopen, and a follower builds the same state', async () => {
    const dir = tmpDir('txn-open');
    const log = openTestLog(dir);
    const plain = encodeBatch([{ value: Buffer.from('p') }]);
    const pv = validateBatches(plain, { maxBatchBytes: 1 << 20 });
    if (!pv.ok) throw new Error(pv.message);
    log.appendAsLeader(plain, pv.batches, 0, 0);
    const a = txnBatch(1, 0, 0, ['a1']);
    log.appendAsLeader(a.buf, a.batches, 0, 0, { guard: log.startTxnVerification(1, 0) });
    log.appendMarkerAsLeader(abort(7, 0), 0, 0); // a marker for a producer with nothing open: written, no effect on the LSO
    log.updateHighWatermark(log.logEndOffset);
    expect(log.lastStableOffset).toBe(1);
    const follower = openTestLog(tmpDir('txn-follower'));
    follower.appendAsFollower(log.read(0, 1 << 20, log.logEndOffset, true), 0);
    follower.updateHighWatermark(follower.logEndOffset);
    expect(follower.lastStableOffset).toBe(1);
    expect(follower.openTransactions()).toEqual([{ producerId: 1, firstOffset: 1, startTimestampMs: 0 }]);
    await log.close();
    const again = openTestLog(dir);
    again.resetHighWatermark(again.logEndOffset);
    expect(again.lastStableOffset).toBe(1);
    await again.close();
    await follower.close();
  });
});
