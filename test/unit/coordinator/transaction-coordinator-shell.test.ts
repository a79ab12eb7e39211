import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock';
import { ErrorCode, TRANSACTION_STATE_TOPIC } from '../../../src/common';
import { silentLogger } from '../../../src/common/io/logger';
import { decodeTxnRecord } from '../../../src/coordinator/txn-record-codec';
import { COMPLETE_RECORD_LINGER_MS, TransactionCoordinatorShell } from '../../../src/coordinator/io/transaction-coordinator-shell';
import type { WriteTxnMarkersRequest } from '../../../src/protocol/messages';
import { batchSize, decodeRecords } from '../../../src/record';
import { oneBroker } from '../../helpers/one-broker';
import { waitFor } from '../../helpers/tmp';
import { withBrokers, withPartition } from '../controller/helpers';
import { ManualTimers } from '../controller/in-process';

const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

/** One broker leading `__transaction_state`-0 and t-0 (RF=1): the shipped coordinator shell on a real log, manual time, markers answered at once. */
async function coordinator() {
  const clock = new ManualClock(1_000);
  const timers = new ManualTimers(clock);
  const image = withPartition(withPartition(withBrokers(1), TRANSACTION_STATE_TOPIC, [1], [1], 1, { 'cleanup.policy': 'compact' }), 't', [1], [1], 1);
  const { logs, replicas } = oneBroker(image, clock, timers, 'cairn-txn-shell-');
  const markers: WriteTxnMarkersRequest[] = [];
  const shell = new TransactionCoordinatorShell({
    nodeId: 1,
    replicas,
    image: () => image,
    createTransactionTopic: async () => undefined,
    newProducerId: async () => 1000,
    writeMarkers: async (_to, req) => {
      markers.push(req);
      return { results: req.partitions.map((p) => ({ ...p, errorCode: ErrorCode.NONE, errorMessage: '' })) };
    },
    config: { maxTimeoutMs: 900_000 },
    clock,
    timers,
    logger: silentLogger,
  });
  open.push(shell, replicas, logs);
  shell.onImage(image);
  await timers.advance(0); // the partition loads off the turn that learnt it
  const log = replicas.lookup(TRANSACTION_STATE_TOPIC, 0).log;
  /** The states in each batch of the coordinator's log, in order. */
  const batches = (): string[][] => {
    const buf = log.read(0, 1 << 20, log.logEndOffset, true);
    const out: string[][] = [];
    for (let pos = 0; pos < buf.length; pos += batchSize(buf, pos)) out.push(decodeRecords(buf, pos).map((r) => decodeTxnRecord(r.key, r.value).value!.state));
    return out;
  };
  return { shell, timers, batches, markers };
}

const partitionsOf = { topics: [{ topic: 't', partitions: [0] }] };

describe('TransactionCoordinatorShell', () => {
  it("appends a transaction's Complete record with the next record of its partition (one append, one fsync), or alone once it has lingered", async () => {
    const { shell, timers, batches, markers } = await coordinator();
    const id = await shell.initProducerId({ transactionalId: 'T', transactionTimeoutMs: 60_000 });
    expect(id.errorCode).toBe(ErrorCode.NONE);
    const { producerId } = id;
    expect((await shell.addPartitions({ transactionalId: 'T', producerId, producerEpoch: 0, partitions: partitionsOf, verifyOnly: false })).errorCode).toBe(ErrorCode.NONE);
    const end = await shell.endTxn({ transactionalId: 'T', producerId, producerEpoch: 0, commit: true });
    expect(end).toMatchObject({ errorCode: ErrorCode.NONE, producerEpoch: 1 });
    // The markers are written before the answer; the Complete record is not appended yet.
    expect(markers).toHaveLength(1);
    expect(batches()).toEqual([['Empty'], ['Ongoing'], ['PrepareCommit']]);
    expect(shell.describeTransactions(['T']).transactions[0]!.state).toBe('CompleteCommit');

    // The next transaction opens: its record and the lingering Complete go out as one batch.
    expect((await shell.addPartitions({ transactionalId: 'T', producerId, producerEpoch: 1, partitions: partitionsOf, verifyOnly: false })).errorCode).toBe(ErrorCode.NONE);
    expect(batches()).toEqual([['Empty'], ['Ongoing'], ['PrepareCommit'], ['CompleteCommit', 'Ongoing']]);

    // With no next record, the Complete record goes alone after COMPLETE_RECORD_LINGER_MS.
    expect((await shell.endTxn({ transactionalId: 'T', producerId, producerEpoch: 1, commit: true })).errorCode).toBe(ErrorCode.NONE);
    await timers.advance(COMPLETE_RECORD_LINGER_MS - 1);
    expect(batches()).toHaveLength(5);
    await timers.advance(1);
    await waitFor(() => batches().length === 6, 'the lingering Complete record to be appended');
    expect(batches().slice(4)).toEqual([['PrepareCommit'], ['CompleteCommit']]);
  });
});
