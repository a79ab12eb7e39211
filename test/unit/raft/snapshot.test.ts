/** Snapshots and log compaction (Raft §7): compact, InstallSnapshot, restart from a snapshot. */
import { describe, expect, test } from 'vitest';
import { nodeId, term } from '../../../src/common/types';
import type { Snapshot } from '../../../src/raft/types';
import { bytes, Cluster, ELECTION_MAX_MS, logOfTerms, text } from './cluster';

/** Elects 1, commits values a..e, and compacts the leader's log through everything applied. */
function compactedLeader(options: { isolateFollower?: number } = {}) {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  if (options.isolateFollower) c.isolate(options.isolateFollower);
  for (const v of ['a', 'b', 'c', 'd', 'e']) c.propose(1, v);
  c.deliver();
  const leader = c.core(1);
  leader.compact(leader.appliedIndex, bytes(`state:${c.appliedData(1).join('')}`));
  c.drain(nodeId(1));
  return c;
}

describe('§7 log compaction', () => {
  test('compact() discards entries up to the index and asks storage to save the snapshot', () => {
    const c = compactedLeader();
    const leader = c.core(1);
    expect(leader.snapshotIndex).toBe(6);
    expect(leader.entryAt(6)).toBeUndefined();
    expect(leader.termAt(6)).toBe(1); // the snapshot keeps the last term, for consistency checks
    const saved = c.readies.get(nodeId(1))!.at(-1)!.snapshotToSave!;
    expect(saved).toMatchObject({ lastIndex: 6, lastTerm: 1 });
    expect(text(saved.data)).toBe('state:abcde');
    expect(c.disks.get(nodeId(1))!.entries).toEqual([]);
    // Replication goes on from the retained log.
    c.propose(1, 'f');
    c.deliver();
    expect(c.appliedData(2)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  test('compacting beyond what was applied is a driver bug and throws', () => {
    const c = new Cluster({ voters: [1] });
    c.timeout(1);
    expect(() => c.core(1).compact(5, bytes('x'))).toThrow(/compact beyond the applied index/);
  });

  test('a follower whose next entry was compacted away receives InstallSnapshot and applies it', () => {
    const c = compactedLeader({ isolateFollower: 3 });
    c.heal();
    c.run(ELECTION_MAX_MS);
    expect(c.transcript.some((l) => l.startsWith('deliver InstallSnapshot 1->3'))).toBe(true);
    const follower = c.core(3);
    expect(follower.snapshotIndex).toBe(6);
    expect(follower.commitIndex).toBeGreaterThanOrEqual(6);
    expect(c.snapshotsApplied.get(nodeId(3))!.map((s) => text(s.data))).toEqual(['state:abcde']);
    const disk = c.disks.get(nodeId(3))!;
    expect(disk.snapshot?.lastIndex).toBe(6);
    // New entries are applied on top of the snapshot.
    c.propose(1, 'f');
    c.deliver();
    expect(c.appliedData(3)).toEqual(['f']);
    expect(
      c
        .core(1)
        .progress()
        .find((p) => p.id === 3),
    ).toMatchObject({ state: 'replicate', matchIndex: 7 });
  });

  test('a lost InstallSnapshot is sent again', () => {
    const c = compactedLeader({ isolateFollower: 3 });
    c.heal();
    let lost = 0;
    c.dropWhere = (m) => m.type === 'InstallSnapshot' && lost++ === 0;
    c.run(2 * ELECTION_MAX_MS);
    expect(c.transcript.filter((l) => l.startsWith('drop    InstallSnapshot 1->3'))).toHaveLength(1);
    expect(c.transcript.filter((l) => l.startsWith('deliver InstallSnapshot 1->3'))).toHaveLength(1);
    expect(c.core(3).commitIndex).toBe(6);
    expect(c.core(1).role).toBe('leader'); // heartbeats kept 3 quiet while it waited
  });

  test("a follower that already holds the snapshot's last entry keeps its log and applies entries normally", () => {
    const c = new Cluster({ voters: [1, 2, 3], initial: { 2: { term: 1, entries: logOfTerms([1, 1, 1, 1]) } } });
    const follower = c.core(2);
    const snapshot: Snapshot = { lastIndex: 3, lastTerm: term(1), data: bytes('s3') };
    follower.step({ type: 'InstallSnapshot', from: nodeId(1), to: nodeId(2), term: term(1), snapshot }, 10);
    const rd = follower.ready();
    expect(rd.snapshotToApply).toBeUndefined();
    expect(rd.committed.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(rd.messages).toMatchObject([{ type: 'InstallSnapshotResponse', matchIndex: 3 }]);
    expect(follower.lastIndex).toBe(4);
  });

  test('a follower whose log diverges from the snapshot drops its log for it', () => {
    const c = new Cluster({ voters: [1, 2, 3], initial: { 2: { term: 2, entries: logOfTerms([1, 2, 2, 2]) } } });
    const follower = c.core(2);
    const snapshot: Snapshot = { lastIndex: 3, lastTerm: term(3), data: bytes('s3') };
    follower.step({ type: 'InstallSnapshot', from: nodeId(1), to: nodeId(2), term: term(3), snapshot }, 10);
    const rd = follower.ready();
    expect(rd).toMatchObject({ snapshotToSave: snapshot, snapshotToApply: snapshot, truncateFrom: 4, entriesToAppend: [], committed: [] });
    expect(follower.lastIndex).toBe(3);
    expect(follower.commitIndex).toBe(3);
  });

  test('a snapshot at or below the commit index is only acknowledged', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    c.propose(1, 'a');
    c.deliver();
    const follower = c.core(2);
    follower.step({ type: 'InstallSnapshot', from: nodeId(1), to: nodeId(2), term: term(1), snapshot: { lastIndex: 1, lastTerm: term(1), data: bytes('old') } }, c.now);
    const rd = follower.ready();
    expect(rd.snapshotToApply).toBeUndefined();
    expect(rd.messages).toMatchObject([{ type: 'InstallSnapshotResponse', matchIndex: 2 }]);
  });

  test('a node restarts from its snapshot and the entries after it', () => {
    const c = compactedLeader();
    c.propose(1, 'f');
    c.deliver();
    c.crash(1);
    c.start(1);
    const restarted = c.core(1);
    expect(restarted.snapshotIndex).toBe(6);
    expect(restarted.lastIndex).toBe(7);
    expect(restarted.commitIndex).toBe(6); // what the snapshot covers; the rest is learnt again
    c.run(3 * ELECTION_MAX_MS);
    expect(c.leaders()).toHaveLength(1);
    expect(restarted.commitIndex).toBeGreaterThanOrEqual(7);
    expect(c.appliedData(1)).toContain('f');
  });
});
