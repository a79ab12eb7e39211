/**
 * Forged node-to-node messages sent by a client that is not a cluster member (issue 15 items 1–2).
 * On the client listener the internal services do not exist; on the internal listener (a stranger
 * who found it) every forgery is refused, and after each one the cluster keeps its controller
 * leader and takes an acks=all write within 5 s. Each forgery here once stopped elections for
 * good, forced an election, put a broker into controlled shutdown for good, left a phantom broker
 * or let a stranger report a follower's progress.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Producer } from '../../src/client/producer';
import { LocalCluster } from '../../src/cli/local-cluster';
import { ErrorCode } from '../../src/common/errors';
import { createLogger } from '../../src/common/io/logger';
import { nodeId, term } from '../../src/common/types';
import { RpcClient } from '../../src/protocol/io/rpc-client';
import type { Message } from '../../src/raft/messages';
import { RaftTransport } from '../../src/raft/io/raft-transport';
import { freePorts } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

interface Quorum {
  leaderId: number;
  term: number;
  brokers: { nodeId: number; brokerEpoch: number; fenced: boolean; inControlledShutdown: boolean }[];
}

const FLAGS = { 'broker-session-timeout-ms': '3000', 'broker-heartbeat-interval-ms': '500' };
const WITHIN_MS = 5_000;

let cluster: LocalCluster;
let producer: Producer;
let admin: Admin;
let writes = 0;

const clientAddress = (id: number) => `127.0.0.1:${cluster.node(id).port}`;
const internalAddress = (id: number) => `127.0.0.1:${cluster.node(id).internalPort}`;

async function call<Res>(address: string, service: string, method: string, req: unknown): Promise<Res> {
  const rpc = new RpcClient(address, service);
  try {
    return await rpc.unary<unknown, Res>(method, req, 3_000);
  } finally {
    rpc.close();
  }
}

const quorum = () => call<Quorum>(clientAddress(1), 'cairn.v1.Admin', 'DescribeQuorum', {});

/** The requirement: a controller leader and an acknowledged acks=all write within 5 s of the forgery. */
async function stillServing(what: string): Promise<void> {
  await waitFor(async () => ((await quorum()).leaderId >= 0 ? true : null), `${what}: a controller leader`, WITHIN_MS);
  const value = `after ${what} #${++writes}`;
  await waitFor(
    async () => {
      try {
        return await producer.send({ topic: 'forged', value });
      } catch {
        return null;
      }
    },
    `${what}: an acks=all write`,
    WITHIN_MS,
  );
}

/** Sends Raft messages as a stranger would: a plain Raft/Send stream to the receiver's internal port. */
async function forgeRaft(to: number, messages: Message[], refusals: RegExp): Promise<void> {
  const before = cluster
    .log(to)
    .split('\n')
    .filter((l) => refusals.test(l)).length;
  const transport = new RaftTransport(new Map([[to, internalAddress(to)]]), createLogger({ node: 'forger' }));
  try {
    transport.send(messages);
    await waitFor(
      () =>
        cluster
          .log(to)
          .split('\n')
          .filter((l) => refusals.test(l)).length >=
          before + messages.length || null,
      `node ${to} to refuse ${messages.length} forged message(s)`,
      10_000,
    );
  } finally {
    transport.close();
  }
}

const append = (from: number, to: number, t: number): Message => ({
  type: 'AppendEntries',
  from: nodeId(from),
  to: nodeId(to),
  term: term(t),
  prevLogIndex: 0,
  prevLogTerm: term(0),
  entries: [],
  leaderCommit: 0,
});

