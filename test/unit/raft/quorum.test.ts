/** Quorum arithmetic against a deliberately naive model (style §14, after etcd-io/raft's quorum tests). */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { NodeId } from '../../../src/common/types';
import { nodeId } from '../../../src/common/types';
import { quorumIndex, quorumSize, tallyVotes } from '../../../src/raft/quorum';

/** The largest index such that more than half of the voters have reached it, by trying every candidate. */
function naiveQuorumIndex(matches: readonly number[]): number {
  let best = 0;
  for (const candidate of matches) {
    const reached = matches.filter((m) => m >= candidate).length;
    if (2 * reached > matches.length && candidate > best) best = candidate;
  }
  return best;
}

function naiveTally(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): string {
  const yes = voters.filter((v) => votes.get(v) === true).length;
  const undecided = voters.filter((v) => !votes.has(v)).length;
  if (2 * yes > voters.length) return 'won';
  if (2 * (yes + undecided) <= voters.length) return 'lost';
  return 'pending';
}

describe('quorum', () => {
  test('quorum size is a strict majority', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumSize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });

  test('quorumIndex matches the naive model', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 9 }), (matches) => {
        expect(quorumIndex(matches)).toBe(naiveQuorumIndex(matches));
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  test('tallyVotes matches the naive model', () => {
    const answer = fc.constantFrom<'yes' | 'no' | 'none'>('yes', 'no', 'none');
    fc.assert(
      fc.property(fc.array(answer, { minLength: 1, maxLength: 9 }), (answers) => {
        const voters = answers.map((_, i) => nodeId(i + 1));
        const votes = new Map<NodeId, boolean>();
        answers.forEach((a, i) => a !== 'none' && votes.set(nodeId(i + 1), a === 'yes'));
        expect(tallyVotes(voters, votes)).toBe(naiveTally(voters, votes));
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  test('votes from non-voters do not count', () => {
    const votes = new Map([
      [nodeId(9), true],
      [nodeId(8), true],
      [nodeId(1), true],
    ]);
    expect(tallyVotes([nodeId(1), nodeId(2), nodeId(3)], votes)).toBe('pending');
  });
});
