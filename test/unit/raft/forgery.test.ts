/**
 * Messages no correct node sends — forged by a client that reached the Raft service, or sent by a
 * bug — must not move a term, depose a leader, commit an unreplicated entry or throw (issue 15
 * item 1). A forged term of 2^53 - 1 once left no next term: every later PreVote needed 2^53,
 * which every node dropped, and elections stopped for good.
 */
import { describe, expect, test } from 'vitest';
import { SeededRandom } from '../../../src/common/random';
import { nodeId, term } from '../../../src/common/types';
import { MAX_TERM_JUMP, MAX_WIRE_VALUE } from '../../../src/raft/limits';
import type { AppendEntries, AppendEntriesResponse, Message } from '../../../src/raft/messages';
import { MESSAGE_TYPES, messageProblem } from '../../../src/raft/messages';
import { fromWire, type RaftMessageWire } from '../../../src/raft/raft-wire';
import { bytes, Cluster, ELECTION_MAX_MS, logOfTerms } from './cluster';

const append = (from: number, to: number, t: number, extra: Partial<AppendEntries> = {}): AppendEntries => ({
  type: 'AppendEntries',
  from: nodeId(from),
  to: nodeId(to),
  term: term(t),
  prevLogIndex: 0,
  prevLogTerm: term(0),
  entries: [],
  leaderCommit: 0,
  ...extra,
});

const appendResponse = (from: number, to: number, t: number, extra: Partial<AppendEntriesResponse> = {}): AppendEntriesResponse => ({
  type: 'AppendEntriesResponse',
  from: nodeId(from),
  to: nodeId(to),
  term: term(t),
  success: true,
  matchIndex: 0,
  rejectedIndex: 0,
  conflictIndex: 0,
  conflictTerm: term(0),
  ...extra,
});

/** A three-voter cluster with node 1 leading term 1 and everything delivered. */
function healthy(): Cluster {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  expect(c.leaders()).toEqual([1]);
  return c;
}

/** Steps a forged message into its addressee and returns why it was refused (null: accepted). */
function forge(c: Cluster, m: Message): string | null {
  const refused = c.core(m.to).step(m, c.now);
  c.drain(m.to);
  return refused;
}

