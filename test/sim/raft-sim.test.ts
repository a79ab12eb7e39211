/**
 * The Raft simulation under vitest (style §2): many seeds of chaos — drops, delays, duplicates,
 * reordering, partitions (one-way too), crashes, torn writes — with every invariant checked after
 * every step, then a liveness and a convergence check. Every failure names its seed; replay with
 *
 *   npm run sim -- --seeds 1 --seed-start <seed> [--nodes 5] [--learners N] [--harsh] --trace
 *
 * The second half proves the checker can fail: deliberately broken nodes, defined here, must be
 * reported.
 */
import { describe, expect, test } from 'vitest';
import type { AppendEntries, Message, VoteRequest } from '../../src/raft/messages';
import type { RaftCoreOptions } from '../../src/raft/options';
import type { Membership, MembershipChange } from '../../src/raft/membership';
import { RaftCore } from '../../src/raft/raft-core';
import type { MembershipChangeResult } from '../../src/raft/types';
import type { SimulationOptions, SimulationResult } from './raft-simulation';
import { HARSH_FAULTS, simulate } from './raft-simulation';

const CHUNK = 50;

function seedRange(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

function chunks(start: number, count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = start; s < start + count; s += CHUNK) out.push([s, Math.min(s + CHUNK, start + count) - 1]);
  return out;
}

function runSeeds(first: number, last: number, options: Omit<SimulationOptions, 'seed'>): SimulationResult[] {
  return seedRange(first, last - first + 1).map((seed) => simulate({ ...options, seed }));
}

function failures(results: readonly SimulationResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => r.violation!);
}

describe('raft simulation: a correct cluster survives', () => {
  test.each(chunks(1, 600))('3 voters, seeds %i..%i', (first, last) => {
    expect(failures(runSeeds(first, last, { nodes: 3 }))).toEqual([]);
  });

  test.each(chunks(10_001, 300))('5 voters, seeds %i..%i', (first, last) => {
    expect(failures(runSeeds(first, last, { nodes: 5 }))).toEqual([]);
  });

  test.each(chunks(20_001, 150))('3 voters and 2 learners, seeds %i..%i', (first, last) => {
    expect(failures(runSeeds(first, last, { nodes: 3, learners: 2 }))).toEqual([]);
  });

  test.each(chunks(30_001, 200))('harsh faults, 3 voters, seeds %i..%i', (first, last) => {
    expect(failures(runSeeds(first, last, { nodes: 3, faults: HARSH_FAULTS }))).toEqual([]);
  });

  test.each(chunks(40_001, 100))('harsh faults, 5 voters, snapshots every 5 entries, seeds %i..%i', (first, last) => {
    expect(failures(runSeeds(first, last, { nodes: 5, faults: HARSH_FAULTS, snapshotEvery: 5 }))).toEqual([]);
  });

  test.each(chunks(60_001, 200))('membership changes: 3 voters and 2 spare nodes, seeds %i..%i', (first, last) => {
    expect(failures(runSeeds(first, last, { nodes: 3, spares: 2 }))).toEqual([]);
  });

  test.each(chunks(61_001, 100))('membership changes under harsh faults with snapshots every 5 entries, seeds %i..%i', (first, last) => {
    expect(failures(runSeeds(first, last, { nodes: 3, spares: 2, faults: HARSH_FAULTS, snapshotEvery: 5 }))).toEqual([]);
  });

  test('membership changes happen: a seed adds, promotes and removes', () => {
    const results = runSeeds(60_001, 60_020, { nodes: 3, spares: 2 });
    expect(results.reduce((sum, r) => sum + r.stats.membershipChanges, 0)).toBeGreaterThan(40);
  });

  test('long runs: 20 seeds of 30 000 steps', () => {
    expect(failures(runSeeds(50_001, 50_020, { nodes: 3, steps: 30_000 }))).toEqual([]);
  });

  test('a seed replays exactly', () => {
    const a = simulate({ seed: 4242, nodes: 5, learners: 1 });
    const b = simulate({ seed: 4242, nodes: 5, learners: 1 });
    expect(a).toEqual(b);
    expect(a.stats.maxCommitIndex).toBeGreaterThan(50);
    expect(a.stats.crashes).toBeGreaterThan(0);
    expect(a.stats.partitions).toBeGreaterThan(0);
  });
});

// ---- deliberately broken nodes: the checker must report them ----

/** Grants a vote to every candidate with a good enough log, even twice in one term. */
class VotesTwicePerTerm extends RaftCore {
  protected override canGrantVote(msg: VoteRequest): boolean {
    return !this.isLearner && this.log.isUpToDate(msg.lastLogIndex, msg.lastLogTerm);
  }
}

/** Ignores the election restriction (Raft §5.4.1): votes for any log. */
class VotesForAnyLog extends RaftCore {
  protected override canGrantVote(msg: VoteRequest): boolean {
    return !this.isLearner && (this.votedFor === null || this.votedFor === msg.from || msg.type === 'PreVote');
  }
}

