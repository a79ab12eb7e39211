import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { SeededRandom } from '../../../src/common/random';
import { ControllerCore, type ControllerCoreConfig, type ControllerTask } from '../../../src/controller/controller-core';
import type { MetadataImage } from '../../../src/metadata/image';
import { apply, withBrokers, withPartition } from './helpers';

const SESSION_MS = 9_000;
const REBALANCE_MS = 300_000;

function core(over: Partial<ControllerCoreConfig> = {}, seed = 1): ControllerCore {
  return new ControllerCore(
    {
      nodeId: 1,
      brokerSessionTimeoutMs: SESSION_MS,
      uncleanLeaderElection: false,
      autoLeaderRebalance: true,
      leaderImbalanceCheckIntervalMs: REBALANCE_MS,
      topicDefaults: { numPartitions: 1, replicationFactor: -1 },
      ...over,
    },
    new SeededRandom(seed),
  );
}

const kinds = (tasks: ControllerTask[]) => tasks.map((t) => t.kind);
const heartbeat = (c: ControllerCore, image: MetadataImage, id: number, nowMs: number) =>
  c.brokerHeartbeat(image, { brokerId: id, brokerEpoch: image.brokers.get(id)!.epoch, incarnationId: `inc-${id}`, metadataOffset: image.offset, wantFence: false, wantShutdown: false }, nowMs);

describe('ControllerCore.tick: activation', () => {
  it('does nothing until the log makes this node leader, then activates once and names the cluster', () => {
    const c = core();
    const image = withBrokers(2);
    expect(c.tick(0, image, false)).toEqual({ transition: null, tasks: [] });
    expect(c.isActive).toBe(false);
    const first = c.tick(1_000, image, true);
    expect(first.transition).toBe('activated');
    expect(kinds(first.tasks)).toEqual(['ensureClusterId']);
    expect(c.isActive).toBe(true);
    const named = c.runTask(image, first.tasks[0]!);
    expect(named.records).toEqual([{ type: 'ClusterId', clusterId: (first.tasks[0] as { clusterId: string }).clusterId }]);
    expect(c.tick(1_250, apply(image, named.records), true)).toEqual({ transition: null, tasks: [] });
    // Losing the quorum's leadership resigns; the next activation names no cluster that has a name.
    expect(c.tick(1_500, apply(image, named.records), false).transition).toBe('resigned');
    expect(c.tick(1_750, apply(image, named.records), true)).toEqual({ transition: 'activated', tasks: [] });
  });

  it('the cluster id is the same for the same seed and time (replayable)', () => {
    const image = withBrokers(1);
    expect(core({}, 7).tick(5, image, true).tasks).toEqual(core({}, 7).tick(5, image, true).tasks);
    expect(core({}, 7).tick(5, image, true).tasks).not.toEqual(core({}, 8).tick(5, image, true).tasks);
  });

  it('activation restarts every session: a broker last heard long before is not fenced for one timeout after', () => {
    const c = core();
    const image = withBrokers(2);
    c.sessionStarted(2, 0);
    c.tick(100_000, image, true);
    expect(kinds(c.tick(100_000 + SESSION_MS, image, true).tasks)).toEqual([]);
    expect(c.tick(100_001 + SESSION_MS, image, true).tasks).toEqual([{ kind: 'fenceExpired', nowMs: 100_001 + SESSION_MS, brokers: [1, 2] }]);
  });
});

