import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { BrokerConnection } from '../../src/client/cluster';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { ErrorCode } from '../../src/common/errors';
import { CONTINUE_FETCH, type FetchResponse } from '../../src/protocol/messages';
import { decodeAllRecords } from '../../src/record';
import { TestCluster } from '../helpers/processes';

/**
 * Fetch sessions (docs/client.md, "Pipelined fetches"): on FetchStream, fetch_offset -1 continues
 * where the stream's previous answer for the partition ended, and the stream's requests are
 * answered in order, so a consumer keeps several in flight.
 */
let cluster: TestCluster;
let bootstrap: string;

beforeAll(async () => {
  cluster = await TestCluster.start('cairn-fetch-session-', 1);
  bootstrap = cluster.bootstrap;
  const admin = new Admin({ bootstrap });
  await admin.createTopic({ name: 's', partitions: 2 });
  admin.close();
  // Ten batches of ten records in partition 0, one at a time so each is its own batch.
  const producer = new Producer({ bootstrap, lingerMs: 0 });
  for (let b = 0; b < 10; b++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => producer.send({ topic: 's', partition: 0, value: Buffer.from(`r${b * 10 + i}`) })));
    await producer.flush();
  }
  await producer.close();
}, 60_000);

afterAll(async () => {
  await cluster?.stopAll();
});

const values = (res: FetchResponse, partition = 0) => {
  const r = res.results.find((x) => x.partition === partition)!;
  return r.batches && r.batches.length > 0 ? decodeAllRecords(r.batches, 0).map((x) => x.value!.toString()) : [];
};
const ask = (offset: number, partition = 0, maxWaitMs = 0) => ({
  maxWaitMs,
  minBytes: 1,
  maxBytes: 1 << 20,
  isolationLevel: 0,
  partitions: [{ topic: 's', partition, fetchOffset: offset, partitionMaxBytes: 1 }],
});

describe('fetch sessions', () => {
  it('a stream answers -1 by going on where its last answer ended, in order with requests sent before any answer', async () => {
    const conn = new BrokerConnection(bootstrap);
    try {
      // Nothing fetched by offset on this stream yet: no position.
      const none = (await conn.fetch.send(ask(CONTINUE_FETCH)))!;
      expect(none.results[0]!.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
      // One request by offset, then four more that continue, all sent before any answer comes.
      const sent = [conn.fetch.send(ask(0)), ...Array.from({ length: 4 }, () => conn.fetch.send(ask(CONTINUE_FETCH)))];
      const answers = (await Promise.all(sent)).map((r) => values(r!));
      // partitionMaxBytes 1: one whole batch each, the batches in order, none twice.
      expect(answers.flat()).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
      // The other partition has no position on this stream; an error clears a partition's position.
      expect((await conn.fetch.send(ask(CONTINUE_FETCH, 1)))!.results[0]!.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
      expect((await conn.fetch.send(ask(1_000)))!.results[0]!.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
      expect((await conn.fetch.send(ask(CONTINUE_FETCH)))!.results[0]!.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
      // By offset again, then on to the end; at the end a continue long-polls and returns nothing new.
      const tail = [conn.fetch.send(ask(90)), conn.fetch.send(ask(CONTINUE_FETCH, 0, 100))];
      const [last, empty] = await Promise.all(tail);
      expect(values(last!)).toEqual(Array.from({ length: 10 }, (_, i) => `r${90 + i}`));
      expect(empty!.results[0]!.errorCode).toBe(ErrorCode.NONE);
      expect(values(empty!)).toEqual([]);
      // Two continues wait at the end (long polls); one record arrives. The second request runs only
      // after the first has answered, so the record comes once, not to both.
      const waiting = [conn.fetch.send(ask(CONTINUE_FETCH, 0, 3_000)), conn.fetch.send(ask(CONTINUE_FETCH, 0, 300))];
      const producer = new Producer({ bootstrap, lingerMs: 0 });
      await producer.send({ topic: 's', partition: 0, value: Buffer.from('r100') });
      await producer.close();
      const [first, second] = await Promise.all(waiting);
      expect([...values(first!), ...values(second!)]).toEqual(['r100']);
    } finally {
      conn.close();
    }
  });

  it('a unary Fetch has no session: -1 gets FETCH_SESSION_ID_NOT_FOUND', async () => {
    const conn = new BrokerConnection(bootstrap);
    try {
      const res = await conn.rpc.unary<unknown, FetchResponse>('Fetch', { correlationId: 1, ...ask(CONTINUE_FETCH) }, 5_000);
      expect(res.results[0]!.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    } finally {
      conn.close();
    }
  });

  it('a consumer with several fetches in flight reads every record once and in order, across seeks', async () => {
    for (const fetchesInFlight of [1, 2, 4]) {
      // One batch per fetch, so that requests really pile up behind each other.
      const c = new Consumer({ bootstrap, fetchesInFlight, partitionMaxBytes: 1, maxWaitMs: 50 });
      c.assign([{ topic: 's', partition: 0, offset: 0 }]);
      const got: string[] = [];
      while (got.length < 60) for (const r of await c.poll(1_000)) got.push(r.value!.toString());
      // Back to 5 while fetches continue past 60: what was fetched for the old position is dropped.
      c.seek('s', 0, 5);
      const after: string[] = [];
      while (after.length < 96) for (const r of await c.poll(1_000)) after.push(r.value!.toString());
      await c.close();
      expect(got.slice(0, 60), `fetchesInFlight ${fetchesInFlight}`).toEqual(Array.from({ length: 60 }, (_, i) => `r${i}`));
      expect(after, `fetchesInFlight ${fetchesInFlight}`).toEqual(Array.from({ length: 96 }, (_, i) => `r${i + 5}`));
    }
  }, 60_000);
});
