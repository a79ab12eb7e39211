import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { gzipSync } from 'node:zlib';
import { CorrelatedStream, RpcClient } from '../../src/protocol/io/rpc-client';
import { ErrorCode } from '../../src/common/errors';
import { BATCH_HEADER_BYTES, BATCH_LENGTH, Compression, computeBatchCrc, CRC, encodeBatch, LOG_OVERHEAD } from '../../src/record/batch';
import type { FetchResponse, ProduceResponse } from '../../src/protocol/messages';
import { TestCluster } from '../helpers/processes';
import { waitFor } from '../helpers/tmp';

let cluster: TestCluster;
let rpc: RpcClient;
let address: string;

const produce = (partitions: unknown[], acks = -1) => rpc.unary<unknown, ProduceResponse>('Produce', { correlationId: 1, acks, partitions });

/** The two produce paths of the Broker service: every bad-input case runs over both. */
const PRODUCE_PATHS = ['Produce', 'ProduceStream'] as const;
type ProducePath = (typeof PRODUCE_PATHS)[number];

async function produceVia(path: ProducePath, partitions: unknown[], acks = -1): Promise<ProduceResponse> {
  if (path === 'Produce') return produce(partitions, acks);
  const stream = new CorrelatedStream<{ correlationId: number }, ProduceResponse>(rpc, 'ProduceStream');
  try {
    return (await stream.send({ acks, partitions } as never))!;
  } finally {
    stream.close();
  }
}

/**
 * A one-record gzip batch, CRC valid, of ~1 MiB that inflates to 1 GiB of zeros: 1024 gzip members
 * of 1 MiB of zeros each, concatenated (gzip readers inflate every member).
 */
function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const header = encodeBatch([{ value: Buffer.from('x') }], { compression: Compression.GZIP }, Date.now()).subarray(0, BATCH_HEADER_BYTES);
  const batch = Buffer.concat([header, ...Array<Buffer>(1024).fill(member)]);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, BATCH_LENGTH);
  batch.writeUInt32BE(computeBatchCrc(batch, 0, batch.length), CRC);
  return batch;
}
const fetchAt = (topic: string, partition: number, fetchOffset: number) =>
  rpc.unary<unknown, FetchResponse>('Fetch', {
    correlationId: 2,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    partitions: [{ topic, partition, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }],
  });