/** Counts granted votes that arrive from an earlier term. */
class CountsOldTermVotes extends RaftCore {
  protected override onLowerTerm(msg: Message): void {
    if (msg.type === 'VoteResponse' && msg.granted && this.role === 'candidate') this.handleVoteResponse(msg);
    else super.onLowerTerm(msg);
  }
}

/** Commits up to the leader's commit index without the min with the last new entry (Raft Figure 2). */
class CommitsUnverifiedEntries extends RaftCore {
  protected override handleAppendEntries(msg: AppendEntries): void {
    super.handleAppendEntries(msg);
    this.commit = Math.max(this.commit, Math.min(msg.leaderCommit, this.log.lastIndex()));
  }
}

/** Appends a second membership change while the first is still uncommitted. */
class ChangesConcurrently extends RaftCore {
  protected override changeRefusal(change: MembershipChange): string | null {
    const refusal = super.changeRefusal(change);
    return refusal !== null && /has not committed yet/.test(refusal) ? null : refusal;
  }
}

/** Promotes every learner in one config entry: several voters join at once. */
class PromotesAllLearnersAtOnce extends RaftCore {
  protected override appendMembership(membership: Membership): MembershipChangeResult {
    const grows = membership.voters.length > this.membership.voters.length;
    return super.appendMembership(grows ? { voters: [...membership.voters, ...membership.learners], learners: [] } : membership);
  }
}

function reported(make: (o: RaftCoreOptions) => RaftCore, first: number, count: number, options: Omit<SimulationOptions, 'seed' | 'createCore'> = {}) {
  const results = runSeeds(first, first + count - 1, { ...options, createCore: make });
  const bad = results.filter((r) => !r.ok);
  for (const r of bad) expect(r.violation).toContain(`seed ${r.seed},`);
  return bad.map((r) => r.violation!);
}

describe('raft simulation: the checker catches broken membership changes', () => {
  // The checker holds leaders to the single-server rules (raft-invariants.ts): at most one
  // uncommitted change in a leader's log, one voter moved per change. Breaking the rules rarely
  // splits the quorum under random faults (with these checks off, 1000 seeds showed only liveness
  // failures), so the rules are checked directly and the safety checks stay as the backstop.
  test('a leader that appends a second change while the first is uncommitted', () => {
    const found = reported((o) => new ChangesConcurrently(o), 60_001, 100, { nodes: 3, spares: 2 });
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((v) => /holds two uncommitted membership changes/.test(v))).toBe(true);
  });

  test('a leader that promotes several learners in one change', () => {
    const found = reported((o) => new PromotesAllLearnersAtOnce(o), 60_001, 100, { nodes: 3, spares: 2 });
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((v) => /moves [23] voters at once/.test(v))).toBe(true);
  });
});

describe('raft simulation: the checker catches broken nodes', () => {
  test('a node that votes twice in a term: two leaders in one term', () => {
    const found = reported((o) => new VotesTwicePerTerm(o), 1, 40);
    expect(found.length).toBeGreaterThan(0);
    expect(found.some((v) => /two leaders in term/.test(v))).toBe(true);
  });

  test('nodes that ignore the election restriction: committed entries lost', () => {
    const found = reported((o) => new VotesForAnyLog(o), 1, 20);
    expect(found.length).toBeGreaterThan(0);
    expect(found.some((v) => /leader completeness|committed entry .* changed|lost committed entry|state machine safety/.test(v))).toBe(true);
  });

  test('a candidate that counts votes from an earlier term: two leaders in one term', () => {
    // A rare schedule (two candidates in the same term, one fed a stale grant): about 1% of seeds
    // under these faults with near-equal election timeouts. If a protocol change moves the seeds,
    // widen the range rather than weaken the check.
    const found = reported((o) => new CountsOldTermVotes(o), 1, 400, {
      nodes: 3,
      electionTimeoutMinMs: 150,
      electionTimeoutMaxMs: 160,
      faults: { dropProbability: 0.2, duplicateProbability: 0.5, longDelayProbability: 0.5, longDelayMaxMs: 300, maxDelayMs: 60, crashProbability: 0.2, faultMeanIntervalMs: 200 },
    });
    expect(found.some((v) => /two leaders in term/.test(v))).toBe(true);
    // Followers refuse the second leader of a term (a forgery, to them), so some seeds end with a
    // follower that never caught up with the leader it did not recognise.
    expect(found.every((v) => /two leaders in term|convergence/.test(v))).toBe(true);
  });

  test('followers that commit entries they have not verified: committed entries change', () => {
    const found = reported((o) => new CommitsUnverifiedEntries(o), 1, 20);
    expect(found.length).toBeGreaterThan(0);
    expect(found.some((v) => /committed entry .* changed|state machine safety|log matching/.test(v))).toBe(true);
  });
});
