/**
 * Controller voters added and removed at run time (KIP-853, issue 21 item 4) on real processes
 * under an acks=all load. Nodes 1-3 start as the voters; node 4 starts with the controller role
 * outside `controller.quorum.voters` (it receives the metadata log once it is a member); node 5 is
 * a broker-only node whose flags name only nodes 1-3. `cairn cluster add-controller`
 * makes it a voter; `remove-controller` then takes the vote of each controller leader in turn,
 * which hands over, until node 4 leads (the others, node 5 too, reach it only through the
 * endpoint recorded when it was added); the demoted nodes are promoted again; node 4 is killed and restarted and is
 * still a voter (the membership lives in the metadata log, not in its flags). Every acknowledged
 * record is in the log once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { AckedLoad, expectEachOnce } from '../helpers/acked-load';
import { FAST_FAILOVER_FLAGS, freePorts, runCli, TestCluster } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

let cluster: TestCluster;
let admin: Admin;

beforeAll(async () => {
  cluster = new TestCluster(tmpDir('cairn-quorum-'), await freePorts(5), FAST_FAILOVER_FLAGS, 3);
  cluster.node(4).flags['process-roles'] = 'broker,controller';
  cluster.startAll();
  try {
    // Nodes 1-3 and the broker-only node 5. Node 4 receives the metadata log only once it is a
    // member: it serves as a broker after add-controller.
    await cluster.waitReady(4);
  } catch (err) {
    await cluster.stopAll();
    throw err;
  }
  admin = new Admin({ bootstrap: cluster.bootstrap });
  // Node 5 holds a replica of every partition and leads one.
  await admin.createTopic({
    name: 'quorum',
    partitions: 4,
    replicationFactor: 3,
    configs: { 'min.insync.replicas': '2' },
    assignments: [
      [5, 1, 2],
      [1, 5, 3],
      [2, 3, 5],
      [3, 5, 1],
    ],
  });
}, 90_000);

afterAll(async () => {
  admin?.close();
  await cluster?.stopAll();
});

const cli = (args: string[]) => runCli([...args, '--bootstrap', cluster.bootstrap]);

interface Quorum {
  leader: number;
  voters: number[];
  learners: number[];
  observers: number[];
}

async function quorum(): Promise<Quorum | null> {
  const r = await cli(['cluster', 'describe-quorum']);
  if (r.code !== 0) return null;
  const list = (name: string) => {
    const m = new RegExp(`${name}: +\\[([\\d,]*)\\]`).exec(r.stdout);
    return m && m[1] ? m[1].split(',').map(Number) : [];
  };
  const leader = /LeaderId: +(\d+)/.exec(r.stdout);
  return leader ? { leader: Number(leader[1]), voters: list('CurrentVoters'), learners: list('CurrentLearners'), observers: list('CurrentObservers') } : null;
}

describe('controller voters added and removed at run time', () => {
  it('adds node 4 as a voter, moves the votes around it under acks=all load, and loses and doubles nothing', async () => {
    const load = new AckedLoad(cluster.bootstrap, 'quorum');
    const more = (n: number, what: string) => load.more(n, what);
    try {
      const before = await waitFor(quorum, 'describe-quorum answers');
      expect(before.voters).toEqual([1, 2, 3]);
      await more(300, 'writes before the change');

      const added = await cli(['cluster', 'add-controller', '--node-id', '4']);
      expect(added.code, added.stdout + added.stderr).toBe(0);
      expect(added.stdout).toMatch(/Node 4 is a controller voter/);
      const grown = await waitFor(async () => {
        const q = await quorum();
        return q && q.voters.length === 4 ? q : null;
      }, 'four voters');
      expect(grown.voters).toEqual([1, 2, 3, 4]);
      await cluster.waitReady(4);
      const again = await cli(['cluster', 'add-controller', '--node-id', '4']);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/DUPLICATE_VOTER/);
      await more(300, 'writes with four voters');

      // Leaders give up their votes until node 4, the voter added at run time, leads: every other
      // node must then find the active controller at the endpoint recorded when 4 was added.
      const demoted: number[] = [];
      let q = grown;
      while (q.leader !== 4) {
        const old = q.leader;
        const removed = await cli(['cluster', 'remove-controller', '--node-id', String(old)]);
        expect(removed.code, removed.stdout + removed.stderr).toBe(0);
        demoted.push(old);
        q = await waitFor(
          async () => {
            const x = await quorum();
            return x && !x.voters.includes(old) && x.leader >= 0 && x.leader !== old ? x : null;
          },
          `a new leader without node ${old}'s vote`,
          30_000,
        );
        expect(q.learners).toEqual(expect.arrayContaining([old]));
        await more(200, `writes after node ${old} gave up its vote`);
      }
      expect(demoted.length).toBeGreaterThan(0);
      const node4Leads = Date.now();
      await more(300, 'writes while node 4 is the active controller');
      // The broker-only node 5 knows only nodes 1-3 from its flags; it finds node 4 through the
      // membership in its metadata image, and its heartbeats reach node 4 as the active controller.
      const lastHeartbeat = await waitFor(
        async () => {
          const st = await runCli(['cluster', 'status', '--bootstrap', `127.0.0.1:${cluster.node(4).port}`]);
          const m = /node 5 .* active .*last heartbeat (\d+) ms ago/.exec(st.stdout);
          return m && Number(m[1]) + 500 < Date.now() - node4Leads ? Number(m[1]) : null;
        },
        'node 5 heartbeating node 4, the active controller',
        20_000,
        200,
      );
      expect(lastHeartbeat).toBeLessThan(3_000);

      // The demoted nodes followed the log as learners; add-controller promotes them again.
      for (const id of demoted) {
        const r = await cli(['cluster', 'add-controller', '--node-id', String(id)]);
        expect(r.code, r.stdout + r.stderr).toBe(0);
      }
      const full = await waitFor(async () => {
        const x = await quorum();
        return x && x.voters.length === 4 ? x : null;
      }, 'four voters again');
      expect(full.learners).toEqual([]);

      // The membership is in the metadata log: node 4, the leader, is killed; it restarts with the
      // flags it started with (outside controller.quorum.voters) and is still a voter.
      await cluster.kill(4);
      await waitFor(
        async () => {
          const x = await quorum();
          return x && x.leader >= 0 && x.leader !== 4 ? x : null;
        },
        'a leader while node 4 is down',
        30_000,
      );
      await more(200, 'writes with node 4 down');
      cluster.start(4);
      const back = await waitFor(async () => {
        const x = await quorum();
        const st = await cli(['cluster', 'status']);
        return x && x.voters.includes(4) && st.code === 0 && /node 4 .* active/.test(st.stdout) ? x : null;
      }, 'node 4 back, still a voter');
      expect([...back.voters].sort()).toEqual([1, 2, 3, 4]);
      await more(300, 'writes with node 4 back');
    } finally {
      await load.stop();
    }
    expect(load.failed).toEqual([]);
    await expectEachOnce(cluster.bootstrap, 'quorum', 4, load.acked);
  }, 240_000);
});
