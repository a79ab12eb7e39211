/**
 * Maintenance on a cluster of real processes under load (issue 21 item 4): three controller voters
 * and a fourth, broker-only node. `cairn cluster decommission --broker 4` moves every replica off
 * node 4 while an idempotent acks=all producer keeps writing; node 4 is then stopped and its
 * registration leaves the cluster; every acknowledged record is in the log once.
 * `cairn cluster describe-quorum` and `cairn log-dirs describe` are checked on the same cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import type { DescribeLogDirsResponse } from '../../src/protocol/messages';
import { AckedLoad, expectEachOnce } from '../helpers/acked-load';
import { FAST_FAILOVER_FLAGS, runCli, TestCluster } from '../helpers/processes';
import { waitFor } from '../helpers/tmp';

let cluster: TestCluster;
let admin: Admin;

beforeAll(async () => {
  cluster = await TestCluster.start('cairn-ops-', 4, FAST_FAILOVER_FLAGS, 3);
  admin = new Admin({ bootstrap: cluster.bootstrap });
  // Every partition has a replica on node 4, leading one of them.
  await admin.createTopic({
    name: 'ops',
    partitions: 4,
    replicationFactor: 3,
    configs: { 'min.insync.replicas': '2' },
    assignments: [
      [4, 1, 2],
      [1, 4, 3],
      [2, 3, 4],
      [3, 4, 1],
    ],
  });
}, 90_000);

afterAll(async () => {
  admin?.close();
  await cluster?.stopAll();
});

const cli = (args: string[]) => runCli([...args, '--bootstrap', cluster.bootstrap]);

describe('cluster maintenance', () => {
  it('describe-quorum shows the three voters and the broker-only node as an observer', async () => {
    const r = await waitFor(async () => {
      const x = await cli(['cluster', 'describe-quorum']);
      return x.code === 0 && /CurrentObservers: +\[4\]/.test(x.stdout) ? x : null;
    }, 'node 4 among the observers');
    expect(r.stdout).toMatch(/CurrentVoters: +\[1,2,3\]/);
    expect(r.stdout).toMatch(/LeaderId: +[123]\n/);
    const rows = r.stdout.split('\n').filter((l) => /^\d\t/.test(l));
    expect(rows.map((l) => l.split('\t')[4])).toEqual(expect.arrayContaining(['Leader', 'Follower', 'Follower', 'Observer']));
  });

  it('log-dirs describe reports every broker, its free space and the replicas it holds', async () => {
    const r = await cli(['log-dirs', 'describe', '--topic-list', 'ops', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const dirs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as DescribeLogDirsResponse);
    expect(dirs.map((d) => d.brokerId)).toEqual([1, 2, 3, 4]);
    for (const d of dirs) {
      expect(d.logDir).toBe(cluster.node(d.brokerId).dataDir);
      expect(d.usableBytes).toBeGreaterThan(0);
      expect(d.totalBytes).toBeGreaterThanOrEqual(d.usableBytes);
      expect(d.partitions.every((p) => p.topic === 'ops')).toBe(true);
    }
    // The twelve replicas of the assignment: 3 on node 1, 2 on node 2, 3 on node 3, 4 on node 4.
    expect(dirs.map((d) => d.partitions.length)).toEqual([3, 2, 3, 4]);
    expect(dirs.flatMap((d) => d.partitions.filter((p) => p.role === 'leader')).length).toBe(4);
    const only4 = await cli(['log-dirs', 'describe', '--broker-list', '4', '--topic-list', 'ops']);
    expect(only4.stdout).toMatch(/^Broker 4 {2}\S+node-4 {2}.* free of .* {2}4 replica\(s\)$/m);
  });

  it('decommissions broker 4 under acks=all load: its replicas move, it leaves, and no acknowledged write is lost or doubled', async () => {
    const load = new AckedLoad(cluster.bootstrap, 'ops');
    try {
      await load.more(500, '500 records acknowledged before the decommission');
      const r = await cli(['cluster', 'decommission', '--broker', '4']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Moving 4 replica\(s\) off broker 4/);
      expect(r.stdout).toMatch(/Broker 4 hosts no replica/);
      const ps = (await admin.describeTopics(['ops']))[0]!.partitions;
      for (const p of ps) {
        expect(p.replicas, `partition ${p.partition}`).not.toContain(4);
        expect(p.replicas).toHaveLength(3);
      }
      await load.more(300, 'writes going on after the moves');
      await cluster.stop(4);
      // Silent, fenced and hosting nothing: the controller drops its registration.
      await waitFor(
        async () => {
          const s = await cli(['cluster', 'status']);
          return s.code === 0 && !/node 4 /.test(s.stdout);
        },
        'node 4 gone from cluster status',
        30_000,
        250,
      );
      await load.more(300, 'writes going on with node 4 gone');
    } finally {
      await load.stop();
    }
    expect(load.failed).toEqual([]);
    await expectEachOnce(cluster.bootstrap, 'ops', 4, load.acked);
  }, 180_000);
});
