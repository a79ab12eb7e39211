/** Learners (non-voting members, how brokers follow the metadata log): replicated to, never counted, never vote, never campaign. */
import { describe, expect, test } from 'vitest';
import { nodeId, term } from '../../../src/common/types';
import { Cluster, ELECTION_MAX_MS, ELECTION_MIN_MS, HEARTBEAT_MS } from './cluster';

describe('learners', () => {
  test('are replicated to and apply the committed log', () => {
    const c = new Cluster({ voters: [1, 2, 3], learners: [4, 5] });
    c.elect(1);
    c.propose(1, 'a');
    c.propose(1, 'b');
    c.deliver();
    for (const id of [4, 5]) {
      expect(c.appliedData(id)).toEqual(['a', 'b']);
      expect(c.core(id).leaderId).toBe(1);
      expect(c.core(id).isLearner).toBe(true);
    }
    expect(
      c
        .core(1)
        .progress()
        .filter((p) => p.isLearner)
        .map((p) => p.id),
    ).toEqual([4, 5]);
  });

  test('are never counted towards a commit', () => {
    const c = new Cluster({ voters: [1, 2, 3], learners: [4, 5] });
    c.elect(1);
    c.isolate(2);
    c.isolate(3);
    c.propose(1, 'a');
    c.deliver();
    // The leader and both learners hold the entry: three of five nodes, one of three voters.
    expect(c.core(4).lastIndex).toBe(2);
    expect(c.core(1).commitIndex).toBe(1);
    expect(c.appliedData(1)).toEqual([]);
  });

  test('are never counted by CheckQuorum', () => {
    const c = new Cluster({ voters: [1, 2, 3], learners: [4, 5] });
    c.elect(1);
    c.isolate(2);
    c.isolate(3);
    c.run(2 * ELECTION_MIN_MS + HEARTBEAT_MS);
    expect(c.core(1).role).toBe('follower');
  });

  test('never grant a vote or a pre-vote', () => {
    const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
    const learner = c.core(4);
    for (const type of ['PreVote', 'Vote'] as const) {
      learner.step({ type, from: nodeId(1), to: nodeId(4), term: term(1), lastLogIndex: 5, lastLogTerm: term(1) }, 1000);
    }
    expect(learner.ready().messages).toMatchObject([
      { type: 'PreVoteResponse', granted: false },
      { type: 'VoteResponse', granted: false },
    ]);
  });

  test('never campaign, however long they hear nothing', () => {
    const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
    c.elect(1);
    c.isolate(4);
    c.run(10 * ELECTION_MAX_MS);
    expect(c.core(4).role).toBe('follower');
    expect(c.core(4).term).toBe(1);
    expect(c.core(4).leaderId).toBe(null); // it forgets a leader it no longer hears
    expect(c.transcript.some((l) => /(PreVote|Vote) 4->/.test(l))).toBe(false);
  });

  test('a cluster of one voter and a learner works', () => {
    const c = new Cluster({ voters: [1], learners: [2] });
    c.timeout(1);
    c.propose(1, 'x');
    c.deliver();
    expect(c.appliedData(2)).toEqual(['x']);
  });
});
