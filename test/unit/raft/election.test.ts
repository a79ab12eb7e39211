/**
 * Leader election, named after the Raft paper (§5.2, §5.4.1) and the thesis' PreVote (§9.6) and
 * CheckQuorum / leader stickiness (§6.2, §4.2.3).
 */
import { describe, expect, test } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { nodeId, term } from '../../../src/common/types';
import { RaftCore } from '../../../src/raft/raft-core';
import type { Message, VoteRequest } from '../../../src/raft/messages';
import { Cluster, ELECTION_MAX_MS, ELECTION_MIN_MS, HEARTBEAT_MS, logOfTerms } from './cluster';

const vote = (from: number, to: number, t: number, lastLogIndex: number, lastLogTerm: number, type: 'Vote' | 'PreVote' = 'Vote'): VoteRequest => ({
  type,
  from: nodeId(from),
  to: nodeId(to),
  term: term(t),
  lastLogIndex,
  lastLogTerm: term(lastLogTerm),
});

describe('§5.2 leader election', () => {
  test('a follower that hears nothing pre-votes without changing term, then campaigns and wins', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.timeout(1);
    expect(c.core(1).role).toBe('precandidate');
    expect(c.core(1).term).toBe(0);
    expect(c.queue.map((m) => `${m.type}->${m.to}@${m.term}`)).toEqual(['PreVote->2@1', 'PreVote->3@1']);
    c.deliver();
    expect(c.core(1).role).toBe('leader');
    expect(c.core(1).term).toBe(1);
    for (const id of [2, 3]) {
      expect(c.core(id).role).toBe('follower');
      expect(c.core(id).leaderId).toBe(1);
      expect(c.core(id).hardState).toEqual({ term: 1, votedFor: 1 });
    }
    // The new leader's no-op (Raft §8) is replicated and committed everywhere.
    expect(c.core(1).commitIndex).toBe(1);
    expect(c.applied.get(nodeId(1))!.map((e) => e.kind)).toEqual(['noop']);
  });

  test('a single-voter cluster elects itself at its first timeout', () => {
    const c = new Cluster({ voters: [1] });
    c.timeout(1);
    expect(c.core(1).role).toBe('leader');
    expect(c.propose(1, 'x')).toEqual({ ok: true, index: 2, term: 1 });
    expect(c.appliedData(1)).toEqual(['x']);
  });

  test('election timeouts are randomized within [min, max] and rearmed on every reset', () => {
    const c = new Cluster({ voters: [1, 2, 3], seed: 7 });
    const deadlines = [1, 2, 3].map((id) => c.core(id).nextDeadlineMs);
    for (const d of deadlines) {
      expect(d).toBeGreaterThanOrEqual(ELECTION_MIN_MS);
      expect(d).toBeLessThanOrEqual(ELECTION_MAX_MS);
    }
    expect(new Set(deadlines).size).toBeGreaterThan(1);
  });

  test('election safety: a node grants at most one vote per term (and repeats it to the same candidate)', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    const voter = c.core(3);
    voter.step(vote(1, 3, 1, 0, 0), 200);
    voter.step(vote(2, 3, 1, 0, 0), 200);
    voter.step(vote(1, 3, 1, 0, 0), 200); // a retransmission
    const answers = voter.ready().messages.map((m) => m.type === 'VoteResponse' && `${m.to}:${m.granted}`);
    expect(answers).toEqual(['1:true', '2:false', '1:true']);
    expect(voter.hardState).toEqual({ term: 1, votedFor: 1 });
  });

  test('two candidates in one term: at most one wins, the other steps down when it hears the leader', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.timeout(1);
    c.timeout(2);
    c.deliver();
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    const termsOfLeaders = leaders.map((id) => c.core(id).term);
    for (const id of [1, 2, 3]) expect(c.core(id).leaderId).toBe(leaders[0]);
    expect(termsOfLeaders).toEqual([c.core(3).term]);
  });

  test('a split vote elects nobody; a later timeout does', () => {
    const c = new Cluster({ voters: [1, 2, 3, 4] });
    // 1 and 2 both pass the pre-vote, then each gets only one other vote: 2 of 4 is no majority.
    c.timeout(1);
    c.timeout(2);
    c.deliver({ drop: (m) => m.type === 'Vote' && ((m.from === 1 && m.to !== 3) || (m.from === 2 && m.to !== 4)) });
    expect(c.leaders()).toEqual([]);
    expect(c.core(1).role).toBe('candidate');
    expect(c.core(2).role).toBe('candidate');
    c.timeout(1);
    c.deliver();
    expect(c.leaders()).toEqual([1]);
    expect(c.core(1).term).toBe(2);
  });

  test('vote responses from an earlier term are not counted', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.timeout(1);
    c.deliver({ drop: (m) => m.type === 'Vote' && m.to === 3, hold: (m) => m.type === 'VoteResponse' });
    const stale = c.held; // 2's grant for term 1, delayed
    expect(stale).toHaveLength(1);
    c.timeout(1); // term 1 campaign times out: pre-vote for term 2
    c.deliver({ drop: (m) => m.type === 'Vote' });
    expect(c.core(1).role).toBe('candidate');
    expect(c.core(1).term).toBe(2);
    c.stepInto(stale[0]!);
    expect(c.core(1).role).toBe('candidate'); // one real vote (its own) of three
  });

  test('a deliberately broken node that counts earlier-term votes becomes leader without a quorum of its term', () => {
    class CountsOldVotes extends RaftCore {
      protected override onLowerTerm(msg: Message): void {
        if (msg.type === 'VoteResponse' && msg.granted && this.role === 'candidate') this.handleVoteResponse(msg);
        else super.onLowerTerm(msg);
      }
    }
    const c = new Cluster({ voters: [1, 2, 3], createCore: (o) => new CountsOldVotes(o) });
    c.timeout(1);
    c.deliver({ drop: (m) => m.type === 'Vote' && m.to === 3, hold: (m) => m.type === 'VoteResponse' });
    const stale = c.held;
    c.timeout(1);
    c.deliver({ drop: (m) => m.type === 'Vote' });
    c.stepInto(stale[0]!);
    expect(c.core(1).role).toBe('leader'); // what the simulation's "two leaders per term" check catches
  });
});

