import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { RpcClient } from '../../src/protocol/io/rpc-client';
import { ErrorCode } from '../../src/common/errors';
import type { FetchResponse, ListOffsetsResponse } from '../../src/protocol/messages';
import { TestCluster } from '../helpers/processes';

let cluster: TestCluster;
let admin: Admin;

beforeAll(async () => {
  cluster = await TestCluster.start('cairn-client-', 1);
  admin = new Admin({ bootstrap: cluster.bootstrap });
});

afterAll(async () => {
  admin.close();
  await cluster.stopAll();
});

describe('client against a real node', () => {
  it('long-polls: a fetch waits for min_bytes and answers as soon as a write lands', async () => {
    await admin.createTopic({ name: 'poll', partitions: 1 });
    const rpc = new RpcClient(cluster.bootstrap, 'cairn.v1.Broker');
    const pending = rpc.unary<unknown, FetchResponse>('Fetch', {
      correlationId: 1,
      maxWaitMs: 30_000,
      minBytes: 1,
      maxBytes: 1 << 20,
      partitions: [{ topic: 'poll', partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }],
    });
    let answered = false;
    void pending.then(() => (answered = true));
    // An empty round trip proves the fetch is parked rather than answered.
    await rpc.unary('Metadata', { topics: [] });
    expect(answered).toBe(false);
    const p = new Producer({ bootstrap: cluster.bootstrap, lingerMs: 0 });
    await p.send({ topic: 'poll', value: 'wake up' });
    await p.close();
    const res = await pending;
    expect(res.results[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(res.results[0]!.batches!.length).toBeGreaterThan(0);
    // The plain path decodes records for clients that cannot.
    const plain = await rpc.unary<unknown, FetchResponse>('Fetch', {
      correlationId: 2,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      decodeRecords: true,
      partitions: [{ topic: 'poll', partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }],
    });
    expect(plain.results[0]!.records!.map((r) => r.value!.toString())).toEqual(['wake up']);
    rpc.close();
  });

  it('lists offsets: earliest, latest and by timestamp', async () => {
    await admin.createTopic({ name: 'times', partitions: 1 });
    const p = new Producer({ bootstrap: cluster.bootstrap, lingerMs: 0 });
    for (let i = 0; i < 10; i++) await p.send({ topic: 'times', value: `t${i}`, timestamp: 1_000_000 + i * 1000 });
    await p.close();
    const rpc = new RpcClient(cluster.bootstrap, 'cairn.v1.Broker');
    const ask = (timestampMs: number) =>
      rpc.unary<unknown, ListOffsetsResponse>('ListOffsets', { partitions: [{ topic: 'times', partition: 0, timestampMs, currentLeaderEpoch: -1 }] }).then((r) => r.results[0]!);
    expect((await ask(-2)).offset).toBe(0);
    expect((await ask(-1)).offset).toBe(10);
    expect(await ask(1_004_500)).toMatchObject({ offset: 5, timestampMs: 1_005_000 });
    expect((await ask(9_999_999)).offset).toBe(-1);
    rpc.close();
  });

  it('consumer: small polls split fetched chunks without losing, repeating or reordering records; seek mid-chunk', async () => {
    await admin.createTopic({ name: 'polls', partitions: 1 });
    const p = new Producer({ bootstrap: cluster.bootstrap, lingerMs: 2, batchSizeBytes: 2048 });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => p.send({ topic: 'polls', value: `v${i}`, headers: i % 3 === 0 ? [{ key: 'h', value: Buffer.from(String(i)) }] : [] })));
    await p.close();
    const c = new Consumer({ bootstrap: cluster.bootstrap, autoOffsetReset: 'earliest', maxPollRecords: 7 });
    await c.assignTopic('polls');
    const readUntil = async (count: number) => {
      const got: { offset: number; value: string; header?: string }[] = [];
      const deadline = Date.now() + 20_000;
      while (got.length < count && Date.now() < deadline) {
        const batch = await c.poll(500);
        expect(batch.length).toBeLessThanOrEqual(7);
        for (const r of batch) got.push({ offset: r.offset, value: r.value!.toString(), header: r.headers[0]?.value?.toString() });
      }
      return got;
    };
    const first = await readUntil(2000);
    expect(first.map((r) => r.offset)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(first.every((r) => r.value === `v${r.offset}` && r.header === (r.offset % 3 === 0 ? String(r.offset) : undefined))).toBe(true);
    expect(c.position('polls', 0)).toBe(2000);
    // Seek back into the middle of what was fetched: reading resumes exactly there.
    c.seek('polls', 0, 1234);
    const again = await readUntil(766);
    expect(again.map((r) => r.offset)).toEqual(Array.from({ length: 766 }, (_, i) => 1234 + i));
    await c.close();
  });

  it('producer: plain records path, keys to Kafka partitions, back-pressure when the buffer is full', async () => {
    await admin.createTopic({ name: 'keys', partitions: 4 });
    const p = new Producer({ bootstrap: cluster.bootstrap, bufferMemoryBytes: 4096, lingerMs: 20 });
    const sends = Array.from({ length: 200 }, (_, i) => p.send({ topic: 'keys', key: `k${i % 5}`, value: 'x'.repeat(100) }));
    const metas = await Promise.all(sends);
    // Same key, same partition, increasing offsets in send order.
    for (let k = 0; k < 5; k++) {
      const mine = metas.filter((_, i) => i % 5 === k);
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
      const offsets = mine.map((m) => m.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    await p.close();
  });

  it('producer: close() delivers sends that were not awaited, made before the topic was known to it', async () => {
    await admin.createTopic({ name: 'fire-and-forget', partitions: 3 });
    const producer = new Producer({ bootstrap: cluster.bootstrap });
    // Not awaited: each waits for the topic's metadata, so none is in a batch when close() starts.
    for (let i = 0; i < 50; i++) void producer.send({ topic: 'fire-and-forget', key: `k${i}`, value: `v${i}` });
    await producer.close();
    const consumer = new Consumer({ bootstrap: cluster.bootstrap });
    await consumer.assignTopic('fire-and-forget', 0);
    await consumer.seekToEnd();
    const ends = consumer.assignment().reduce((n, p) => n + (consumer.position(p.topic, p.partition) ?? 0), 0);
    await consumer.close();
    expect(ends).toBe(50);
  });

  it('producer retries through a broker restart and delivers every record once the broker is back', async () => {
    await admin.createTopic({ name: 'retry', partitions: 1 });
    const p = new Producer({ bootstrap: cluster.bootstrap, lingerMs: 1, deliveryTimeoutMs: 60_000, retryBackoffMs: 50 });
    await p.send({ topic: 'retry', value: 'before' });
    await cluster.stop(1);
    const during = Array.from({ length: 20 }, (_, i) => p.send({ topic: 'retry', value: `during-${i}` }));
    cluster.start(1);
    await cluster.waitReady();
    const metas = await Promise.all(during);
    expect(metas.every((m) => m.offset >= 1)).toBe(true);
    await p.close();
    const c = new Consumer({ bootstrap: cluster.bootstrap });
    c.assign([{ topic: 'retry', partition: 0, offset: 0 }]);
    const got: string[] = [];
    while (got.length < 21) for (const r of await c.poll(1000)) got.push(r.value!.toString());
    c.close();
    // Every record arrived once, in send order: idempotent (the default with acks=all), so up to 5
    // requests in flight per partition are resent in order and duplicates are dropped by the leader.
    expect(got.filter((v) => v.startsWith('during-'))).toEqual(Array.from({ length: 20 }, (_, i) => `during-${i}`));
  });

  it('alters and deletes topic configs; deleting a topic removes it', async () => {
    await admin.createTopic({ name: 'cfg', partitions: 1, configs: { 'retention.ms': '60000' } });
    await admin.alterConfigs('cfg', { 'segment.bytes': '1048576', 'cleanup.policy': 'compact' }, ['retention.ms']);
    const [d] = await admin.describeTopics(['cfg']);
    expect(d!.configs).toEqual({ 'segment.bytes': '1048576', 'cleanup.policy': 'compact' });
    await expect(admin.alterConfigs('cfg', { 'segment.bytes': 'big' })).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG });
    // Compacted now: a keyless record is refused.
    const p = new Producer({ bootstrap: cluster.bootstrap, lingerMs: 0 });
    await expect(p.send({ topic: 'cfg', value: 'no key' })).rejects.toMatchObject({ code: ErrorCode.INVALID_RECORD });
    await p.close();
    expect((await admin.deleteTopics(['cfg']))[0]!.errorCode).toBe(ErrorCode.NONE);
    expect((await admin.listTopics()).map((t) => t.name)).not.toContain('cfg');
  });
});