describe('forged Raft messages', () => {
  test('a term with no room to grow is malformed on the wire: 2^53 - 1 and anything above 2^52', () => {
    const wire = (t: number): RaftMessageWire => ({ type: 'AppendEntries', from: 3, to: 2, term: t, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 });
    expect(fromWire(wire(2 ** 53 - 1))).toEqual({ problem: 'term must be a non-negative integer at most 2^52' });
    expect(fromWire(wire(MAX_WIRE_VALUE + 1))).toHaveProperty('problem');
    expect(fromWire(wire(MAX_WIRE_VALUE))).toHaveProperty('message');
    // Fields that can only be forged: a log term above the message term.
    expect(messageProblem({ ...append(1, 2, 3), prevLogTerm: 4 })).toBe('AppendEntries.prevLogTerm is above the message term');
    expect(messageProblem({ ...append(1, 2, 3), entries: logOfTerms([5], 1) })).toBe('AppendEntries.entries terms must not fall and not exceed the message term');
    expect(messageProblem({ ...append(1, 2, 3), entries: logOfTerms([2, 1], 1) })).toBe('AppendEntries.entries terms must not fall and not exceed the message term');
    expect(messageProblem({ type: 'PreVote', from: 1, to: 2, term: 3, lastLogIndex: 9, lastLogTerm: 4 })).toBe('PreVote.lastLogTerm is above the message term');
  });

  test('an AppendEntries of a later term from a follower does not move the term of a node that hears its leader', () => {
    const c = healthy();
    const refused = forge(c, append(3, 2, 1_000));
    expect(refused).toMatch(/ignored: this node hears from leader 1 in term 1/);
    expect(c.core(2).term).toBe(1);
    expect(c.core(2).leaderId).toBe(1);
    c.run(5 * ELECTION_MAX_MS);
    expect(c.leaders()).toEqual([1]);
    expect(c.core(1).term).toBe(1);
  });

  test('an AppendEntriesResponse of a later term does not depose a leader in good standing', () => {
    const c = healthy();
    expect(forge(c, appendResponse(2, 1, 7, { success: false }))).toMatch(/this node leads in term 1/);
    expect(c.core(1).role).toBe('leader');
    expect(c.core(1).term).toBe(1);
    c.run(5 * ELECTION_MAX_MS);
    expect(c.leaders()).toEqual([1]);
    expect(c.propose(1, 'after')).toMatchObject({ ok: true, term: 1 });
  });

  test('…but a follower whose term really rose (a failed election) still gets the leader to step down and rejoins', () => {
    const c = healthy();
    c.crash(3);
    c.disks.get(nodeId(3))!.hardState = { term: term(2), votedFor: null };
    c.start(3);
    c.run(10 * ELECTION_MAX_MS);
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect(c.core(leaders[0]!).term).toBeGreaterThanOrEqual(2);
    expect(c.propose(leaders[0]!, 'together')).toMatchObject({ ok: true });
    c.deliver();
    for (const id of [1, 2, 3]) expect(c.appliedData(id)).toEqual(['together']);
  });

  test('a second leader claimed for the current term is refused, not thrown on — by followers and by the leader', () => {
    const c = healthy();
    expect(() => forge(c, append(3, 2, 1))).not.toThrow();
    expect(forge(c, append(3, 2, 1))).toBe('3 claims to lead term 1, which 1 leads');
    expect(forge(c, append(2, 1, 1))).toBe('2 claims to lead term 1, which 1 leads');
    expect(c.core(2).leaderId).toBe(1);
    expect(c.core(1).role).toBe('leader');
  });

  test('a message from a node outside the configuration, or a term from a learner, moves nothing', () => {
    const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
    c.elect(1);
    expect(forge(c, append(9, 2, 50))).toMatch(/from 9, not a member/);
    // Out of contact with the leader, a learner still cannot lend anyone a term.
    c.advance(5 * ELECTION_MAX_MS);
    expect(forge(c, append(4, 2, 50))).toBe('term 50 from 4, which is not a voter');
    expect(c.core(2).term).toBe(1);
  });

  test('a term too far ahead is refused even by a node without a leader, and a plausible one leaves room to elect', () => {
    const c = healthy();
    c.isolate(1);
    c.advance(5 * ELECTION_MAX_MS); // 2 and 3 no longer hear from 1: no lease protects them
    expect(forge(c, append(3, 2, 1 + MAX_TERM_JUMP + 1))).toMatch(/implausibly far ahead/);
    expect(c.core(2).term).toBe(1);
    // The largest jump allowed still leaves a next term: the rest of the cluster elects past it.
    const forged = 1 + MAX_TERM_JUMP;
    expect(forge(c, append(3, 2, forged))).toBe(null);
    expect(c.core(2).term).toBe(forged);
    c.run(20 * ELECTION_MAX_MS);
    const [leader] = c.leaders().filter((id) => id !== 1);
    expect(leader).toBeDefined();
    expect(c.core(leader!).term).toBeGreaterThan(forged);
    expect(c.propose(leader!, 'still going')).toMatchObject({ ok: true });
  });

  test('an acknowledgement of an index the leader never wrote commits nothing', () => {
    const c = healthy();
    c.isolate(2);
    c.isolate(3);
    expect(c.propose(1, 'only on the leader')).toMatchObject({ ok: true, index: 2 });
    expect(forge(c, appendResponse(2, 1, 1, { matchIndex: 10 }))).toBe('2 acknowledges index 10, beyond the last entry 2');
    expect(c.core(1).commitIndex).toBe(1);
  });

  test('an AppendEntries that rewrites a committed entry is refused, not thrown on', () => {
    const c = healthy();
    c.propose(1, 'a');
    c.deliver();
    expect(c.core(2).commitIndex).toBe(2);
    // From the real leader's id, at its term, starting below the commit: entry 2 (committed, term 1) given term 0.
    const rewrite = append(1, 2, 1, { prevLogIndex: 0, prevLogTerm: term(0), entries: logOfTerms([1, 0, 1], 1) });
    expect(() => forge(c, rewrite)).not.toThrow();
    expect(forge(c, rewrite)).toBe('AppendEntries gives committed entry 2 term 0, not 1');
    expect(c.terms(2)).toEqual([1, 1]);
    expect(c.appliedData(2)).toEqual(['a']);
  });

  test('no sequence of random messages makes a core throw (seeded; the failing seed is printed)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = new SeededRandom(seed);
      const c = healthy();
      c.propose(1, 'x');
      c.deliver();
      const pick = <T>(xs: readonly T[]): T => xs[random.int(0, xs.length - 1)]!;
      const num = () => pick([0, 1, 2, 3, random.int(0, 50), MAX_WIRE_VALUE, MAX_TERM_JUMP + 2]);
      try {
        for (let i = 0; i < 300; i++) {
          const type = pick(MESSAGE_TYPES);
          const wire: RaftMessageWire = {
            type,
            from: pick([1, 2, 3, 4]),
            to: pick([1, 2, 3]),
            term: num(),
            lastLogIndex: num(),
            lastLogTerm: num(),
            granted: random.int(0, 1) === 1,
            prevLogIndex: num(),
            prevLogTerm: num(),
            entries: random.int(0, 1) === 1 ? [] : [{ index: num(), term: num(), kind: pick(['data', 'noop']), data: bytes('f') }],
            leaderCommit: num(),
            success: random.int(0, 1) === 1,
            matchIndex: num(),
            rejectedIndex: num(),
            conflictIndex: num(),
            conflictTerm: num(),
            snapshot: { lastIndex: num(), lastTerm: num(), data: bytes('s') },
          };
          const parsed = fromWire(wire);
          if ('message' in parsed && c.cores.has(parsed.message.to)) forge(c, parsed.message);
          if (i % 10 === 0) c.run(50);
        }
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err });
      }
    }
  });
});