describe('ControllerCore.tick: fencing', () => {
  it('fences a broker after its session timeout and not before; a heartbeat renews the session', () => {
    const c = core();
    const image = withBrokers(2);
    c.tick(0, image, true);
    heartbeat(c, image, 1, 5_000);
    expect(kinds(c.tick(SESSION_MS, image, true).tasks)).toEqual([]);
    const due = c.tick(SESSION_MS + 1, image, true).tasks;
    expect(due).toEqual([{ kind: 'fenceExpired', nowMs: SESSION_MS + 1, brokers: [2] }]);
    const fenced = c.runTask(image, due[0]!);
    expect(fenced.response).toEqual({ kind: 'fenceExpired', fenced: [2] });
    expect(fenced.records).toEqual([{ type: 'BrokerRegistrationChange', brokerId: 2, brokerEpoch: 2, fenced: true }]);
    expect(kinds(c.tick(5_000 + SESSION_MS, image, true).tasks)).toEqual(['fenceExpired']);
    expect(c.tick(5_001 + SESSION_MS, image, true).tasks).toEqual([{ kind: 'fenceExpired', nowMs: 5_001 + SESSION_MS, brokers: [1, 2] }]);
  });

  it('the fence task decides at run time: a heartbeat that arrived after the tick keeps that broker', () => {
    const c = core();
    const image = withBrokers(2);
    c.tick(0, image, true);
    const task = c.tick(SESSION_MS + 1, image, true).tasks[0]!;
    heartbeat(c, image, 2, SESSION_MS + 1);
    expect(c.runTask(image, task).response).toEqual({ kind: 'fenceExpired', fenced: [1] });
  });

  it('a forged heartbeat (right epoch, wrong incarnation) renews nothing', () => {
    const c = core();
    const image = withBrokers(1);
    c.tick(0, image, true);
    const forged = c.brokerHeartbeat(image, { brokerId: 1, brokerEpoch: 1, incarnationId: 'not-it', metadataOffset: 0, wantFence: false, wantShutdown: false }, 5_000);
    expect(forged.response.errorCode).toBe(ErrorCode.BROKER_ID_NOT_REGISTERED);
    expect(kinds(c.tick(SESSION_MS + 1, image, true).tasks)).toEqual(['fenceExpired']);
  });
});

describe('ControllerCore.tick: registration expiry', () => {
  it('removes a fenced registration silent for a session that hosts no replica, and keeps one that hosts a replica', () => {
    const c = core();
    let image = withBrokers(3);
    image = apply(
      image,
      [2, 3].map((id) => ({ type: 'BrokerRegistrationChange' as const, brokerId: id, brokerEpoch: id, fenced: true })),
    );
    image = withPartition(image, 't', [1, 3], [1], 1);
    c.tick(0, image, true);
    heartbeat(c, image, 1, SESSION_MS);
    expect(kinds(c.tick(SESSION_MS, image, true).tasks)).toEqual([]);
    const tasks = c.tick(SESSION_MS + 1, image, true).tasks;
    expect(tasks).toEqual([{ kind: 'expireRegistrations', nowMs: SESSION_MS + 1, brokers: [2] }]);
    expect(c.runTask(image, tasks[0]!).records).toEqual([{ type: 'UnregisterBroker', brokerId: 2, brokerEpoch: 2 }]);
  });
});

describe('ControllerCore.tick: preferred-leader rebalance', () => {
  const imbalanced = () => withPartition(withBrokers(2), 't', [1, 2], [1, 2], 2);
  const keepAlive = (c: ControllerCore, image: MetadataImage, nowMs: number) => [1, 2].forEach((id) => heartbeat(c, image, id, nowMs));

  it('runs once per interval from activation, and only when some partition is off its preferred leader', () => {
    const c = core();
    const image = imbalanced();
    c.tick(0, image, true);
    for (const t of [100_000, 200_000, REBALANCE_MS - 1]) {
      keepAlive(c, image, t);
      expect(kinds(c.tick(t, image, true).tasks)).toEqual([]);
    }
    keepAlive(c, image, REBALANCE_MS);
    const tasks = c.tick(REBALANCE_MS, image, true).tasks;
    expect(tasks).toEqual([{ kind: 'rebalanceLeaders' }]);
    const moved = c.runTask(image, tasks[0]!);
    expect(moved.response).toEqual({ kind: 'rebalanceLeaders', moved: 1 });
    expect(moved.records).toEqual([expect.objectContaining({ type: 'PartitionChange', leader: 1 })]);
    // The interval restarts at each check.
    keepAlive(c, image, REBALANCE_MS + 1);
    expect(kinds(c.tick(REBALANCE_MS + 1, image, true).tasks)).toEqual([]);
    keepAlive(c, image, 2 * REBALANCE_MS);
    expect(kinds(c.tick(2 * REBALANCE_MS, image, true).tasks)).toEqual(['rebalanceLeaders']);
    // Balanced: the check runs but has nothing to submit.
    const balanced = withPartition(withBrokers(2), 't', [1, 2], [1, 2], 1);
    keepAlive(c, balanced, 3 * REBALANCE_MS);
    expect(kinds(c.tick(3 * REBALANCE_MS, balanced, true).tasks)).toEqual([]);
  });

  it('never runs with auto.leader.rebalance.enable off', () => {
    const c = core({ autoLeaderRebalance: false });
    const image = imbalanced();
    c.tick(0, image, true);
    keepAlive(c, image, REBALANCE_MS);
    expect(kinds(c.tick(REBALANCE_MS, image, true).tasks)).toEqual([]);
  });
});

