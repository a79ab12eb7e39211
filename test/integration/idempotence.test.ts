import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChaosCluster } from '../../chaos/harness/chaos-cluster';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { ErrorCode } from '../../src/common/errors';
import { silentLogger } from '../../src/common/io/logger';
import type { InitProducerIdResponse, ProduceResponse } from '../../src/protocol/messages';
import { RpcClient } from '../../src/protocol/io/rpc-client';
import { encodeBatch } from '../../src/record/batch';
import { FAST_FAILOVER_FLAGS as FAST, TestCluster } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

let cluster: TestCluster | null = null;
let chaos: ChaosCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
  await chaos?.stop();
  chaos = null;
});

async function leaderOf(admin: Admin, topic: string): Promise<number> {
  let leader = -1;
  await waitFor(async () => (leader = (await admin.describeTopics([topic]))[0]!.partitions[0]!.leaderId) > 0, `a leader for ${topic}`);
  return leader;
}

/** Every value of partition 0 from the start, in offset order. */
async function readAll(bootstrap: string, topic: string, expectAtLeast: number): Promise<string[]> {
  const consumer = new Consumer({ bootstrap, maxWaitMs: 200 });
  consumer.assign([{ topic, partition: 0, offset: 0 }]);
  const values: string[] = [];
  try {
    await waitFor(
      async () => {
        for (const r of await consumer.poll(500)) values.push(r.value?.toString() ?? '');
        return values.length >= expectAtLeast && consumer.lag().every((l) => l.lag === 0);
      },
      `${expectAtLeast} records of ${topic}`,
      60_000,
    );
    // One more poll: anything written twice would be right behind.
    for (const r of await consumer.poll(300)) values.push(r.value?.toString() ?? '');
  } finally {
    consumer.close();
  }
  return values;
}

