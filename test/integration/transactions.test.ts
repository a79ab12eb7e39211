import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { CairnError, ErrorCode } from '../../src/common/errors';
import { FAST_FAILOVER_FLAGS as FAST, TestCluster } from '../helpers/processes';
import { waitFor } from '../helpers/tmp';

let cluster: TestCluster | null = null;
const producers: Producer[] = [];
const consumers: Consumer[] = [];
afterEach(async () => {
  for (const p of producers.splice(0)) await p.close().catch(() => undefined);
  for (const c of consumers.splice(0)) await c.close();
  await cluster?.stopAll();
  cluster = null;
});

function producer(bootstrap: string, transactionalId: string, extra: Partial<ConstructorParameters<typeof Producer>[0]> = {}): Producer {
  const p = new Producer({ bootstrap, transactionalId, requestTimeoutMs: 5_000, retryBackoffMs: 50, ...extra });
  producers.push(p);
  return p;
}

/** Every value of `topic` (all partitions) a consumer at `isolationLevel` reads until it has caught up. */
async function readAll(bootstrap: string, topic: string, partitions: number, isolationLevel: 'read_committed' | 'read_uncommitted', expectAtLeast: number): Promise<string[]> {
  const consumer = new Consumer({ bootstrap, maxWaitMs: 200, isolationLevel });
  consumers.push(consumer);
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
  const values: string[] = [];
  await waitFor(
    async () => {
      for (const r of await consumer.poll(300)) values.push(r.value?.toString() ?? '');
      return values.length >= expectAtLeast && consumer.lag().every((l) => l.lag === 0);
    },
    `${expectAtLeast} records of ${topic} (${isolationLevel})`,
    60_000,
  );
  for (const r of await consumer.poll(300)) values.push(r.value?.toString() ?? '');
  return values;
}

describe('transactions against real processes (issue 19)', () => {
  it('read_committed sees committed transactions only; read_uncommitted sees everything; markers are never records', async () => {
    cluster = await TestCluster.start('cairn-txn-basic-', 3, FAST);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'orders', partitions: 2, replicationFactor: 3 });
    admin.close();
    const p = producer(bootstrap, 'writer-1');
    await p.initTransactions();
    for (const [i, outcome] of ['commit', 'abort', 'commit'].entries()) {
      p.beginTransaction();
      // Every record is written (acknowledged) before the transaction ends, the aborted ones too.
      await Promise.all(Array.from({ length: 10 }, (_, k) => p.send({ topic: 'orders', key: `k${k}`, value: `t${i}-${k}` })));
      if (outcome === 'commit') await p.commitTransaction();
      else await p.abortTransaction();
    }
    const committed = await readAll(bootstrap, 'orders', 2, 'read_committed', 20);
    expect(committed.sort()).toEqual([...Array.from({ length: 10 }, (_, k) => `t0-${k}`), ...Array.from({ length: 10 }, (_, k) => `t2-${k}`)].sort());
    const all = await readAll(bootstrap, 'orders', 2, 'read_uncommitted', 30);
    expect(all).toHaveLength(30);
  });

  it('an open transaction holds read_committed readers back at the last stable offset until it commits', async () => {
    cluster = await TestCluster.start('cairn-txn-lso-', 1);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'held', partitions: 1, replicationFactor: 1 });
    admin.close();
    const plain = new Producer({ bootstrap });
    producers.push(plain);
    const p = producer(bootstrap, 'holder');
    await p.initTransactions();
    p.beginTransaction();
    await p.send({ topic: 'held', value: 'in-txn', partition: 0 });
    await plain.send({ topic: 'held', value: 'after', partition: 0 });
    const consumer = new Consumer({ bootstrap, maxWaitMs: 100, isolationLevel: 'read_committed' });
    consumers.push(consumer);
    consumer.assign([{ topic: 'held', partition: 0, offset: 0 }]);
    // Nothing is readable: the record after the open transaction waits behind it.
    for (let i = 0; i < 5; i++) expect(await consumer.poll(100)).toEqual([]);
    expect(consumer.lag()[0]!.lag).toBe(0);
    await p.commitTransaction();
    const seen: string[] = [];
    await waitFor(async () => {
      for (const r of await consumer.poll(200)) seen.push(r.value!.toString());
      return seen.length >= 2;
    }, 'both records after the commit');
    expect(seen).toEqual(['in-txn', 'after']);
  });

  it('a second producer with the same transactional id fences the first: it can neither write nor commit, and what it left open is aborted', async () => {
    cluster = await TestCluster.start('cairn-txn-fence-', 3, FAST);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'fenced', partitions: 1, replicationFactor: 3 });
    admin.close();
    const zombie = producer(bootstrap, 'same-id');
    await zombie.initTransactions();
    zombie.beginTransaction();
    await zombie.send({ topic: 'fenced', value: 'zombie-1', partition: 0 });
    const successor = producer(bootstrap, 'same-id');
    await successor.initTransactions();
    // The zombie's open transaction was aborted by the successor's init; its next write and its commit are refused.
    const write = await zombie.send({ topic: 'fenced', value: 'zombie-2', partition: 0 }).then(
      () => null,
      (e: CairnError) => e.code,
    );
    expect(write).not.toBeNull();
    const commit = await zombie.commitTransaction().then(
      () => null,
      (e: CairnError) => e.code,
    );
    expect([ErrorCode.PRODUCER_FENCED, ErrorCode.TRANSACTION_ABORTABLE]).toContain(commit);
    successor.beginTransaction();
    await successor.send({ topic: 'fenced', value: 'successor', partition: 0 });
    await successor.commitTransaction();
    expect(await readAll(bootstrap, 'fenced', 1, 'read_committed', 1)).toEqual(['successor']);
  });

  it('offsets sent to a transaction commit with it, and not with an aborted one', async () => {
    cluster = await TestCluster.start('cairn-txn-offsets-', 1);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'src', partitions: 1, replicationFactor: 1 });
    admin.close();
    const group = { groupId: 'copiers', memberId: '', memberEpoch: -1 };
    const p = producer(bootstrap, 'copier');
    await p.initTransactions();
    p.beginTransaction();
    await p.sendOffsetsToTransaction([{ topic: 'src', partition: 0, offset: 7 }], group);
    await p.abortTransaction();
    const consumer = new Consumer({ bootstrap, groupId: 'copiers', isolationLevel: 'read_committed' });
    consumers.push(consumer);
    expect(await consumer.committed([{ topic: 'src', partition: 0 }])).toEqual([{ topic: 'src', partition: 0, offset: -1 }]);
    p.beginTransaction();
    await p.sendOffsetsToTransaction([{ topic: 'src', partition: 0, offset: 42 }], group);
    await p.commitTransaction();
    await waitFor(async () => (await consumer.committed([{ topic: 'src', partition: 0 }]))[0]!.offset === 42, 'the offset committed with the transaction');
  });
});