describe('ControllerCore operations answer expected refusals with error codes', () => {
  it('registration: a second live process under the same id is DUPLICATE_BROKER_REGISTRATION, an invalid id INVALID_REQUEST', () => {
    const c = core();
    const image = withBrokers(1);
    c.tick(0, image, true);
    c.sessionStarted(1, 0);
    const req = { brokerId: 1, incarnationId: 'other', host: 'h', port: 1, rack: null };
    expect(c.registerBroker(image, req, 1_000)).toEqual({ records: [], response: expect.objectContaining({ errorCode: ErrorCode.DUPLICATE_BROKER_REGISTRATION, brokerEpoch: -1 }) });
    expect(c.registerBroker(image, { ...req, brokerId: -3 }, 1_000).response.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    // Once that session has run out, the new process takes the id over.
    const after = c.registerBroker(image, req, 1 + SESSION_MS);
    expect(after.response).toEqual({ errorCode: ErrorCode.NONE, brokerEpoch: 2 });
  });

  it('heartbeat with a stale epoch is STALE_BROKER_EPOCH; of an unknown broker BROKER_ID_NOT_REGISTERED', () => {
    const c = core();
    const image = withBrokers(1);
    expect(c.brokerHeartbeat(image, { brokerId: 1, brokerEpoch: 0, incarnationId: 'inc-1', metadataOffset: 0, wantFence: false, wantShutdown: false }, 0).response.errorCode).toBe(
      ErrorCode.STALE_BROKER_EPOCH,
    );
    expect(c.brokerHeartbeat(image, { brokerId: 5, brokerEpoch: 1, incarnationId: 'inc-5', metadataOffset: 0, wantFence: false, wantShutdown: false }, 0).response.errorCode).toBe(
      ErrorCode.BROKER_ID_NOT_REGISTERED,
    );
  });

  it('AlterPartition from a stale broker epoch is refused as a whole; a stale partition epoch per item', () => {
    const c = core();
    const image = withPartition(withBrokers(2), 't', [1, 2], [1, 2], 1);
    const item = { topicId: 't-id', partition: 0, leaderEpoch: 0, partitionEpoch: 0, newIsr: [1] };
    expect(c.alterPartition(image, { brokerId: 1, brokerEpoch: 7, partitions: [item] })).toEqual({
      records: [],
      response: expect.objectContaining({ errorCode: ErrorCode.STALE_BROKER_EPOCH, results: [] }),
    });
    const stale = c.alterPartition(image, { brokerId: 1, brokerEpoch: 1, partitions: [{ ...item, partitionEpoch: 3 }] });
    expect(stale.records).toEqual([]);
    expect(stale.response.errorCode).toBe(ErrorCode.NONE);
    expect(stale.response.results[0]!.errorCode).toBe(ErrorCode.INVALID_UPDATE_VERSION);
  });

  it('topics: a replication factor beyond the cluster, an unknown topic to delete or configure', () => {
    const c = core();
    const image = withBrokers(2);
    const created = c.createTopics(image, { topics: [{ name: 'big', numPartitions: 1, replicationFactor: 5 }] });
    expect(created.records).toEqual([]);
    expect(created.response.results[0]!.errorCode).toBe(ErrorCode.INVALID_REPLICATION_FACTOR);
    expect(c.deleteTopics(image, { names: ['nope'] }).response.results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(c.alterConfigs(image, { topic: 'nope', set: { 'retention.ms': '1' } }).response.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(c.alterReassignments(image, { reassignments: [{ topic: 'nope', partition: 0, replicas: [1] }] }).response.results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});