describe('§5.4.1 election restriction', () => {
  test('a vote goes only to a log at least as up to date: last term first, then length', () => {
    const c = new Cluster({ voters: [1, 2, 3], initial: { 3: { entries: logOfTerms([1, 1, 2]) } } });
    const voter = c.core(3);
    voter.step(vote(1, 3, 5, 9, 1), 400); // longer, but an older last term
    voter.step(vote(1, 3, 6, 2, 2), 400); // same last term, shorter
    voter.step(vote(2, 3, 7, 3, 2), 400); // same last term, as long
    voter.step(vote(1, 3, 8, 1, 3), 400); // newer last term, shorter
    const answers = voter.ready().messages.map((m) => m.type === 'VoteResponse' && `${m.term}:${m.granted}`);
    expect(answers).toEqual(['5:false', '6:false', '7:true', '8:true']);
  });

  test('a node with a stale log cannot win, and with PreVote does not even raise its term', () => {
    const c = new Cluster({
      voters: [1, 2, 3],
      initial: { 1: { entries: logOfTerms([1]) }, 2: { entries: logOfTerms([1, 1]) }, 3: { entries: logOfTerms([1, 1]) } },
    });
    c.elect(1);
    expect(c.core(1).role).toBe('follower');
    expect([1, 2, 3].map((id) => c.core(id).term)).toEqual([1, 1, 1]);
    c.elect(2);
    expect(c.core(2).role).toBe('leader');
    expect(c.terms(1)).toEqual([1, 1, 2]);
  });
});

