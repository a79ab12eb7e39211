/**
 * Majority arithmetic. Only voters take part; learners are never passed in here.
 * test/unit/raft/quorum.test.ts checks these against a deliberately naive model (style §14).
 */
import { invariant, type NodeId } from '../common';

export function quorumSize(voterCount: number): number {
  invariant(voterCount > 0, 'a quorum needs at least one voter', { voterCount });
  return Math.floor(voterCount / 2) + 1;
}

/** The largest index that at least a majority of `matchIndexes` (one per voter) have reached. */
export function quorumIndex(matchIndexes: readonly number[]): number {
  const sorted = [...matchIndexes].sort((a, b) => b - a);
  return sorted[quorumSize(sorted.length) - 1]!;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** `votes` maps a voter to its answer; voters without an answer are still pending. */
export function tallyVotes(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const answer = votes.get(v);
    if (answer === true) granted++;
    else if (answer === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (granted >= quorum) return 'won';
  if (voters.length - rejected < quorum) return 'lost';
  return 'pending';
}
