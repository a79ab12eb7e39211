/**
 * Log replication, named after the Raft paper: §5.3 (consistency check, Log Matching, Figure 7)
 * and §5.4.2 (commit only current-term entries by counting, Figure 8); plus the pipelining,
 * retransmission and durability rules of this implementation.
 */
import { describe, expect, test } from 'vitest';
import { SeededRandom } from '../../../src/common/random';
import { nodeId, term } from '../../../src/common/types';
import { MAX_APPEND_ENTRIES, MAX_INFLIGHT_APPENDS } from '../../../src/raft/limits';
import type { AppendEntries, Message } from '../../../src/raft/messages';
import { RaftCore } from '../../../src/raft/raft-core';
import { Cluster, ELECTION_MAX_MS, HEARTBEAT_MS, logOfTerms } from './cluster';

const appendTo = (to: number) => (m: Message) => m.type === 'AppendEntries' && m.to === to;

function append(from: number, to: number, t: number, prevLogIndex: number, prevLogTerm: number, entryTerms: number[], leaderCommit = 0): AppendEntries {
  return {
    type: 'AppendEntries',
    from: nodeId(from),
    to: nodeId(to),
    term: term(t),
    prevLogIndex,
    prevLogTerm: term(prevLogTerm),
    entries: logOfTerms(entryTerms, prevLogIndex + 1),
    leaderCommit,
  };
}