/** Sends raw bytes as the request body: what a broken or hostile client would put on the wire. */
function rawCall(method: string, body: Buffer): Promise<grpc.ServiceError | null> {
  const Ctor = grpc.makeGenericClientConstructor(
    {
      [method]: {
        path: `/cairn.v1.Broker/${method}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'Raw',
  );
  const client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as Record<string, (req: Buffer, cb: (err: grpc.ServiceError | null) => void) => void> & grpc.Client;
  return new Promise((resolve) =>
    client[method]!(body, (err) => {
      client.close();
      resolve(err);
    }),
  );
}

async function expectAlive(): Promise<void> {
  const m = await produce([{ topic: 'good', partition: 0, batches: encodeBatch([{ value: Buffer.from('still-alive') }]) }]);
  expect(m.results[0]!.errorCode).toBe(ErrorCode.NONE);
  expect(cluster.isRunning(1)).toBe(true);
}

beforeAll(async () => {
  cluster = await TestCluster.start('cairn-bad-', 1, { 'message-max-bytes': '100000' });
  address = cluster.bootstrap;
  rpc = new RpcClient(address, 'cairn.v1.Broker');
  const admin = new Admin({ bootstrap: address });
  await admin.createTopic({ name: 'good', partitions: 2 });
  // Room for the ~1 MiB bomb as sent, so that only its inflated size can refuse it.
  await admin.createTopic({ name: 'roomy', partitions: 1, configs: { 'max.message.bytes': String(2 << 20) } });
  admin.close();
  const p = new Producer({ bootstrap: address });
  for (let i = 0; i < 100; i++) await p.send({ topic: 'good', partition: 0, value: `v${i}` });
  await p.close();
});

afterAll(async () => {
  rpc?.close();
  await cluster.stopAll();
});

describe('bad input never crashes a node or damages a log', () => {
  it('answers undecodable request bytes with INVALID_ARGUMENT', async () => {
    for (const body of [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from('this is not protobuf at all'), Buffer.alloc(1000, 0xee)]) {
      const err = await rawCall('Produce', body);
      expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      const err2 = await rawCall('Fetch', body);
      expect(err2?.code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    await expectAlive();
  });
});

describe.each(PRODUCE_PATHS)('bad produce input over %s is refused with typed codes', (path) => {
  const produce = (partitions: unknown[], acks = -1) => produceVia(path, partitions, acks);

  it('rejects garbage batches, bad CRCs and oversized batches with typed codes and writes nothing', async () => {
    const before = (await fetchAt('good', 1, 0)).results[0]!.highWatermark;
    const garbage = await produce([{ topic: 'good', partition: 1, batches: Buffer.from('definitely not a record batch, but long enough to have a header....') }]);
    expect(garbage.results[0]!.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    const badCrc = encodeBatch([{ value: Buffer.from('x') }]);
    badCrc.writeUInt32BE((badCrc.readUInt32BE(CRC) + 1) >>> 0, CRC);
    expect((await produce([{ topic: 'good', partition: 1, batches: badCrc }])).results[0]!.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    const huge = encodeBatch([{ value: Buffer.alloc(200_000) }]);
    expect((await produce([{ topic: 'good', partition: 1, batches: huge }])).results[0]!.errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    const lying = encodeBatch([{ value: Buffer.from('abc') }]);
    lying.writeInt32BE(5, 57); // record count 5, one record present
    lying.writeUInt32BE(computeBatchCrc(lying, 0, lying.length), CRC);
    expect((await produce([{ topic: 'good', partition: 1, batches: lying }])).results[0]!.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect((await produce([{ topic: 'good', partition: 1 }])).results[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await produce([{ topic: 'good', partition: 1, batches: encodeBatch([{ value: Buffer.from('x') }]) }], 7)).results[0]!.errorCode).toBe(ErrorCode.INVALID_REQUIRED_ACKS);
    expect((await fetchAt('good', 1, 0)).results[0]!.highWatermark).toBe(before);
    await expectAlive();
  });

  it('answers unknown topics and bad partitions with UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const batch = encodeBatch([{ value: Buffer.from('x') }]);
    expect((await produce([{ topic: 'nope', partition: 0, batches: batch }])).results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await produce([{ topic: 'good', partition: 99, batches: batch }])).results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await produce([{ topic: 'good', partition: -1, batches: batch }])).results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    await expectAlive();
  });

  it('refuses a ~1 MiB gzip batch that inflates to 1 GiB with MESSAGE_TOO_LARGE, logs it, and keeps serving', async () => {
    const bomb = gzipBomb();
    const hw = (await fetchAt('roomy', 0, 0)).results[0]!.highWatermark;
    const logged = cluster.log(1).split('compressed batch inflates past max.message.bytes').length;
    const r = await produce([{ topic: 'roomy', partition: 0, batches: bomb }]);
    expect(r.results[0]).toMatchObject({ errorCode: ErrorCode.MESSAGE_TOO_LARGE });
    await waitFor(() => cluster.log(1).split('compressed batch inflates past max.message.bytes').length > logged, 'the refusal to be logged');
    const line = cluster
      .log(1)
      .split('\n')
      .filter((l) => l.includes('compressed batch inflates past max.message.bytes'))
      .at(-1)!;
    expect(JSON.parse(line)).toMatchObject({ node: 1, topic: 'roomy', partition: 0 });
    expect((await fetchAt('roomy', 0, 0)).results[0]!.highWatermark).toBe(hw);
    // The same partition, and others, still take writes (a gzip batch that fits included).
    const fine = encodeBatch([{ value: Buffer.alloc(10_000) }], { compression: Compression.GZIP }, Date.now());
    expect((await produce([{ topic: 'roomy', partition: 0, batches: fine }])).results[0]!.errorCode).toBe(ErrorCode.NONE);
    await expectAlive();
  });

  // Only a stream orders its requests: two unary calls may reach the handler in either order.
  it.runIf(path === 'ProduceStream')("keeps a partition's appends in arrival order when a gzip batch is inflated off the event loop", async () => {
    const stream = new CorrelatedStream<{ correlationId: number }, ProduceResponse>(rpc, 'ProduceStream');
    const send = (batches: Buffer) => stream.send({ acks: -1, partitions: [{ topic: 'roomy', partition: 0, batches }] } as never).then((r) => r!);
    const gz = encodeBatch(
      Array.from({ length: 100 }, (_, i) => ({ value: Buffer.alloc(10_000, i) })),
      { compression: Compression.GZIP },
      Date.now(),
    );
    const plain = encodeBatch([{ value: Buffer.from('after the gzip batch') }], {}, Date.now());
    // Sent back to back, unawaited: the plain batch arrives second and must be written second.
    const [a, b] = await Promise.all([send(gz), send(plain)]);
    stream.close();
    expect(a.results[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(b.results[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(b.results[0]!.baseOffset).toBe(a.results[0]!.baseOffset + 100);
  });

  it('refuses record timestamps past message.timestamp.after.max.ms (1 h) with INVALID_TIMESTAMP, batches and plain records alike', async () => {
    const before = (await fetchAt('good', 1, 0)).results[0]!.highWatermark;
    const ahead = Date.now() + 2 * 3_600_000;
    expect((await produce([{ topic: 'good', partition: 1, batches: encodeBatch([{ value: Buffer.from('late'), timestamp: ahead }]) }])).results[0]!.errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await produce([{ topic: 'good', partition: 1, records: [{ value: Buffer.from('late'), timestampMs: ahead }] }])).results[0]!.errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await produce([{ topic: 'good', partition: 1, batches: encodeBatch([{ value: Buffer.from('old but fine'), timestamp: 1 }]) }])).results[0]!.errorCode).toBe(ErrorCode.NONE);
    expect((await fetchAt('good', 1, 0)).results[0]!.highWatermark).toBe(before + 1);
    await expectAlive();
  });
});

describe('bad input never crashes a node or damages a log (continued)', () => {
  it('answers out-of-range offsets and unknown topics on fetch with typed codes', async () => {
    for (const offset of [-2, -1000, 2 ** 50, Number.MAX_SAFE_INTEGER]) {
      expect((await fetchAt('good', 0, offset)).results[0]!.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    }
    // -1 continues a fetch session: on a request without a position for the partition, a typed refusal too.
    expect((await fetchAt('good', 0, -1)).results[0]!.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    expect((await fetchAt('nope', 0, 0)).results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    await expectAlive();
  });

  it('refuses invalid topic names and configs', async () => {
    const admin = new Admin({ bootstrap: address });
    const results = await admin.createTopics([
      { name: '' },
      { name: 'has space' },
      { name: 'x'.repeat(250) },
      { name: '..' },
      { name: 'ok', partitions: 100_000 },
      { name: 'ok2', configs: { 'retention.ms': 'soon' } },
      { name: 'ok3', configs: { 'no.such.config': '1' } },
      { name: 'ok4', replicationFactor: 5 },
      { name: 'ok5', partitions: -7 },
      { name: 'ok6', partitions: 0 },
      { name: 'ok7', replicationFactor: -7 },
      { name: 'good' },
    ]);
    expect(results.map((r) => r.errorCode)).toEqual([
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.INVALID_PARTITIONS,
      ErrorCode.INVALID_CONFIG,
      ErrorCode.INVALID_CONFIG,
      ErrorCode.INVALID_REPLICATION_FACTOR,
      ErrorCode.INVALID_PARTITIONS,
      ErrorCode.INVALID_PARTITIONS,
      ErrorCode.INVALID_REPLICATION_FACTOR,
      ErrorCode.TOPIC_ALREADY_EXISTS,
    ]);
    admin.close();
    await expectAlive();
  });

  it('survives damaged segment files: cuts only a tail never fsynced, takes a partition with damaged fsynced data offline, keeps the rest', async () => {
    const admin = new Admin({ bootstrap: address });
    await admin.createTopic({ name: 'disk', partitions: 3 });
    admin.close();
    // acks=all: each record below is acknowledged only once fsynced.
    const p = new Producer({ bootstrap: address, lingerMs: 0 });
    for (let i = 0; i < 50; i++) {
      for (let partition = 0; partition < 3; partition++) await p.send({ topic: 'disk', partition, value: `p${partition}-${i}` });
    }
    await p.close();
    await cluster.kill(1);
    const dataDir = cluster.node(1).dataDir;
    const seg = (partition: number) => path.join(dataDir, `disk-${partition}`, '00000000000000000000.log');
    // Partition 0: half of a batch that was written but never fsynced (what a crash mid-write leaves), after all 50 records.
    const size0 = fs.statSync(seg(0)).size;
    fs.appendFileSync(seg(0), encodeBatch([{ value: Buffer.from('never-acknowledged') }]).subarray(0, 40));
    // Partition 1: a bit flipped in the middle of fsynced data.
    const bytes1 = fs.readFileSync(seg(1));
    bytes1[Math.floor(bytes1.length / 2)] ^= 0x04;
    fs.writeFileSync(seg(1), bytes1);
    // Partition 2: the last fsynced, acknowledged batch cut in half. It looks like a torn tail, but it was fsynced.
    fs.truncateSync(seg(2), fs.statSync(seg(2)).size - 20);
    const bytes2 = fs.readFileSync(seg(2));
    cluster.start(1);
    await cluster.waitReady();
    await waitFor(() => cluster.log(1).includes('torn tail truncated'), 'torn tail to be reported');
    expect(cluster.log(1)).toContain('fsynced data is damaged');
    expect(cluster.log(1)).toContain('corruption in the middle of the log');
    // Partition 0: only the bytes never fsynced were cut; every acknowledged record is there, and it takes writes again.
    expect(fs.statSync(seg(0)).size).toBe(size0);
    const r0 = await waitFor(async () => {
      const r = (await fetchAt('disk', 0, 0)).results[0]!;
      return r.errorCode === ErrorCode.NONE && r.highWatermark === 50 ? r : null;
    }, 'partition 0 to serve its 50 records');
    expect(r0.highWatermark).toBe(50);
    const c = new Consumer({ bootstrap: address, autoOffsetReset: 'earliest' });
    c.assign([{ topic: 'disk', partition: 0, offset: 0 }]);
    const got: string[] = [];
    while (got.length < 50) for (const r of await c.poll(1000)) got.push(r.value!.toString());
    c.close();
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `p0-${i}`));
    expect((await produce([{ topic: 'disk', partition: 0, batches: encodeBatch([{ value: Buffer.from('after') }]) }])).results[0]).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 50 });
    // Partitions 1 and 2: offline with a storage error, never served short; their files untouched for an operator (or a replica) to repair.
    for (const partition of [1, 2]) {
      expect((await fetchAt('disk', partition, 0)).results[0]!.errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
      expect((await produce([{ topic: 'disk', partition, batches: encodeBatch([{ value: Buffer.from('x') }]) }])).results[0]!.errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    }
    expect(fs.readFileSync(seg(1))).toEqual(bytes1);
    expect(fs.readFileSync(seg(2))).toEqual(bytes2);
    // Other partitions are unaffected.
    expect((await fetchAt('good', 0, 0)).results[0]!.highWatermark).toBeGreaterThanOrEqual(100);
    rpc.close();
    rpc = new RpcClient(address, 'cairn.v1.Broker');
    await expectAlive();
  });
});
