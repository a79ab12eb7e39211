/**
 * The gRPC contract as a client in another language meets it: a plain client generated from
 * proto/ (here @grpc/proto-loader with grpc's defaults: 4 MiB largest message, no Cairn code),
 * the standard health service, and server reflection without any .proto file.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Producer } from '../../src/client/producer';
import { checkHealth } from '../../src/protocol/io/health-client';
import { protoDir, protoRoot } from '../../src/protocol/io/rpc';
import { freePorts, TestCluster } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

/**
 * A message or package as the plain client sees it: whatever protobufjs decoded, with no Cairn types —
 * loosely typed on purpose, as JavaScript generated from the .proto would be.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the point of this test is a client without our types
type Dynamic = any;
type Callback = (err: grpc.ServiceError | null, res: Dynamic) => void;
type PlainClient = grpc.Client & Record<string, (req: unknown, cb: Callback) => void>;

/** A client as protoc-generated code would build it: the .proto alone, grpc's default channel options. */
function plainClient(address: string, service: 'Broker' | 'Admin'): PlainClient {
  const def = protoLoader.loadSync(path.join(protoDir(), 'cairn.proto'), { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as Dynamic;
  return new pkg.cairn.v1[service](address, grpc.credentials.createInsecure()) as PlainClient;
}

function call(client: PlainClient, method: string, req: unknown): Promise<Dynamic> {
  return new Promise((resolve, reject) => client[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
}

let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(tmpDir('cairn-contract-'), await freePorts(3));
});

afterAll(async () => {
  await cluster?.stopAll();
});

describe('health (grpc.health.v1.Health)', () => {
  it('is NOT_SERVING on a node that has not caught up with the metadata log, and SERVING once it has', async () => {
    // One of three voters alone has no quorum: it answers on its port but cannot register.
    cluster.start(1);
    const first = `127.0.0.1:${cluster.node(1).port}`;
    await waitFor(async () => (await checkHealth(first)) !== 'UNREACHABLE', 'node 1 answering');
    expect(await checkHealth(first)).toBe('NOT_SERVING');
    expect(await checkHealth(first, 'cairn.v1.Broker')).toBe('NOT_SERVING');
    expect(await checkHealth(first, 'cairn.v1.Controller')).toBe('NOT_SERVING');
    expect(await checkHealth(first, 'no.such.Service')).toBe('SERVICE_UNKNOWN');
    cluster.start(2);
    cluster.start(3);
    await cluster.waitReady();
    for (const n of cluster.nodes) {
      const address = `127.0.0.1:${n.port}`;
      await waitFor(async () => (await checkHealth(address)) === 'SERVING', `node ${n.id} SERVING`);
      for (const service of ['cairn.v1.Broker', 'cairn.v1.Admin', 'cairn.v1.Controller', 'cairn.v1.Raft', 'cairn.v1.Replica']) {
        expect(await checkHealth(address, service), `${service} on node ${n.id}`).toBe('SERVING');
      }
    }
  });
});

describe('server reflection', () => {
  it('lists and describes every service without the .proto files', async () => {
    const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const def = protoLoader.loadSync(reflectionProto, { keepCase: true, longs: Number, defaults: true });
    const Reflection = (grpc.loadPackageDefinition(def) as Dynamic).grpc.reflection.v1.ServerReflection;
    const client = new Reflection(`127.0.0.1:${cluster.node(1).port}`, grpc.credentials.createInsecure());
    const ask = (req: object) =>
      new Promise<Dynamic>((resolve, reject) => {
        const stream = client.ServerReflectionInfo();
        stream.once('data', (res: unknown) => {
          stream.end();
          resolve(res);
        });
        stream.once('error', reject);
        stream.write(req);
      });
    const listed = await ask({ list_services: '' });
    const names = listed.list_services_response.service.map((s: { name: string }) => s.name).sort();
    expect(names).toEqual(['cairn.v1.Admin', 'cairn.v1.Broker', 'cairn.v1.Controller', 'cairn.v1.Raft', 'cairn.v1.Replica', 'grpc.health.v1.Health']);
    // describe: the file that holds each service, with its dependencies, is enough to call it.
    // What reflection describes must be what proto/ declares (test/unit/protocol/proto.test.ts checks the methods clients use).
    const declared = (name: string) => Object.keys(protoRoot().lookupService(name).methods);
    const expectations: Record<string, string[]> = {
      'cairn.v1.Broker': declared('cairn.v1.Broker'),
      'cairn.v1.Admin': declared('cairn.v1.Admin'),
      'cairn.v1.Raft': ['Send'],
      'grpc.health.v1.Health': ['Check', 'Watch', 'List'],
    };
    for (const [service, methods] of Object.entries(expectations)) {
      const res = await ask({ file_containing_symbol: service });
      const files = res.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => (descriptor.FileDescriptorProto as Dynamic).decode(b));
      const root = (protobuf.Root as Dynamic).fromDescriptor({ file: files }) as protobuf.Root;
      const found = root.lookupService(service);
      expect(Object.keys(found.methods), service).toEqual(methods);
    }
    const fetch = await ask({ file_containing_symbol: 'cairn.v1.FetchPartition' });
    const files = fetch.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => (descriptor.FileDescriptorProto as Dynamic).decode(b));
    const root = (protobuf.Root as Dynamic).fromDescriptor({ file: files }) as protobuf.Root;
    expect(root.lookupType('cairn.v1.FetchPartition').fields.currentLeaderEpoch).toBeDefined();
    client.close();
  });
});