describe('PreVote and CheckQuorum: disruption prevention', () => {
  test('a partitioned node keeps its term, and cannot depose the healthy leader when it rejoins', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    c.isolate(3);
    c.run(5 * ELECTION_MAX_MS);
    expect(c.core(3).term).toBe(1); // pre-votes failed; no term inflation
    expect(c.core(1).role).toBe('leader');
    c.heal();
    c.timeoutOnly(3); // its pre-votes reach 1 and 2, which heard from 1 within the last heartbeat
    expect(c.core(3).role).toBe('precandidate');
    c.deliver();
    expect(c.core(1).role).toBe('leader');
    expect(c.core(1).term).toBe(1);
    c.run(2 * HEARTBEAT_MS);
    expect(c.core(3).leaderId).toBe(1);
  });

  test('leader stickiness: a vote request from a later term is ignored while the leader is heard from', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    const follower = c.core(2);
    follower.step(vote(3, 2, 9, 1, 1), c.now + 10);
    expect(follower.hasReady()).toBe(false); // no answer, no new term
    expect(follower.term).toBe(1);
    follower.step(vote(3, 2, 9, 1, 1), c.now + ELECTION_MIN_MS + 1); // the lease has run out
    expect(follower.term).toBe(9);
    expect(follower.ready().messages).toMatchObject([{ type: 'VoteResponse', granted: true, term: 9 }]);
  });

  test('the leader itself ignores vote requests while it holds its quorum', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    c.core(1).step(vote(3, 1, 9, 99, 9), c.now + 1);
    expect(c.core(1).role).toBe('leader');
    expect(c.core(1).term).toBe(1);
  });

  test('CheckQuorum: a leader cut off from a majority steps down within two election timeouts', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    c.isolate(1);
    c.run(2 * ELECTION_MIN_MS + HEARTBEAT_MS);
    expect(c.core(1).role).toBe('follower');
    expect(c.core(1).leaderId).toBe(null);
    expect(c.propose(1, 'x')).toMatchObject({ ok: false, leaderHint: null });
    c.run(2 * ELECTION_MAX_MS);
    const [leader] = c.leaders();
    expect([2, 3]).toContain(leader);
  });

  test('a node whose term rose in a failed election rejoins: the leader learns the term and a new election follows', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    expect(c.propose(1, 'a')).toMatchObject({ ok: true });
    c.deliver();
    // Node 3 passes a pre-vote, raises its term to 2, and then loses every Vote message.
    c.isolate(3);
    c.timeout(3);
    c.core(3).step({ type: 'PreVoteResponse', from: nodeId(2), to: nodeId(3), term: term(2), granted: true }, c.now);
    c.drain(nodeId(3));
    expect(c.core(3).role).toBe('candidate');
    expect(c.core(3).term).toBe(2);
    c.queue = [];
    c.heal();
    c.run(4 * ELECTION_MAX_MS);
    const [leader] = c.leaders();
    expect(leader).toBeDefined();
    const t = c.core(leader!).term;
    expect(t).toBeGreaterThanOrEqual(3);
    for (const id of [1, 2, 3]) expect(c.core(id).term).toBe(t);
    expect(c.propose(leader!, 'b')).toMatchObject({ ok: true });
    c.deliver();
    for (const id of [1, 2, 3]) expect(c.appliedData(id)).toEqual(['a', 'b']);
  });

  test('a follower refuses to vote in a term whose leader it already knows', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    const follower = c.core(2);
    follower.step(vote(3, 2, 1, 5, 1), c.now + 1000);
    expect(follower.ready().messages).toMatchObject([{ type: 'VoteResponse', granted: false, term: 1 }]);
  });

  test('a proposal to a follower is refused with NOT_CONTROLLER and the leader as hint', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.elect(1);
    expect(c.propose(2, 'x')).toEqual({ ok: false, code: ErrorCode.NOT_CONTROLLER, leaderHint: 1 });
  });
});
