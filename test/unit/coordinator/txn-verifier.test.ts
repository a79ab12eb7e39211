import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode, TRANSACTION_STATE_TOPIC } from '../../../src/common';
import { CoordinatorTxnVerifier } from '../../../src/coordinator/io/txn-verifier';
import type { AddPartitionsToTxnRequest, TxnErrorResponse } from '../../../src/protocol/messages';
import { withBrokers, withPartition } from '../controller/helpers';

/** A broker's image with a one-partition `__transaction_state` led by broker 2, and a coordinator the test answers by hand. */
function verifier() {
  const image = withPartition(withBrokers(2), TRANSACTION_STATE_TOPIC, [2], [2], 2);
  const calls: { to: number; req: AddPartitionsToTxnRequest; answer: (res: TxnErrorResponse) => void }[] = [];
  const v = new CoordinatorTxnVerifier(
    () => image,
    (to, req) => new Promise<TxnErrorResponse>((resolve) => calls.push({ to, req, answer: resolve })),
  );
  return { v, calls };
}

const ask = (producerEpoch: number, topic: string, partition: number, verifyOnly = false) => ({ transactionalId: 'T', producerId: 7, producerEpoch, topic, partition, verifyOnly });
const settled = (p: Promise<void>) =>
  p.then(
    () => 'ok',
    (err: unknown) => err,
  );

describe('CoordinatorTxnVerifier', () => {
  it('sends one AddPartitionsToTxn for the partitions one producer epoch opens in the same turn (one record at the coordinator), and gives each partition its answer', async () => {
    const { v, calls } = verifier();
    const a = v.verify(ask(0, 'in', 0));
    const b = v.verify(ask(0, 'in', 2));
    const c = v.verify(ask(0, 'out', 1));
    // Another epoch, or a confirmation only, is a call of its own.
    const d = v.verify(ask(1, 'in', 0));
    const e = v.verify(ask(0, 'in', 1, true));
    await Promise.resolve();
    expect(calls).toHaveLength(3);
    expect(calls[0]!.to).toBe(2);
    expect(calls[0]!.req).toEqual({
      transactionalId: 'T',
      producerId: 7,
      producerEpoch: 0,
      verifyOnly: false,
      partitions: {
        topics: [
          { topic: 'in', partitions: [0, 2] },
          { topic: 'out', partitions: [1] },
        ],
      },
    });
    expect(calls[1]!.req).toMatchObject({ producerEpoch: 1, partitions: { topics: [{ topic: 'in', partitions: [0] }] } });
    expect(calls[2]!.req).toMatchObject({ producerEpoch: 0, verifyOnly: true });
    calls[0]!.answer({ errorCode: ErrorCode.NONE, errorMessage: '' });
    calls[1]!.answer({ errorCode: ErrorCode.PRODUCER_FENCED, errorMessage: 'fenced' });
    calls[2]!.answer({ errorCode: ErrorCode.NONE, errorMessage: '' });
    expect(await Promise.all([a, b, c, e].map(settled))).toEqual(['ok', 'ok', 'ok', 'ok']);
    const refused = await settled(d);
    expect(refused instanceof CairnError && refused.code === ErrorCode.PRODUCER_FENCED).toBe(true);
  });

  it('a verification asked once the call has gone is a new call', async () => {
    const { v, calls } = verifier();
    const first = v.verify(ask(0, 'in', 0));
    await Promise.resolve();
    const second = v.verify(ask(0, 'in', 1));
    await Promise.resolve();
    expect(calls.map((c) => c.req.partitions)).toEqual([{ topics: [{ topic: 'in', partitions: [0] }] }, { topics: [{ topic: 'in', partitions: [1] }] }]);
    for (const c of calls) c.answer({ errorCode: ErrorCode.NONE, errorMessage: '' });
    expect(await Promise.all([settled(first), settled(second)])).toEqual(['ok', 'ok']);
  });

  it('a coordinator that does not answer is COORDINATOR_NOT_AVAILABLE for every partition of the call', async () => {
    const image = withPartition(withBrokers(2), TRANSACTION_STATE_TOPIC, [2], [2], 2);
    const v = new CoordinatorTxnVerifier(
      () => image,
      () => Promise.reject(new Error('connection reset')),
    );
    const out = await Promise.all([settled(v.verify(ask(0, 'in', 0))), settled(v.verify(ask(0, 'in', 1)))]);
    for (const err of out) expect(err instanceof CairnError && err.code === ErrorCode.COORDINATOR_NOT_AVAILABLE && err.retriable).toBe(true);
  });
});
