import { describe, expect, it } from 'vitest';
import { ErrorCode, SeededRandom } from '../../../src/common';
import { type ConsumerHeartbeatRequest, DEFAULT_GROUP_COORDINATOR_CONFIG, GroupCoordinator, type GroupRecord, recordKey } from '../../../src/coordinator';
import { LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH, type TopicPartitions } from '../../../src/common';
import { countOf, intersects } from '../../../src/common/topic-partitions';

const topics = { partitionCount: (t: string) => ({ orders: 6, audit: 2 })[t] };
const config = { ...DEFAULT_GROUP_COORDINATOR_CONFIG, sessionTimeoutMs: 3000 };

function coordinator(records: readonly GroupRecord[] = []): { c: GroupCoordinator; log: GroupRecord[] } {
  const c = new GroupCoordinator(config, new SeededRandom(7));
  for (const r of records) c.replay(r);
  c.onLoaded(0);
  return { c, log: [...records] };
}

function hb(memberId: string, memberEpoch: number, owned: TopicPartitions | null, extra: Partial<ConsumerHeartbeatRequest> = {}): ConsumerHeartbeatRequest {
  return {
    groupId: 'g',
    memberId,
    memberEpoch,
    instanceId: null,
    rebalanceTimeoutMs: memberEpoch === 0 ? 10_000 : -1,
    subscribedTopicNames: memberEpoch === 0 ? ['orders'] : null,
    serverAssignor: null,
    ownedPartitions: owned,
    clientId: 'test',
    clientHost: '127.0.0.1',
    ...extra,
  };
}