/** Bytes in the partition's segment files on one node: > 0 once the leader has written there. */
function segmentBytes(dataDir: string, topic: string): number {
  const dir = path.join(dataDir, `${topic}-0`);
  if (!fs.existsSync(dir)) return 0;
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

describe('the idempotent producer against real processes (issue 17)', () => {
  for (const idempotent of [true, false]) {
    it(`the answer to a written batch is lost, the producer resends: the log holds it ${idempotent ? 'once' : 'twice (idempotence off: the negative control)'}`, async () => {
      chaos = await ChaosCluster.create({ nodes: 3, baseDir: tmpDir('cairn-idem-cut-'), logger: silentLogger, flags: FAST });
      await chaos.startAll();
      const admin = new Admin({ bootstrap: chaos.bootstrap });
      await admin.createTopic({ name: 'cut', partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
      const leader = await leaderOf(admin, 'cut');
      const producer = new Producer({ bootstrap: chaos.bootstrap, enableIdempotence: idempotent, acks: 'all', requestTimeoutMs: 3_000, retryBackoffMs: 100, deliveryTimeoutMs: 60_000 });
      try {
        await producer.send({ topic: 'cut', value: 'warm-up', partition: 0 }); // connections and producer id in place
        const before = segmentBytes(chaos.cluster.node(leader).dataDir, 'cut');
        // The request reaches the leader; its answer never comes back, and the connection closes after 1 s.
        await chaos.dropAnswers(`c>n${leader}`, 1_000);
        const sent = producer.send({ topic: 'cut', value: 'once', partition: 0 });
        await waitFor(() => segmentBytes(chaos!.cluster.node(leader).dataDir, 'cut') > before, 'the leader to write the batch whose answer is lost');
        await chaos.healNetwork();
        const meta = await sent;
        // Idempotent: the resend is answered with the original's offset. Without: it is written again, after it.
        expect(meta.offset).toBe(idempotent ? 1 : 2);
      } finally {
        await producer.close();
      }
      const values = await readAll(chaos.bootstrap, 'cut', 2);
      if (idempotent) expect(values).toEqual(['warm-up', 'once']);
      else expect(values).toEqual(['warm-up', 'once', 'once']);
    }, 120_000);
  }

  it('a leader killed mid-stream with 5 requests in flight per partition: every acknowledged record once, all in send order', async () => {
    cluster = await TestCluster.start('cairn-idem-kill-', 3, FAST);
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    await admin.createTopic({ name: 'stream', partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
    const leader = await leaderOf(admin, 'stream');
    // The defaults: idempotent, acks=all, up to 5 requests in flight per partition. Small batches so many are in flight.
    const producer = new Producer({ bootstrap: cluster.bootstrap, batchSizeBytes: 2_048, deliveryTimeoutMs: 60_000, requestTimeoutMs: 5_000 });
    const acked: number[] = [];
    const sends: Promise<void>[] = [];
    let failed = 0;
    let i = 0;
    const writeSome = (n: number) => {
      for (const end = i + n; i < end; i++) {
        const seq = i;
        sends.push(
          producer.send({ topic: 'stream', partition: 0, value: `r${String(seq).padStart(7, '0')}-${'x'.repeat(40)}` }).then(
            () => void acked.push(seq),
            () => void failed++,
          ),
        );
      }
    };
    try {
      for (let round = 0; round < 20; round++) {
        writeSome(500);
        await new Promise((r) => setImmediate(r));
      }
      await waitFor(() => acked.length >= 2_000, '2000 acknowledged records');
      await cluster.kill(leader); // kill -9 with requests in flight
      for (let round = 0; round < 20; round++) {
        writeSome(500);
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(sends);
    } finally {
      await producer.close();
    }
    cluster.start(leader);
    expect(failed, 'sends that failed within the 60 s delivery timeout').toBe(0);
    const values = await readAll(cluster.bootstrap, 'stream', acked.length);
    const seqs = values.map((v) => Number(v.slice(1, 8)));
    expect(new Set(seqs).size, 'no record written twice').toBe(seqs.length);
    expect(seqs, 'every record in send order, none missing').toEqual(Array.from({ length: i }, (_, k) => k));
  }, 180_000);

  it('a fenced producer (an older epoch of the same id) cannot write; the newer epoch can', async () => {
    cluster = await TestCluster.start('cairn-idem-fence-', 1, FAST);
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    await admin.createTopic({ name: 'fence', partitions: 1, replicationFactor: 1 });
    await leaderOf(admin, 'fence');
    const rpc = new RpcClient(cluster.bootstrap, 'cairn.v1.Broker');
    try {
      const init = await rpc.unary<object, InitProducerIdResponse>('InitProducerId', {});
      expect(init.errorCode).toBe(ErrorCode.NONE);
      const second = await rpc.unary<object, InitProducerIdResponse>('InitProducerId', {});
      expect(second.producerId, 'every InitProducerId gets a new id').not.toBe(init.producerId);
      const produce = async (epoch: number, seq: number, value: string) => {
        const batches = encodeBatch([{ key: null, value: Buffer.from(value), timestamp: Date.now(), headers: [] }], { producerId: init.producerId, producerEpoch: epoch, baseSequence: seq });
        const res = await rpc.unary<object, ProduceResponse>('Produce', { correlationId: 1, acks: -1, timeoutMs: 5_000, partitions: [{ topic: 'fence', partition: 0, batches }] });
        return res.results[0]!;
      };
      expect((await produce(0, 0, 'epoch0-a')).errorCode).toBe(ErrorCode.NONE);
      // The same id at epoch 1 (a bumped epoch starts at sequence 0) fences epoch 0.
      expect((await produce(1, 0, 'epoch1-a')).errorCode).toBe(ErrorCode.NONE);
      const zombie = await produce(0, 1, 'epoch0-b');
      expect(zombie.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
      expect((await produce(1, 1, 'epoch1-b')).errorCode).toBe(ErrorCode.NONE);
      // A gap is refused, and a resend is answered with the original offset and written nowhere.
      expect((await produce(1, 5, 'gap')).errorCode).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
      const again = await produce(1, 1, 'epoch1-b');
      expect(again.errorCode).toBe(ErrorCode.NONE);
      expect(again.baseOffset).toBe(2);
    } finally {
      rpc.close();
    }
    expect(await readAll(cluster.bootstrap, 'fence', 3)).toEqual(['epoch0-a', 'epoch1-a', 'epoch1-b']);
  }, 120_000);
});