describe('§5.3 log replication', () => {
  test('a follower refuses an append whose previous entry does not match, with a hint, and keeps its log', () => {
    const c = new Cluster({ voters: [1, 2, 3], initial: { 2: { term: 3, entries: logOfTerms([1, 1, 2, 2, 2]) } } });
    const f = c.core(2);
    f.step(append(1, 2, 3, 5, 3, [3]), 10); // follower's entry 5 has term 2, not 3
    f.step(append(1, 2, 3, 9, 3, [3]), 10); // follower has no entry 9
    const answers = f.ready().messages;
    expect(answers).toMatchObject([
      // largest index <= 5 whose term <= 3: 5 itself (term 2); the leader then skips every term-2 entry it lacks
      { type: 'AppendEntriesResponse', success: false, rejectedIndex: 5, conflictIndex: 5, conflictTerm: 2 },
      { type: 'AppendEntriesResponse', success: false, rejectedIndex: 9, conflictIndex: 5, conflictTerm: 2 },
    ]);
    expect(f.lastIndex).toBe(5);
  });

  test('conflicting entries are replaced; a delayed shorter append does not cut the longer log', () => {
    const c = new Cluster({ voters: [1, 2, 3], initial: { 2: { term: 3, entries: logOfTerms([1, 2, 2]) } } });
    const f = c.core(2);
    f.step(append(1, 2, 3, 1, 1, [3, 3, 3]), 10);
    expect(c.terms(2)).toEqual([1, 3, 3, 3]);
    const first = f.ready();
    expect(first.truncateFrom).toBe(2);
    expect(first.entriesToAppend.map((e) => e.index)).toEqual([2, 3, 4]);
    f.advance();
    f.step(append(1, 2, 3, 1, 1, [3]), 20); // the same leader's earlier, shorter message, arriving late
    expect(c.terms(2)).toEqual([1, 3, 3, 3]);
    const second = f.ready();
    expect(second.truncateFrom).toBeUndefined();
    expect(second.messages).toMatchObject([{ success: true, matchIndex: 2 }]);
  });

  test('a follower commits up to the leader commit, but never past what the message proved matches', () => {
    const c = new Cluster({ voters: [1, 2, 3], initial: { 2: { term: 2, entries: logOfTerms([1, 1, 2, 2]) } } });
    const f = c.core(2);
    f.step(append(1, 2, 3, 2, 1, [], 10), 10); // a heartbeat checked at index 2
    expect(f.commitIndex).toBe(2); // not 4: entries 3 and 4 may yet be replaced
    f.step(append(1, 2, 3, 2, 1, [3], 10), 10);
    expect(f.commitIndex).toBe(3);
    expect(f.lastIndex).toBe(3);
  });

  test('Figure 7: every follower converges to the leader of term 8, skipping a term per rejection', () => {
    // The leader's log and the six followers (a)-(f) of the paper's Figure 7.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: Record<string, number[]> = {
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      b: [1, 1, 1, 4],
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [1, 1, 1, 4, 4, 4, 4],
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    const names = Object.keys(followers);
    const initial: Record<number, { term: number; entries: ReturnType<typeof logOfTerms> }> = { 1: { term: 7, entries: logOfTerms(leaderLog) } };
    names.forEach((n, i) => (initial[i + 2] = { term: 7, entries: logOfTerms(followers[n]!) }));
    const c = new Cluster({ voters: [1, 2, 3, 4, 5, 6, 7], initial });
    c.elect(1);
    expect(c.core(1).role).toBe('leader');
    expect(c.core(1).term).toBe(8);
    const expected = [...leaderLog, 8];
    names.forEach((n, i) => expect(c.terms(i + 2), `follower (${n})`).toEqual(expected));
    const rejections = (to: number) => c.transcript.filter((l) => l.includes(`AppendEntriesResponse ${to}->1`) && l.includes('reject')).length;
    // One rejection each at most: (f), which diverges over terms 2 and 3, would take seven rounds
    // with a leader that backs up one index at a time.
    expect(Object.fromEntries(names.map((n, i) => [n, rejections(i + 2)]))).toEqual({ a: 1, b: 1, c: 0, d: 0, e: 1, f: 1 });
    expect(c.core(1).commitIndex).toBe(11);
  });

  test('pipelining: at most MAX_INFLIGHT_APPENDS unacknowledged appends per follower, then batches', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    for (let i = 0; i < 3 * MAX_INFLIGHT_APPENDS; i++) c.propose(1, `v${i}`);
    expect(c.queue.filter(appendTo(2))).toHaveLength(MAX_INFLIGHT_APPENDS);
    c.deliver();
    expect(c.appliedData(2)).toHaveLength(3 * MAX_INFLIGHT_APPENDS);
    expect(c.core(1).progress()).toMatchObject([
      { id: 2, state: 'replicate', matchIndex: 3 * MAX_INFLIGHT_APPENDS + 1 },
      { id: 3, state: 'replicate', matchIndex: 3 * MAX_INFLIGHT_APPENDS + 1 },
    ]);
  });

  test('an append carries at most MAX_APPEND_ENTRIES entries', () => {
    const long = logOfTerms(Array.from({ length: 3 * MAX_APPEND_ENTRIES }, () => 1));
    const c = new Cluster({ voters: [1, 2, 3], initial: { 1: { entries: long }, 2: { entries: long } } });
    c.elect(1);
    const sizes = c.transcript
      .filter((l) => l.includes('AppendEntries 1->3') && l.includes('entries='))
      .map((l) => /entries=(\d+)\.\.(\d+)/.exec(l))
      .filter((m) => m !== null)
      .map((m) => Number(m![2]) - Number(m![1]) + 1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_APPEND_ENTRIES);
    expect(c.terms(3)).toEqual(c.terms(1));
  });

  test('an append lost on its way is sent again, even while the follower answers every heartbeat', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    c.propose(1, 'x');
    c.deliver({ drop: (m) => m.type === 'AppendEntries' && m.entries.length > 0 });
    expect(c.core(1).commitIndex).toBe(1);
    c.run(4 * HEARTBEAT_MS);
    for (const id of [1, 2, 3]) expect(c.appliedData(id)).toEqual(['x']);
  });

  test('the leader counts itself only for entries it has made durable (advance)', () => {
    const core = new RaftCore({
      id: nodeId(1),
      voters: [nodeId(1)],
      electionTimeoutMinMs: 150,
      electionTimeoutMaxMs: 300,
      heartbeatIntervalMs: 50,
      random: new SeededRandom(1),
      initial: { hardState: { term: term(0), votedFor: null }, snapshot: null, entries: [] },
      nowMs: 0,
    });
    core.tick(1000);
    expect(core.role).toBe('leader');
    expect(core.commitIndex).toBe(0); // its no-op is not on disk yet
    const rd = core.ready();
    expect(rd.entriesToAppend.map((e) => e.kind)).toEqual(['noop']);
    expect(rd.committed).toEqual([]);
    core.advance(); // the driver says: durable
    expect(core.commitIndex).toBe(1);
    expect(core.ready().committed.map((e) => e.index)).toEqual([1]);
    core.advance();
  });
});

