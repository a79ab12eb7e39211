import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import type { TopicPartition } from '../../src/client/group-membership';
import { Producer } from '../../src/client/producer';
import { FAST_FAILOVER_FLAGS, TestCluster } from '../helpers/processes';
import { waitFor } from '../helpers/tmp';

let cluster: TestCluster | null = null;
const consumers: Consumer[] = [];
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close()));
  await cluster?.stopAll();
  cluster = null;
});

const FLAGS = { ...FAST_FAILOVER_FLAGS, 'offsets-topic-num-partitions': '4', 'group-consumer-session-timeout-ms': '4000', 'group-consumer-heartbeat-interval-ms': '300' };

describe('consumer groups from the TypeScript client', () => {
  it('three members share six partitions with one owner each at every moment; a killed member’s partitions move on; another group gets everything too', async () => {
    cluster = await TestCluster.start('cairn-cgroups-', 3, FLAGS);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'jobs', partitions: 6, replicationFactor: 3 });
    const producer = new Producer({ bootstrap });
    const produce = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) void producer.send({ topic: 'jobs', key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) });
      await producer.flush();
    };
    await produce(0, 600);

    // Ownership as the members' callbacks report it: a partition given to a member while another holds it fails the test.
    const owner = new Map<string, string>();
    const violations: string[] = [];
    const seen = new Map<string, Set<string>>(); // group → values read
    const member = (group: string, name: string) => {
      const key = (p: TopicPartition) => `${group}/${p.topic}-${p.partition}`;
      const c = new Consumer({
        bootstrap,
        groupId: group,
        autoOffsetReset: 'earliest',
        maxWaitMs: 200,
        autoCommitIntervalMs: 500,
        onAssigned: (ps) => {
          for (const p of ps) {
            if (owner.has(key(p))) violations.push(`${key(p)} given to ${name} while ${owner.get(key(p))} has it`);
            owner.set(key(p), name);
          }
        },
        onRevoked: (ps) => ps.forEach((p) => owner.get(key(p)) === name && owner.delete(key(p))),
        onLost: (ps) => ps.forEach((p) => owner.get(key(p)) === name && owner.delete(key(p))),
      });
      consumers.push(c);
      c.subscribe(['jobs']);
      const values = seen.get(group) ?? new Set<string>();
      seen.set(group, values);
      let stopped = false;
      void (async () => {
        while (!stopped) {
          const records = await c.poll(200).catch(() => null);
          if (records === null) return; // closed
          for (const r of records) values.add(r.value!.toString());
        }
      })();
      return { c, name, stop: () => (stopped = true) };
    };
    const workers = ['w1', 'w2', 'w3'].map((n) => member('workers', n));
    await waitFor(() => seen.get('workers')!.size === 600, 'the three workers to read all 600 records', 60_000);
    await waitFor(() => workers.every((w) => w.c.assignment().length === 2), 'two partitions each', 30_000);
    expect(violations).toEqual([]);

    // w3 stops dead (no leave, no more heartbeats): its session ends and w1, w2 take its partitions over.
    const dead = workers[2]!;
    dead.stop();
    (dead.c.group as unknown as { closed: boolean }).closed = true;
    for (const [k, v] of owner) if (v === 'w3') owner.delete(k);
    await produce(600, 300);
    await waitFor(() => seen.get('workers')!.size === 900, 'the two remaining workers to read the rest', 60_000);
    await waitFor(() => workers[0]!.c.assignment().length + workers[1]!.c.assignment().length === 6, 'all six partitions with the survivors', 30_000);
    expect(violations).toEqual([]);

    // A second group reads everything again (fan-out), from the beginning.
    member('audit', 'a1');
    await waitFor(() => seen.get('audit')?.size === 900, 'the audit group to read all 900', 60_000);
    await producer.close();
    admin.close();
  }, 240_000);

  it('a static member that restarts within its session gets its partitions back, and the other member is not disturbed', async () => {
    cluster = await TestCluster.start('cairn-cgroups-static-', 1, FLAGS);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'tasks', partitions: 4 });
    admin.close();
    const changes: string[] = [];
    const member = (name: string, instanceId?: string) => {
      const c = new Consumer({
        bootstrap,
        groupId: 'static',
        groupInstanceId: instanceId,
        maxWaitMs: 100,
        onAssigned: (ps) => {
          changes.push(`${name}+${ps.map((p) => p.partition).join(',')}`);
        },
        onRevoked: (ps) => {
          changes.push(`${name}-${ps.map((p) => p.partition).join(',')}`);
        },
      });
      consumers.push(c);
      c.subscribe(['tasks']);
      return c;
    };
    const settled = async (cs: Consumer[], each: number) => {
      await waitFor(
        async () => {
          await Promise.all(cs.map((c) => c.poll(50)));
          return cs.every((c) => c.assignment().length === each);
        },
        `${each} partitions each`,
        30_000,
      );
    };
    const a = member('a', 'host-a');
    const b = member('b');
    await settled([a, b], 2);
    const aHad = a.assignment().map((p) => p.partition);
    const bHad = b.assignment().map((p) => p.partition);
    changes.length = 0;

    // a restarts: it leaves for a while (epoch -2) and a new process with the same instance id comes back.
    await a.close();
    consumers.splice(consumers.indexOf(a), 1);
    // Before a comes back, b has heartbeated at the group's current epoch: had a's leave freed its
    // partitions (a dynamic leave), b would have taken them by then.
    const groups = new Admin({ bootstrap });
    await waitFor(
      async () => {
        await b.poll(50);
        const d = await groups.groups.describeGroup('static');
        const bm = d.members.find((m) => m.memberId === b.group!.core.settings.memberId);
        return bm !== undefined && bm.memberEpoch === d.groupEpoch && bm.state === 'stable' && b.group!.core.epoch === d.groupEpoch;
      },
      'b at the current group epoch',
      30_000,
    );
    groups.close();
    const a2 = member('a2', 'host-a');
    await settled([a2, b], 2);
    expect(a2.assignment().map((p) => p.partition)).toEqual(aHad);
    expect(b.assignment().map((p) => p.partition)).toEqual(bHad);
    // b was never asked to give anything up, nor given a's partitions in between.
    expect(changes.filter((c) => c.startsWith('b'))).toEqual([]);
  }, 120_000);
  it('what the application is still working on is neither committed nor handed to another member (Kafka’s rule: done once it comes back for more)', async () => {
    cluster = await TestCluster.start('cairn-cgroups-inhand-', 1, FLAGS);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'work', partitions: 2 });
    admin.close();
    const producer = new Producer({ bootstrap });
    for (let i = 0; i < 40; i++) void producer.send({ topic: 'work', partition: i % 2, value: Buffer.from(`r${i}`) });
    await producer.close();

    const groups = new Admin({ bootstrap });
    const committed = async () => (await groups.groups.describeGroup('inhand')).offsets.map((o) => o.offset).sort((x, y) => x - y);
    const processedBy = new Map<string, string[]>();
    const processed = (name: string, value: string) => processedBy.set(name, [...(processedBy.get(name) ?? []), value]);
    // a is handed both partitions' records in one batch and stops on the first one until released.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let released = false;
    const a = new Consumer({ bootstrap, groupId: 'inhand', autoOffsetReset: 'earliest', autoCommitIntervalMs: 100, maxWaitMs: 100 });
    consumers.push(a);
    a.subscribe(['work']);
    let blockedOn = -1;
    // Both partitions fetched before the first poll, so that poll hands out records of both.
    await waitFor(() => a.lag().length === 2 && a.lag().every((l) => l.lag === 20), 'a to fetch both partitions');
    const aLoop = (async () => {
      for await (const r of a) {
        if (blockedOn < 0) {
          blockedOn = r.offset;
          await gate;
        }
        processed('a', r.value!.toString());
        if ((processedBy.get('a')?.length ?? 0) === 40) return;
      }
    })();
    await waitFor(() => blockedOn >= 0, 'a to start on its first record');
    // Auto-commit runs every 100 ms while a works: it must commit nothing past the record a is on.
    await waitFor(async () => JSON.stringify(await committed()) === JSON.stringify([0, 0]), 'offsets 0 and 0 committed (a has finished nothing)', 20_000);

    // b joins: one partition moves to it, which a gives up only once done with what it was handed.
    const bAssigned: boolean[] = [];
    const b = new Consumer({ bootstrap, groupId: 'inhand', autoOffsetReset: 'earliest', maxWaitMs: 100, onAssigned: () => void bAssigned.push(released) });
    consumers.push(b);
    b.subscribe(['work']);
    const bCore = b.group!.core as unknown as { nextId: number };
    await waitFor(() => a.group!.core.revoking !== null, 'the coordinator to ask a for a partition');
    const asked = bCore.nextId;
    // b heartbeats three more times while a holds the partition: it gets nothing meanwhile.
    const bLoop = (async () => {
      for (;;) {
        const records = await b.poll(100).catch(() => null);
        if (records === null) return;
        for (const r of records) processed('b', r.value!.toString());
      }
    })();
    await waitFor(() => bCore.nextId >= asked + 3, 'b to heartbeat three times');
    expect(b.assignment()).toEqual([]);
    released = true;
    release();
    await aLoop;
    await waitFor(() => b.assignment().length === 1, 'b to get its partition');
    expect(bAssigned).toEqual([true]);
    // a finished all 40 and committed them; b starts after them, so nothing is read twice.
    await waitFor(async () => JSON.stringify(await committed()) === JSON.stringify([20, 20]), 'offsets 20 and 20 committed', 20_000);
    expect(processedBy.get('b') ?? []).toEqual([]);
    groups.close();
    await b.close();
    await bLoop;
  }, 120_000);
  it('a pattern subscription takes the matching topics, and a matching topic created later', async () => {
    cluster = await TestCluster.start('cairn-cgroups-regex-', 1, FLAGS);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'metrics-cpu', partitions: 2 });
    await admin.createTopic({ name: 'metrics-disk', partitions: 1 });
    await admin.createTopic({ name: 'logs', partitions: 1 });
    const producer = new Producer({ bootstrap });
    for (const topic of ['metrics-cpu', 'metrics-disk', 'logs']) await producer.send({ topic, value: Buffer.from(topic) });
    const c = new Consumer({ bootstrap, groupId: 'pattern', autoOffsetReset: 'earliest', maxWaitMs: 100, metadataMaxAgeMs: 1_000 });
    consumers.push(c);
    c.subscribe(/^metrics-/);
    const read = new Set<string>();
    const names = () => [...new Set(c.assignment().map((p) => p.topic))].sort();
    await waitFor(
      async () => {
        for (const r of await c.poll(100)) read.add(r.value!.toString());
        return names().join() === 'metrics-cpu,metrics-disk' && read.size === 2;
      },
      'the two metrics topics assigned and read',
      30_000,
    );
    expect(c.assignment()).toHaveLength(3);
    await admin.createTopic({ name: 'metrics-net', partitions: 1 });
    await producer.send({ topic: 'metrics-net', value: Buffer.from('metrics-net') });
    await waitFor(
      async () => {
        for (const r of await c.poll(100)) read.add(r.value!.toString());
        return read.has('metrics-net');
      },
      'the new metrics topic picked up',
      30_000,
    );
    expect([...read].sort()).toEqual(['metrics-cpu', 'metrics-disk', 'metrics-net']);
    await producer.close();
    admin.close();
  }, 120_000);
  it("commit() without offsets commits what the last poll returned, as Kafka's commitSync()", async () => {
    cluster = await TestCluster.start('cairn-cgroups-commit-', 1, FLAGS);
    const bootstrap = cluster.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'manual', partitions: 1 });
    const producer = new Producer({ bootstrap });
    for (let i = 0; i < 10; i++) void producer.send({ topic: 'manual', value: Buffer.from(`m${i}`) });
    await producer.close();
    const c = new Consumer({ bootstrap, groupId: 'manual', autoOffsetReset: 'earliest', enableAutoCommit: false, maxWaitMs: 100 });
    consumers.push(c);
    c.subscribe(['manual']);
    let read = 0;
    while (read < 10) read += (await c.poll(200)).length;
    // Processed the poll's records; commit, without polling again.
    await c.commit();
    expect(await c.committed([{ topic: 'manual', partition: 0 }])).toEqual([{ topic: 'manual', partition: 0, offset: 10 }]);
    admin.close();
  }, 60_000);
});