describe('GroupCoordinator heartbeats', () => {
  it('moves partitions incrementally: revoked from their owner before anyone else gets them', () => {
    const { c } = coordinator();
    const a1 = c.heartbeat(hb('a', 0, {}), topics, 0).response;
    expect(a1).toMatchObject({ errorCode: ErrorCode.NONE, memberId: 'a', memberEpoch: 1, assignment: { orders: [0, 1, 2, 3, 4, 5] } });

    // b joins: the group epoch moves to 2; b gets nothing yet, every partition is still a's.
    const b1 = c.heartbeat(hb('b', 0, {}), topics, 10).response;
    expect(b1).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: 2, assignment: {} });
    // a is asked to give up half; it stays at epoch 1 until it says it has.
    const a2 = c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }), topics, 20).response;
    expect(a2.memberEpoch).toBe(1);
    const kept = a2.assignment!;
    expect(countOf(kept)).toBe(3);
    expect(c.describeGroup('g')!.members.find((m) => m.memberId === 'a')!.state).toBe('unrevoked');
    // b asks again: still nothing, a has not said it gave them up.
    expect(c.heartbeat(hb('b', 2, {}), topics, 30).response.assignment).toBeNull();
    // a reports that it owns only what it kept: it moves to epoch 2, and b gets the rest.
    const a3 = c.heartbeat(hb('a', 1, kept), topics, 40).response;
    expect(a3).toMatchObject({ memberEpoch: 2, assignment: null });
    const b2 = c.heartbeat(hb('b', 2, {}), topics, 50).response;
    expect(countOf(b2.assignment!)).toBe(3);
    expect(intersects(b2.assignment!, kept)).toBe(false);
    expect(c.describeGroup('g')!.state).toBe('stable');
  });

  it('fences a wrong epoch, but takes the previous one from a member that missed an answer', () => {
    const { c } = coordinator();
    c.heartbeat(hb('a', 0, {}), topics, 0);
    c.heartbeat(hb('b', 0, {}), topics, 0);
    const a = c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }), topics, 0).response;
    c.heartbeat(hb('a', 1, a.assignment!), topics, 0); // a is at epoch 2 now
    expect(c.heartbeat(hb('a', 7, a.assignment!), topics, 0).response.errorCode).toBe(ErrorCode.FENCED_MEMBER_EPOCH);
    // Epoch 1 again, owning nothing it does not have: the answer to its last heartbeat was lost.
    expect(c.heartbeat(hb('a', 1, a.assignment!), topics, 0).response).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: 2 });
    // Epoch 1 claiming partitions it was never given: fenced.
    expect(c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }), topics, 0).response.errorCode).toBe(ErrorCode.FENCED_MEMBER_EPOCH);
    expect(c.heartbeat(hb('nobody', 3, {}), topics, 0).response.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('gives a static member that comes back under a new member id its partitions and epoch, without a rebalance', () => {
    const { c } = coordinator();
    const join = (id: string) => c.heartbeat(hb(id, 0, {}, { instanceId: 'host-1' }), topics, 0).response;
    expect(join('a').assignment).toEqual({ orders: [0, 1, 2, 3, 4, 5] });
    const epoch = c.describeGroup('g')!.groupEpoch;
    // A second process with the same instance id while the first still runs: refused.
    expect(join('a2').errorCode).toBe(ErrorCode.UNRELEASED_INSTANCE_ID);
    expect(c.heartbeat(hb('a', LEAVE_GROUP_STATIC_MEMBER_EPOCH, null, { instanceId: 'host-1' }), topics, 0).response.errorCode).toBe(ErrorCode.NONE);
    const back = join('a2');
    expect(back).toMatchObject({ errorCode: ErrorCode.NONE, memberId: 'a2', memberEpoch: 1, assignment: { orders: [0, 1, 2, 3, 4, 5] } });
    expect(c.describeGroup('g')!.groupEpoch).toBe(epoch);
    expect(c.describeGroup('g')!.members.map((m) => m.memberId)).toEqual(['a2']);
  });

  it('removes a member whose session ran out, and its partitions go to the others', () => {
    const { c } = coordinator();
    c.heartbeat(hb('a', 0, {}), topics, 0);
    const b = c.heartbeat(hb('b', 0, {}), topics, 0).response;
    const a = c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }), topics, 0).response;
    c.heartbeat(hb('a', 1, a.assignment!), topics, 0);
    c.heartbeat(hb('b', b.memberEpoch, {}), topics, 1000);
    expect(c.tick(2999).response).toEqual([]);
    expect(c.tick(3000).response).toEqual([{ groupId: 'g', memberId: 'a', reason: 'session timeout' }]);
    expect(c.heartbeat(hb('b', 2, {}), topics, 3001).response.assignment).toEqual({ orders: [0, 1, 2, 3, 4, 5] });
  });

  it('removes a member that does not give up partitions within its rebalance timeout, though it heartbeats', () => {
    const { c } = coordinator();
    c.heartbeat(hb('a', 0, {}, { rebalanceTimeoutMs: 500 }), topics, 0);
    c.heartbeat(hb('b', 0, {}), topics, 0);
    c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }), topics, 100); // asked to give up three
    c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }), topics, 400); // still has them
    expect(c.tick(599).response).toEqual([]);
    expect(c.tick(600).response).toEqual([{ groupId: 'g', memberId: 'a', reason: 'rebalance timeout' }]);
    expect(c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }), topics, 700).response.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('restarts the rebalance timeout when a member that gave up partitions is asked for more', () => {
    const { c } = coordinator();
    const all = { orders: [0, 1, 2, 3, 4, 5] };
    c.heartbeat(hb('a', 0, {}, { rebalanceTimeoutMs: 500 }), topics, 0);
    c.heartbeat(hb('b', 0, {}), topics, 0);
    const first = c.heartbeat(hb('a', 1, all), topics, 100).response.assignment!; // give up 3, by 600
    c.heartbeat(hb('c', 0, {}), topics, 150); // a's share shrinks again
    const second = c.heartbeat(hb('a', 1, first), topics, 400).response.assignment!; // done; now give up 1 more, by 900
    expect(countOf(second)).toBe(2);
    expect(c.tick(650).response).toEqual([]);
    expect(c.tick(900).response).toEqual([{ groupId: 'g', memberId: 'a', reason: 'rebalance timeout' }]);
  });

  it('a changed subscription is a new group epoch and a new assignment', () => {
    const { c } = coordinator();
    c.heartbeat(hb('a', 0, {}), topics, 0);
    const changed = c.heartbeat(hb('a', 1, { orders: [0, 1, 2, 3, 4, 5] }, { subscribedTopicNames: ['audit', 'orders'] }), topics, 10).response;
    expect(changed).toMatchObject({ memberEpoch: 2, assignment: { audit: [0, 1], orders: [0, 1, 2, 3, 4, 5] } });
    // A topic the group already reads: the set of topics does not change, the assignment must.
    c.heartbeat(hb('b', 0, {}, { subscribedTopicNames: ['orders'] }), topics, 20);
    const epoch = c.describeGroup('g')!.groupEpoch;
    c.heartbeat(hb('b', 3, {}, { subscribedTopicNames: ['audit', 'orders'] }), topics, 30);
    expect(c.describeGroup('g')!.groupEpoch).toBe(epoch + 1);
  });

  it('a member that leaves frees its partitions at once', () => {
    const { c } = coordinator();
    c.heartbeat(hb('a', 0, {}), topics, 0);
    expect(c.heartbeat(hb('a', LEAVE_GROUP_MEMBER_EPOCH, null), topics, 0).response).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: -1 });
    expect(c.describeGroup('g')).toMatchObject({ state: 'empty', members: [] });
    expect(c.heartbeat(hb('b', 0, {}), topics, 0).response.assignment).toEqual({ orders: [0, 1, 2, 3, 4, 5] });
  });

  it('refuses bad heartbeats with a typed error and writes nothing', () => {
    const { c } = coordinator();
    const cases: [Partial<ConsumerHeartbeatRequest> & { memberEpoch?: number }, ErrorCode][] = [
      [{ groupId: '' }, ErrorCode.INVALID_GROUP_ID],
      [{ serverAssignor: 'roulette' }, ErrorCode.UNSUPPORTED_ASSIGNOR],
      [{ subscribedTopicNames: null }, ErrorCode.INVALID_REQUEST],
      [{ subscribedTopicNames: [''] }, ErrorCode.INVALID_TOPIC_EXCEPTION],
      [{ rebalanceTimeoutMs: 0 }, ErrorCode.INVALID_REQUEST],
      [{ ownedPartitions: { orders: [1] } }, ErrorCode.INVALID_REQUEST],
      [{ memberEpoch: -5 }, ErrorCode.INVALID_REQUEST],
      [{ memberId: 'x'.repeat(300) }, ErrorCode.INVALID_REQUEST],
    ];
    for (const [patch, code] of cases) {
      const { records, response } = c.heartbeat({ ...hb('a', patch.memberEpoch ?? 0, {}), ...patch }, topics, 0);
      expect(response.errorCode, JSON.stringify(patch).slice(0, 80)).toBe(code);
      expect(records).toEqual([]);
    }
    expect(c.listGroups()).toEqual([]);
  });
});

