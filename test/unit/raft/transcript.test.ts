/**
 * Protocol transcripts (style §14, after etcd-io/raft's testdata): every message of a scripted
 * run, reviewed as a diff. Re-record after an intended protocol change with `vitest -u`.
 */
import { expect, test } from 'vitest';
import { nodeId } from '../../../src/common/types';
import { Cluster, ELECTION_MAX_MS, HEARTBEAT_MS } from './cluster';

function state(c: Cluster): string {
  return [...c.cores]
    .map(([id, core]) => `  node ${id}: ${core.role} term=${core.term} leader=${core.leaderId ?? '-'} last=${core.lastIndex} commit=${core.commitIndex} applied=[${c.appliedData(id).join(',')}]`)
    .join('\n');
}

test('election, replication, a follower crash and its catch-up', async () => {
  const c = new Cluster({ voters: [1, 2, 3], seed: 11 });
  const out: string[] = [];
  const section = (title: string) => {
    out.push(...c.transcript.splice(0));
    out.push(`--- ${title}`, state(c));
  };
  section('start');
  c.elect(1);
  section('1 timed out and was elected');
  c.propose(1, 'a');
  c.deliver();
  section('proposed a');
  c.crash(3);
  c.propose(1, 'b');
  c.deliver();
  section('3 crashed; proposed b');
  c.start(3);
  c.advance(HEARTBEAT_MS);
  c.tick(1);
  c.deliver();
  section('3 restarted from its disk; one heartbeat round');
  c.isolate(1);
  c.run(2 * ELECTION_MAX_MS + HEARTBEAT_MS);
  c.heal();
  c.run(2 * HEARTBEAT_MS);
  section('1 isolated long enough to step down; 2 or 3 took over; healed');
  expect(c.leaders()).toHaveLength(1);
  expect(c.core(c.leaders()[0]!).leaderId).toBe(nodeId(c.leaders()[0]!));
  await expect(out.join('\n') + '\n').toMatchFileSnapshot('./transcripts/election-replication-crash.txt');
});