beforeAll(async () => {
  const ports = await freePorts(6);
  cluster = new LocalCluster({ baseDir: tmpDir('cairn-forgery-'), ports: ports.slice(0, 3), internalPorts: ports.slice(3), flags: FLAGS });
  cluster.startAll();
  await cluster.waitReady(3);
  admin = new Admin({ bootstrap: cluster.bootstrap });
  await admin.createTopic({ name: 'forged', partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
  producer = new Producer({ bootstrap: cluster.bootstrap, acks: 'all', requestTimeoutMs: 2_000, deliveryTimeoutMs: 4_000 });
  await stillServing('start');
});

afterAll(async () => {
  await producer?.close();
  admin?.close();
  await cluster?.stopAll();
});

describe('a stranger on the client listener', () => {
  it('cannot address Raft, Controller or Replica at all', async () => {
    const attempts: [string, string, unknown][] = [
      ['cairn.v1.Controller', 'RegisterBroker', { brokerId: 77, incarnationId: 'x', host: 'h', port: 1 }],
      ['cairn.v1.Controller', 'BrokerHeartbeat', { brokerId: 1, brokerEpoch: 1, wantShutdown: true }],
      ['cairn.v1.Replica', 'OffsetsForLeaderEpoch', { partitions: [] }],
    ];
    for (const [service, method, req] of attempts) {
      for (const id of [1, 2, 3]) {
        await expect(call(clientAddress(id), service, method, req), `${service}/${method} on node ${id}`).rejects.toThrow(/does not serve this call/);
      }
    }
    // What the client listener does serve still answers.
    expect((await quorum()).leaderId).toBeGreaterThanOrEqual(0);
  });
});

describe('a stranger on the internal listener', () => {
  it('a forged term of 2^53 - 1 is dropped as malformed: no term moves, elections go on', async () => {
    const q = await quorum();
    const [a, b] = [1, 2, 3].filter((id) => id !== q.leaderId);
    await forgeRaft(b!, [append(a!, b!, 2 ** 53 - 1)], /malformed raft message dropped/);
    await stillServing('a forged term of 2^53 - 1');
    expect((await quorum()).term).toBe(q.term);
  });

  it('a later-term AppendEntries from a follower, a second leader of the term and a later-term answer to the leader are refused: the same leader, the same term', async () => {
    const q = await quorum();
    const [a, b] = [1, 2, 3].filter((id) => id !== q.leaderId);
    await forgeRaft(b!, [append(a!, b!, q.term + 5), append(a!, b!, q.term)], /raft message refused/);
    const answer: Message = {
      type: 'AppendEntriesResponse',
      from: nodeId(a!),
      to: nodeId(q.leaderId),
      term: term(q.term + 5),
      success: false,
      matchIndex: 0,
      rejectedIndex: 0,
      conflictIndex: 0,
      conflictTerm: term(0),
    };
    await forgeRaft(q.leaderId, [answer], /raft message refused/);
    await stillServing('forged Raft messages');
    const after = await quorum();
    expect(after.leaderId).toBe(q.leaderId);
    expect(after.term).toBe(q.term);
  });

  it('a heartbeat with a real broker epoch (public) and want_shutdown is refused; the broker stays in service', async () => {
    const q = await quorum();
    const victim = q.brokers.find((b) => b.nodeId !== q.leaderId)!;
    const res = await call<{ errorCode: number }>(internalAddress(q.leaderId), 'cairn.v1.Controller', 'BrokerHeartbeat', {
      brokerId: victim.nodeId,
      brokerEpoch: victim.brokerEpoch,
      metadataOffset: 1e9,
      wantShutdown: true,
    });
    expect(res.errorCode).toBe(ErrorCode.BROKER_ID_NOT_REGISTERED);
    await stillServing('a forged want_shutdown heartbeat');
    const after = (await quorum()).brokers.find((b) => b.nodeId === victim.nodeId)!;
    expect(after).toMatchObject({ fenced: false, inControlledShutdown: false, brokerEpoch: victim.brokerEpoch });
  });

  it('a RegisterBroker for a made-up id leaves no phantom broker behind', async () => {
    const q = await quorum();
    const res = await call<{ errorCode: number }>(internalAddress(q.leaderId), 'cairn.v1.Controller', 'RegisterBroker', { brokerId: 77, incarnationId: 'phantom', host: '127.0.0.1', port: 1 });
    expect(res.errorCode).toBe(ErrorCode.NONE);
    await stillServing('a phantom registration');
    // Fenced from the start and never heard from again: removed once its session runs out.
    await waitFor(async () => ((await quorum()).brokers.every((b) => b.nodeId !== 77) ? true : null), 'the phantom registration to be removed', 20_000);
    expect((await quorum()).brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
  });

  it('a replica fetch naming a follower with its public epoch is refused: it moves neither the high watermark nor the ISR', async () => {
    const topic = (await admin.describeTopics(['forged']))[0]!;
    const p = topic.partitions[0]!;
    const follower = p.replicas.find((r) => r !== p.leaderId)!;
    const epoch = (await quorum()).brokers.find((b) => b.nodeId === follower)!.brokerEpoch;
    const rpc = new RpcClient(internalAddress(p.leaderId), 'cairn.v1.Replica');
    try {
      const stream = rpc.bidi<unknown, { results: { errorCode: number }[] }>('Fetch');
      const answer = new Promise<{ results: { errorCode: number }[] }>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
      });
      stream.write({
        correlationId: 1,
        replicaId: follower,
        brokerEpoch: epoch,
        maxWaitMs: 0,
        partitions: [{ topic: 'forged', partition: 0, fetchOffset: 1_000_000, durableOffset: 1_000_000, currentLeaderEpoch: p.leaderEpoch, lastFetchedEpoch: p.leaderEpoch }],
      });
      const res = await answer;
      stream.end();
      expect(res.results[0]!.errorCode).toBe(ErrorCode.STALE_BROKER_EPOCH);
    } finally {
      rpc.close();
    }
    await stillServing('a forged replica fetch');
  });
});