describe('a plain gRPC client', () => {
  const TOPIC = 'plain';
  const PER_PARTITION = 3_000;
  const VALUE = 'v'.repeat(1_000); // ~3 MB per partition: three partitions are far above 4 MiB

  beforeAll(async () => {
    for (const n of cluster.nodes) if (!cluster.isRunning(n.id)) cluster.start(n.id);
    await cluster.waitReady();
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    await admin.createTopic({ name: TOPIC, partitions: 3 });
    admin.close();
    const producer = new Producer({ bootstrap: cluster.bootstrap, acks: 'all' });
    const sends: Promise<unknown>[] = [];
    for (let p = 0; p < 3; p++) for (let i = 0; i < PER_PARTITION; i++) sends.push(producer.send({ topic: TOPIC, partition: p, key: `${p}-${i}`, value: VALUE }));
    await Promise.all(sends);
    await producer.close();
  });

  async function leaderOf(partition: number): Promise<{ leaderId: number; leaderEpoch: number; address: string }> {
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    try {
      const [t] = await admin.describeTopics([TOPIC]);
      const p = t!.partitions[partition]!;
      return { leaderId: p.leaderId, leaderEpoch: p.leaderEpoch, address: `127.0.0.1:${cluster.node(p.leaderId).port}` };
    } finally {
      admin.close();
    }
  }

  it('fetches decoded records of three partitions within its default 4 MiB, records only, and reads everything exactly once', async () => {
    const seen = new Map<number, number[]>();
    const next = [0, 0, 0];
    for (let round = 0; round < 200 && next.some((o) => o < PER_PARTITION); round++) {
      const leaders = await Promise.all([0, 1, 2].map(leaderOf));
      for (const address of new Set(leaders.map((l) => l.address))) {
        const partitions = [0, 1, 2].filter((p) => leaders[p]!.address === address && next[p]! < PER_PARTITION);
        if (partitions.length === 0) continue;
        const client = plainClient(address, 'Broker');
        // No max_bytes, no partition_max_bytes, no current_leader_epoch: every default.
        const res = await call(client, 'Fetch', { decode_records: true, partitions: partitions.map((p) => ({ topic: TOPIC, partition: p, fetch_offset: next[p] })) });
        client.close();
        for (const r of res.results) {
          expect(r.error_code ?? 'NONE', r.error_message).toBe('NONE');
          expect(r.batches?.length ?? 0, 'a decoded response carries no batches').toBe(0);
          const offsets = (r.records ?? []).map((x: { offset?: number }) => x.offset ?? 0);
          seen.set(r.partition ?? 0, [...(seen.get(r.partition ?? 0) ?? []), ...offsets]);
          expect(r.next_fetch_offset).toBe(offsets.length > 0 ? offsets[offsets.length - 1] + 1 : next[r.partition ?? 0]);
          next[r.partition ?? 0] = r.next_fetch_offset;
        }
      }
    }
    for (let p = 0; p < 3; p++) expect(seen.get(p), `partition ${p}`).toEqual(Array.from({ length: PER_PARTITION }, (_, i) => i));
  });

  it('a response never exceeds the max_bytes asked for, except for one whole batch larger than it', async () => {
    const { address } = await leaderOf(0);
    const client = plainClient(address, 'Broker');
    const Response = protobuf.loadSync(path.join(protoDir(), 'cairn.proto')).lookupType('cairn.v1.FetchResponse');
    const sizeOf = (res: object) => Response.encode(Response.fromObject(res)).finish().length;
    const cases: [number, boolean][] = [
      [20_000, true],
      [300_000, true],
      [300_000, false],
      [1_000_000, false],
    ];
    for (const [maxBytes, decode] of cases) {
      const res = await call(client, 'Fetch', { max_bytes: maxBytes, decode_records: decode, partitions: [0, 1, 2].map((p) => ({ topic: TOPIC, partition: p, fetch_offset: 5 })) });
      const size = sizeOf(res);
      expect(size, `max_bytes ${maxBytes}, decode ${decode}`).toBeLessThanOrEqual(maxBytes);
      expect(size, 'the response is not empty').toBeGreaterThan(maxBytes / 4);
    }
    // Batches of about 64 KiB: a smaller max_bytes still returns the first one whole (progress).
    const small = await call(client, 'Fetch', { max_bytes: 1_000, partitions: [{ topic: TOPIC, partition: 0, fetch_offset: 5 }] });
    expect(small.results[0].batches.length).toBeGreaterThan(1_000);
    expect(small.results[0].next_fetch_offset).toBeGreaterThan(5);
    client.close();
  });

  it('leaves current_leader_epoch out after a leader change and is not fenced (absent means not checked)', async () => {
    const before = await leaderOf(0);
    await cluster.kill(before.leaderId);
    const after = await waitFor(async () => {
      const l = await leaderOf(0);
      return l.leaderId >= 0 && l.leaderId !== before.leaderId ? l : null;
    }, 'a new leader of partition 0');
    expect(after.leaderEpoch).toBeGreaterThan(0);
    const client = plainClient(after.address, 'Broker');
    const fetched = await call(client, 'Fetch', { partitions: [{ topic: TOPIC, partition: 0, fetch_offset: 0 }] });
    expect(fetched.results[0].error_code ?? 'NONE', fetched.results[0].error_message).toBe('NONE');
    expect(fetched.results[0].batches.length).toBeGreaterThan(0);
    const listed = await call(client, 'ListOffsets', { partitions: [{ topic: TOPIC, partition: 0, timestamp_ms: -1 }] });
    expect(listed.results[0].error_code ?? 'NONE', listed.results[0].error_message).toBe('NONE');
    expect(listed.results[0].offset).toBe(PER_PARTITION);
    // An epoch given explicitly is still checked.
    const fenced = await call(client, 'Fetch', { partitions: [{ topic: TOPIC, partition: 0, fetch_offset: 0, current_leader_epoch: after.leaderEpoch - 1 }] });
    expect(fenced.results[0].error_code).toBe('FENCED_LEADER_EPOCH');
    client.close();
    cluster.start(before.leaderId);
  });
});