describe('GroupCoordinator offsets', () => {
  it('commits with the member epoch, refuses a stale one, and keeps offsets through a failover and compaction', () => {
    const { c, log } = coordinator();
    const add = (r: { records: GroupRecord[] }) => log.push(...r.records);
    const a = c.heartbeat(hb('a', 0, {}), topics, 0);
    add(a);
    const commit = (memberEpoch: number, offset: number, metadata = '') =>
      c.commitOffsets({ groupId: 'g', memberId: 'a', memberEpoch, offsets: [{ topic: 'orders', partition: 2, offset, leaderEpoch: 4, metadata }] }, 100);
    expect(commit(9, 10).response.errorCode).toBe(ErrorCode.STALE_MEMBER_EPOCH);
    expect(commit(0, 10).response.errorCode).toBe(ErrorCode.STALE_MEMBER_EPOCH);
    const ok = commit(1, 10);
    expect(ok.response.results).toEqual([{ topic: 'orders', partition: 2, errorCode: ErrorCode.NONE, errorMessage: '' }]);
    add(ok);
    add(commit(1, 42, 'checkpoint'));
    expect(commit(1, 43, 'x'.repeat(5000)).response.results[0]!.errorCode).toBe(ErrorCode.OFFSET_METADATA_TOO_LARGE);
    expect(commit(1, -3).response.results[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    // Outside the group's membership: refused while it has members.
    expect(c.commitOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, offsets: [] }, 0).response.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);

    const want = [{ topic: 'orders', partition: 2, offset: 42, leaderEpoch: 4, metadata: 'checkpoint' }];
    expect(c.fetchOffsets('g', null)).toEqual(want);
    expect(c.fetchOffsets('g', { orders: [2, 3] })).toEqual([...want, { topic: 'orders', partition: 3, offset: -1, leaderEpoch: -1, metadata: '' }]);
    const last = new Map(log.map((r, i) => [recordKey(r), i]));
    for (const records of [log, log.filter((r, i) => last.get(recordKey(r)) === i)]) {
      const { c: next } = coordinator(records);
      expect(next.fetchOffsets('g', null)).toEqual(want);
      expect(next.describeGroup('g')).toEqual(c.describeGroup('g'));
    }
  });

  it('a group of offsets only takes commits from outside, and is deleted only when empty', () => {
    const { c } = coordinator();
    expect(c.commitOffsets({ groupId: 'tool', memberId: '', memberEpoch: -1, offsets: [{ topic: 'audit', partition: 0, offset: 5, leaderEpoch: -1, metadata: '' }] }, 0).response.errorCode).toBe(
      ErrorCode.NONE,
    );
    expect(c.listGroups()).toEqual([{ groupId: 'tool', state: 'empty', members: 0 }]);
    c.heartbeat({ ...hb('a', 0, {}), groupId: 'tool' }, topics, 0);
    expect(c.deleteGroup('tool').response.errorCode).toBe(ErrorCode.NON_EMPTY_GROUP);
    c.heartbeat({ ...hb('a', LEAVE_GROUP_MEMBER_EPOCH, null), groupId: 'tool' }, topics, 0);
    expect(c.deleteGroup('tool').response.errorCode).toBe(ErrorCode.NONE);
    expect(c.listGroups()).toEqual([]);
    expect(c.fetchOffsets('tool', null)).toEqual([]);
    expect(c.deleteGroup('tool').response.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
  });
});

describe('replaying group records', () => {
  it('throws on records that would give a partition two owners (a bug in whoever wrote them)', () => {
    const { c } = coordinator();
    const current = (memberId: string): GroupRecord => ({
      kind: 'current',
      groupId: 'g',
      memberId,
      value: { memberEpoch: 1, previousMemberEpoch: 0, state: 'stable', assigned: { orders: [1] }, pendingRevocation: {} },
    });
    c.replay(current('a'));
    expect(() => c.replay(current('b'))).toThrow(/two owners/);
  });
});
