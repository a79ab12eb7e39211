/** The driver contract: what ready() hands out, in what order, and what the driver may do when. */
import { describe, expect, test } from 'vitest';
import { CairnError, ErrorCode } from '../../../src/common/errors';
import { SeededRandom } from '../../../src/common/random';
import { nodeId, term } from '../../../src/common/types';
import { MAX_ENTRY_BYTES } from '../../../src/raft/limits';
import { messageProblem } from '../../../src/raft/messages';
import type { RaftCoreOptions } from '../../../src/raft/options';
import { RaftCore } from '../../../src/raft/raft-core';
import { Cluster, logOfTerms } from './cluster';

function options(overrides: Partial<RaftCoreOptions> = {}): RaftCoreOptions {
  return {
    id: nodeId(1),
    voters: [nodeId(1), nodeId(2), nodeId(3)],
    electionTimeoutMinMs: 150,
    electionTimeoutMaxMs: 300,
    heartbeatIntervalMs: 50,
    random: new SeededRandom(3),
    initial: { hardState: { term: term(0), votedFor: null }, snapshot: null, entries: [] },
    nowMs: 0,
    ...overrides,
  };
}

describe('ready()', () => {
  test('a granted vote comes in the same ready as the hard state recording it (persist, then send)', () => {
    const core = new RaftCore(options());
    core.step({ type: 'Vote', from: nodeId(2), to: nodeId(1), term: term(4), lastLogIndex: 0, lastLogTerm: term(0) }, 1000);
    const rd = core.ready();
    expect(rd.hardState).toEqual({ term: 4, votedFor: 2 });
    expect(rd.messages).toMatchObject([{ type: 'VoteResponse', granted: true, term: 4 }]);
  });

  test('an acknowledgement comes in the same ready as the entries it acknowledges', () => {
    const core = new RaftCore(options());
    core.step({ type: 'AppendEntries', from: nodeId(2), to: nodeId(1), term: term(1), prevLogIndex: 0, prevLogTerm: term(0), entries: logOfTerms([1, 1]), leaderCommit: 1 }, 10);
    const rd = core.ready();
    expect(rd.entriesToAppend.map((e) => e.index)).toEqual([1, 2]);
    expect(rd.messages).toMatchObject([{ type: 'AppendEntriesResponse', success: true, matchIndex: 2 }]);
    expect(rd.committed.map((e) => e.index)).toEqual([1]);
  });

  test('nothing to do: hasReady() is false and ready() is empty apart from the deadline', () => {
    const core = new RaftCore(options());
    expect(core.hasReady()).toBe(false);
    expect(core.ready()).toEqual({ entriesToAppend: [], messages: [], committed: [], nextDeadlineMs: core.nextDeadlineMs });
  });

  test('inputs may arrive while a ready is being persisted; ready() twice without advance() is a bug', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    const leader = c.core(1);
    leader.propose(new TextEncoder().encode('a'), c.now);
    const first = leader.ready();
    expect(() => leader.ready()).toThrow(/ready\(\) called again before advance\(\)/);
    leader.propose(new TextEncoder().encode('b'), c.now); // while 'a' is being written
    leader.advance();
    const second = leader.ready();
    expect(first.entriesToAppend.map((e) => e.index)).toEqual([2]);
    expect(second.entriesToAppend.map((e) => e.index)).toEqual([3]);
    leader.advance();
    expect(() => leader.advance()).toThrow(/advance\(\) without ready\(\)/);
  });

  test('nextDeadlineMs: the election timeout for a follower, the next heartbeat for a leader', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    const follower = c.core(2);
    expect(follower.nextDeadlineMs).toBeGreaterThanOrEqual(150);
    c.elect(1);
    expect(c.core(1).nextDeadlineMs).toBe(c.now + 50);
  });

  test('proposals are bounded: too large is refused with MESSAGE_TOO_LARGE', () => {
    const c = new Cluster({ voters: [1] });
    c.timeout(1);
    expect(c.core(1).propose(new Uint8Array(MAX_ENTRY_BYTES + 1), c.now)).toEqual({ ok: false, code: ErrorCode.MESSAGE_TOO_LARGE, leaderHint: 1 });
  });

  test('messages from outside the configuration or addressed elsewhere are ignored', () => {
    const core = new RaftCore(options());
    core.step({ type: 'Vote', from: nodeId(9), to: nodeId(1), term: term(4), lastLogIndex: 0, lastLogTerm: term(0) }, 1000);
    core.step({ type: 'Vote', from: nodeId(2), to: nodeId(3), term: term(4), lastLogIndex: 0, lastLogTerm: term(0) }, 1000);
    expect(core.hasReady()).toBe(false);
    expect(core.term).toBe(0);
  });
});

describe('configuration', () => {
  const bad: Array<[string, Partial<RaftCoreOptions>, RegExp]> = [
    ['no voters', { voters: [] }, /voter set is empty/],
    ['voter and learner', { learners: [nodeId(2)] }, /both voter and learner/],
    ['heartbeat too slow', { heartbeatIntervalMs: 200 }, /must exceed heartbeatIntervalMs/],
    ['max below min', { electionTimeoutMaxMs: 100 }, /must be at least electionTimeoutMinMs/],
    ['gap in entries', { initial: { hardState: { term: term(1), votedFor: null }, snapshot: null, entries: logOfTerms([1], 2) } }, /expected index 1, found 2/],
    ['term below log', { initial: { hardState: { term: term(1), votedFor: null }, snapshot: null, entries: logOfTerms([2]) } }, /below the last log term/],
  ];
  test.each(bad)('%s is refused with INVALID_CONFIG', (_name, override, message) => {
    let error: unknown;
    try {
      new RaftCore(options(override));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).code).toBe(ErrorCode.INVALID_CONFIG);
    expect((error as CairnError).message).toMatch(message);
  });
});

describe('messageProblem', () => {
  test('accepts what the core sends', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    c.propose(1, 'x');
    c.run(200);
    for (const ready of c.readies.values()) for (const rd of ready) for (const m of rd.messages) expect(messageProblem(m)).toBe(null);
  });

  test('names what is wrong with a malformed message', () => {
    expect(messageProblem(null)).toBe('message is not an object');
    expect(messageProblem({ type: 'Hello' })).toBe('unknown message type Hello');
    expect(messageProblem({ type: 'Vote', from: 1, to: 2, term: -1 })).toBe('term must be a non-negative integer at most 2^52');
    expect(messageProblem({ type: 'Vote', from: 1, to: 2, term: 1, lastLogIndex: 1.5, lastLogTerm: 1 })).toBe('Vote.lastLogIndex must be a non-negative integer at most 2^52');
    const entries = logOfTerms([1], 3);
    expect(messageProblem({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 0, entries })).toBe(
      'AppendEntries.entries must be contiguous after prevLogIndex',
    );
    expect(messageProblem({ type: 'InstallSnapshot', from: 1, to: 2, term: 1, snapshot: { lastIndex: 1, lastTerm: 1, data: 'x' } })).toBe('InstallSnapshot.snapshot.data must be a Uint8Array');
  });
});
