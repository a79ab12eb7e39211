import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock';
import { ErrorCode } from '../../../src/common/errors';
import { silentLogger } from '../../../src/common/io/logger';
import type { TimerHandle, Timers } from '../../../src/common/timers';
import type { TxnVerifier, TxnVerifyRequest } from '../../../src/coordinator/io/txn-verifier';
import type { ProduceResponse } from '../../../src/protocol/messages';
import { encodeBatch } from '../../../src/record/batch';
import { ProduceHandler } from '../../../src/server/produce-handler';
import { oneBroker } from '../../helpers/one-broker';
import { waitFor } from '../../helpers/tmp';
import { withBrokers, withPartition } from '../controller/helpers';

/** No timer fires: nothing here waits on time (one broker, acks=1). */
const noTimers: Timers = {
  after: (): TimerHandle => ({ cancel: () => undefined }),
  every: (): TimerHandle => ({ cancel: () => undefined }),
};

const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

/** One broker leading t-0 (RF=1), the shipped ReplicaManager and ProduceHandler, and a verifier the test answers by hand. */
function broker() {
  const clock = new ManualClock(1_000);
  const { logs, replicas } = oneBroker(withPartition(withBrokers(1), 't', [1], [1], 1), clock, noTimers, 'cairn-produce-handler-');
  open.push(replicas, logs);
  const asked: { req: TxnVerifyRequest; answer: () => void }[] = [];
  const verifier: TxnVerifier = { verify: (req) => new Promise<void>((resolve) => asked.push({ req, answer: resolve })) };
  return { handler: new ProduceHandler(replicas, clock, silentLogger, verifier), log: replicas.lookup('t', 0).log, asked };
}

function produce(handler: ProduceHandler, producerId: number, baseSequence: number, values: string[], transactionalId?: string): { answer: ProduceResponse | null; done: Promise<ProduceResponse> } {
  const batches = encodeBatch(
    values.map((v) => ({ value: Buffer.from(v), timestamp: 1_000 })),
    { producerId, producerEpoch: 0, baseSequence, transactional: transactionalId !== undefined },
  );
  const out: { answer: ProduceResponse | null; done: Promise<ProduceResponse> } = { answer: null, done: null as never };
  out.done = handler.handle({ correlationId: 1, acks: 1, partitions: [{ topic: 't', partition: 0, batches }], transactionalId }).then((r) => (out.answer = r));
  return out;
}

describe('ProduceHandler', () => {
  it("holds a producer's later writes behind its first transactional write while the coordinator is asked, and no other producer's", async () => {
    const { handler, log, asked } = broker();
    // Producer 10 opens its transaction here: the leader asks the coordinator first (KIP-890).
    const first = produce(handler, 10, 0, ['a0', 'a1'], 'txn-a');
    await waitFor(() => asked.length === 1, 'the coordinator to be asked');
    expect(asked[0]!.req).toMatchObject({ transactionalId: 'txn-a', producerId: 10, topic: 't', partition: 0, verifyOnly: false });
    // Its next batch, pipelined, must wait for the first (its sequence follows it); it is not in
    // the log yet, so the leader asks about this one too.
    const second = produce(handler, 10, 2, ['a2'], 'txn-a');
    await waitFor(() => asked.length === 2, 'the coordinator to be asked again');
    // Another producer's write to the same partition does not wait for producer 10's coordinator.
    const other = await produce(handler, 11, 0, ['b0']).done;
    expect(other.results[0]).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 0 });
    expect(first.answer).toBeNull();
    expect(second.answer).toBeNull();
    expect(log.logEndOffset).toBe(1);
    // The second answer comes first; the second batch still waits for the first.
    asked[1]!.answer();
    await new Promise((resolve) => setImmediate(resolve));
    expect(second.answer).toBeNull();
    asked[0]!.answer();
    const [a, b] = await Promise.all([first.done, second.done]);
    expect(a.results[0]).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 1 });
    expect(b.results[0]).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 3 });
    expect(log.logEndOffset).toBe(4);
  });
});