describe('§5.4.2 committing entries from previous terms (Figure 8)', () => {
  // State (c) of Figure 8: S1 leads term 4 and has replicated the term-2 entry at index 2 to S2
  // and S3 — a majority — while S5 holds a term-3 entry at index 2.
  function figure8(createCore?: (o: ConstructorParameters<typeof RaftCore>[0]) => RaftCore) {
    const c = new Cluster({
      voters: [1, 2, 3, 4, 5],
      initial: {
        1: { term: 3, entries: logOfTerms([1, 2]) },
        2: { term: 3, entries: logOfTerms([1, 2]) },
        3: { term: 3, entries: logOfTerms([1]) },
        4: { term: 3, entries: logOfTerms([1]) },
        5: { term: 3, entries: logOfTerms([1, 3]) },
      },
      ...(createCore ? { createCore } : {}),
    });
    c.timeout(1);
    c.deliver({ drop: (m) => m.type === 'AppendEntries' });
    expect(c.core(1).role).toBe('leader');
    expect(c.core(1).term).toBe(4);
    expect(c.terms(1)).toEqual([1, 2, 4]); // its own no-op at index 3
    // S1 gets the term-2 entry (only) to S3, and hears S2 and S3 acknowledge index 2.
    const entry2 = c.core(1).entryAt(2)!;
    for (const to of [2, 3]) {
      c.stepInto({ type: 'AppendEntries', from: nodeId(1), to: nodeId(to), term: term(4), prevLogIndex: 1, prevLogTerm: term(1), entries: [entry2], leaderCommit: 0 });
    }
    c.deliver({ drop: (m) => m.type === 'AppendEntries' });
    return c;
  }

  test('an entry of an earlier term stored on a majority is not committed by counting', () => {
    const c = figure8();
    expect(
      c
        .core(1)
        .progress()
        .filter((p) => p.matchIndex >= 2)
        .map((p) => p.id),
    ).toEqual([2, 3]);
    expect(c.core(1).commitIndex).toBe(0);
  });

  test('why: if S1 now fails, S5 can win and overwrite index 2 everywhere', () => {
    const c = figure8();
    c.crash(1);
    c.queue = [];
    c.advance(ELECTION_MAX_MS);
    c.elect(5); // S5's last term 3 beats the term-2 entries of S2, S3 (and S4's shorter log)
    expect(c.core(5).role).toBe('leader');
    for (const id of [2, 3, 4]) expect(c.core(id).termAt(2)).toBe(3);
  });

  test('a deliberately broken leader that counts earlier-term entries commits index 2 — the entry S5 then overwrites', () => {
    class CommitsByCountingAnyTerm extends RaftCore {
      protected override maybeCommit(): boolean {
        if (!this.leader) return false;
        const index = this.leader.quorumMatchIndex(this.voters, this.log.stableIndex);
        if (index <= this.commit) return false;
        this.commit = index;
        return true;
      }
    }
    const c = figure8((o) => (o.id === 1 ? new CommitsByCountingAnyTerm(o) : new RaftCore(o)));
    expect(c.core(1).commitIndex).toBe(2);
    expect(c.applied.get(nodeId(1))!.map((e) => `${e.index}@${e.term}`)).toEqual(['1@1', '2@2']);
  });

  test('once the current-term entry reaches a majority, both commit together and S5 can no longer win', () => {
    const c = figure8();
    const entry3 = c.core(1).entryAt(3)!;
    for (const to of [2, 3]) {
      c.stepInto({ type: 'AppendEntries', from: nodeId(1), to: nodeId(to), term: term(4), prevLogIndex: 2, prevLogTerm: term(2), entries: [entry3], leaderCommit: 0 });
    }
    c.deliver({ drop: (m) => m.type === 'AppendEntries' });
    expect(c.core(1).commitIndex).toBe(3);
    expect(c.applied.get(nodeId(1))!.map((e) => `${e.index}@${e.term}`)).toEqual(['1@1', '2@2', '3@4']);
    c.crash(1);
    c.queue = [];
    c.advance(ELECTION_MAX_MS);
    c.elect(5); // S2 and S3 now end in term 4: S5's term-3 log is behind theirs
    expect(c.core(5).role).not.toBe('leader');
  });
});

describe('log state after restarts', () => {
  test('a follower that crashes keeps what it acknowledged and catches up on restart', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    c.propose(1, 'a');
    c.deliver();
    c.crash(3);
    c.propose(1, 'b');
    c.deliver();
    c.start(3);
    expect(c.terms(3)).toEqual([1, 1]); // noop and 'a' were durable before it acknowledged them
    c.run(2 * ELECTION_MAX_MS);
    expect(c.appliedData(3)).toEqual(['a', 'b']);
  });
});
