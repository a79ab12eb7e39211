import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { ErrorCode } from '../../src/common/errors';
import type {
  ConsumerGroupHeartbeatRequest,
  ConsumerGroupHeartbeatResponse,
  DescribeGroupsResponse,
  FindCoordinatorResponse,
  OffsetCommitResponse,
  OffsetFetchResponse,
  PartitionSet,
  ProduceResponse,
} from '../../src/protocol/messages';
import { RpcClient } from '../../src/protocol/io/rpc-client';
import { encodeBatch } from '../../src/record/batch';
import { FAST_FAILOVER_FLAGS, TestCluster } from '../helpers/processes';
import { waitFor } from '../helpers/tmp';

let cluster: TestCluster | null = null;
const clients: RpcClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.stopAll();
  cluster = null;
});

const FLAGS = { ...FAST_FAILOVER_FLAGS, 'offsets-topic-num-partitions': '4', 'group-consumer-session-timeout-ms': '6000', 'group-consumer-heartbeat-interval-ms': '500' };

const count = (s: PartitionSet | null) => (s?.topics ?? []).reduce((n, t) => n + t.partitions.length, 0);
const pairs = (s: PartitionSet | null) => (s?.topics ?? []).flatMap((t) => t.partitions.map((p) => `${t.topic}-${p}`));

function rpc(address: string): RpcClient {
  const c = new RpcClient(address, 'cairn.v1.Broker');
  clients.push(c);
  return c;
}

/** The coordinator of `group`, asked at `via` until one answers (the first ask creates __consumer_offsets). */
async function findCoordinator(via: RpcClient, group: string, not = -1): Promise<FindCoordinatorResponse> {
  let found: FindCoordinatorResponse | null = null;
  await waitFor(
    async () => {
      found = await via.unary<object, FindCoordinatorResponse>('FindCoordinator', { key: group }).catch(() => null);
      return found !== null && found.errorCode === ErrorCode.NONE && found.nodeId !== not;
    },
    `a coordinator for ${group}`,
    60_000,
  );
  return found!;
}

function heartbeat(c: RpcClient, memberId: string, memberEpoch: number, owned: PartitionSet | null): Promise<ConsumerGroupHeartbeatResponse> {
  const req: ConsumerGroupHeartbeatRequest = {
    groupId: 'g',
    memberId,
    memberEpoch,
    instanceId: '',
    rebalanceTimeoutMs: memberEpoch === 0 ? 30_000 : -1,
    subscribedTopicNames: memberEpoch === 0 ? { names: ['orders'] } : null,
    serverAssignor: '',
    owned,
    clientId: 'groups-test',
  };
  return c.unary<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse>('ConsumerGroupHeartbeat', req);
}

/** A heartbeat retried while the coordinator loads (COORDINATOR_LOAD_IN_PROGRESS is retriable). */
async function heartbeatLoaded(c: RpcClient, memberId: string, memberEpoch: number, owned: PartitionSet | null): Promise<ConsumerGroupHeartbeatResponse> {
  let res: ConsumerGroupHeartbeatResponse | null = null;
  await waitFor(async () => (res = await heartbeat(c, memberId, memberEpoch, owned)).errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 'the coordinator loaded', 30_000);
  return res!;
}

describe('consumer groups with real processes', () => {
  it('a group coordinator moves partitions incrementally, keeps offsets, and comes back from its broker being killed', async () => {
    cluster = await TestCluster.start('cairn-groups-', 3, FLAGS);
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    await admin.createTopic({ name: 'orders', partitions: 6, replicationFactor: 3 });
    const any = rpc(`127.0.0.1:${cluster.nodes[0]!.port}`);

    const first = await findCoordinator(any, 'g');
    const coordinator = rpc(`${first.host}:${first.port}`);

    // a joins alone and gets everything.
    const a1 = await heartbeatLoaded(coordinator, 'member-a', 0, { topics: [] });
    expect(a1.errorCode).toBe(ErrorCode.NONE);
    expect(count(a1.assignment)).toBe(6);
    // b joins: nothing yet, a still owns every partition.
    const b1 = await heartbeat(coordinator, 'member-b', 0, { topics: [] });
    expect(b1).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: 2 });
    expect(count(b1.assignment)).toBe(0);
    // a is asked to give up half, says it has; then b gets them, and no partition is in both.
    const a2 = await heartbeat(coordinator, 'member-a', 1, a1.assignment);
    expect(count(a2.assignment)).toBe(3);
    const a3 = await heartbeat(coordinator, 'member-a', 1, a2.assignment);
    expect(a3.memberEpoch).toBe(2);
    const b2 = await heartbeat(coordinator, 'member-b', 2, { topics: [] });
    expect(count(b2.assignment)).toBe(3);
    expect(pairs(b2.assignment).filter((p) => pairs(a2.assignment).includes(p))).toEqual([]);

    // Offsets: committed with the member epoch; an older epoch is refused.
    const commit = (memberId: string, memberEpoch: number, partition: number, offset: number) =>
      coordinator.unary<object, OffsetCommitResponse>('OffsetCommit', { groupId: 'g', memberId, memberEpoch, offsets: [{ topic: 'orders', partition, offset, leaderEpoch: -1, metadata: 'm' }] });
    expect((await commit('member-a', 2, 0, 17)).results[0]!.errorCode).toBe(ErrorCode.NONE);
    expect((await commit('member-b', 2, 5, 23)).results[0]!.errorCode).toBe(ErrorCode.NONE);
    expect((await commit('member-a', 1, 0, 99)).errorCode).toBe(ErrorCode.STALE_MEMBER_EPOCH);

    // Clients cannot write the group log themselves.
    const forged = await any.unary<object, ProduceResponse>('Produce', {
      correlationId: 1,
      acks: -1,
      timeoutMs: 5_000,
      partitions: [{ topic: '__consumer_offsets', partition: 0, batches: encodeBatch([{ key: Buffer.from('[1,"group","g"]'), value: null }]) }],
    });
    expect(forged.results[0]!.errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);

    // kill -9 the coordinator's broker: another broker leads that partition, reloads the group, and has the offsets.
    await cluster.kill(first.nodeId);
    const survivor = rpc(cluster.nodes.filter((n) => n.id !== first.nodeId).map((n) => `127.0.0.1:${n.port}`)[0]!);
    const second = await findCoordinator(survivor, 'g', first.nodeId);
    const next = rpc(`${second.host}:${second.port}`);
    let fetched: OffsetFetchResponse | null = null;
    await waitFor(
      async () => (fetched = await next.unary<object, OffsetFetchResponse>('OffsetFetch', { groupId: 'g', partitions: null })).errorCode === ErrorCode.NONE,
      'offsets from the new coordinator',
      30_000,
    );
    expect(fetched!.offsets).toEqual([
      { topic: 'orders', partition: 0, offset: 17, leaderEpoch: -1, metadata: 'm' },
      { topic: 'orders', partition: 5, offset: 23, leaderEpoch: -1, metadata: 'm' },
    ]);
    // The members go on where they were: same epochs, same partitions.
    const b3 = await heartbeatLoaded(next, 'member-b', 2, b2.assignment);
    expect(b3).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: 2, assignment: null });
    const described = await next.unary<object, DescribeGroupsResponse>('DescribeGroups', { groupIds: ['g'] });
    expect(described.groups[0]).toMatchObject({ groupId: 'g', errorCode: ErrorCode.NONE, state: 'stable', groupEpoch: 2 });
    expect(described.groups[0]!.members.map((m) => m.memberId).sort()).toEqual(['member-a', 'member-b']);
  }, 180_000);
});
