/**
 * The whole-cluster simulation in the default test run (issue 16; docs/simulation.md): a few
 * hundred seeds of the shipped code must pass, and every seeded bug must be caught within its seed
 * budget. A failure names its seed and the command that replays it.
 */
import { describe, expect, it } from 'vitest';
import { type ClusterBugName, clusterBug, pipelinedFollowers } from './cluster/bugs';
import { type ClusterSimOptions, ClusterSimulation } from './cluster/simulation';

/** Seeds of the shipped code per run of `npm test` (the CLI runs any number: npm run sim:cluster -- --seeds N). */
const SEEDS = Number(process.env.CAIRN_SIM_SEEDS ?? 200);

/** Seeded bugs that random faults do not reach yet: each needs a targeted fault schedule (docs/simulation.md). */
type UncaughtBug = 'lostAlterPartitionAnswerIsRefusal' | 'lateIsrAnswerApplies' | 'oldEpochLookupUndefined' | 'followerPastLeaderEndWipes' | 'producerRenumbersSentBatches';

async function failures(from: number, count: number, options: Omit<ClusterSimOptions, 'seed'>, stopAtFirst = false): Promise<string[]> {
  const out: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const r = await new ClusterSimulation({ seed, ...options }).run();
    if (!r.ok) {
      out.push(`${r.violation}\n  replay: npm run sim:cluster -- --seeds 1 --seed-start ${seed}${options.nodes === 5 ? ' --nodes 5' : ''} --trace`);
      if (stopAtFirst) break;
    }
  }
  return out;
}

describe('whole-cluster simulation', () => {
  it(`the shipped code passes ${SEEDS} seeds on 3 nodes`, async () => {
    expect(await failures(1, SEEDS, {})).toEqual([]);
  }, 600_000);

  it('the shipped code passes 30 seeds on 5 nodes', async () => {
    expect(await failures(1, 30, { nodes: 5 })).toEqual([]);
  }, 300_000);

  it('the shipped leader stays safe with followers that fetch before their fsync (40 seeds)', async () => {
    // Seed 14 lost a follower's fsynced partition directory before recovery fsynced directories after an unclean shutdown.
    expect(await failures(1, 40, pipelinedFollowers())).toEqual([]);
  }, 300_000);

  /** Each seeded bug, the seeds it may take to be caught (from seed 1, or from `from`), and what must catch it. */
  const BUDGETS: Record<Exclude<ClusterBugName, UncaughtBug>, { from?: number; seeds: number; caughtBy: RegExp }> = {
    // The classics of reliability.md.
    followerReportsFetchedAsDurable: { seeds: 20, caughtBy: /fsynced on only/ },
    leaderCountsFetchedAsDurable: { seeds: 20, caughtBy: /fsynced on only/ },
    truncateToHighWatermark: { seeds: 40, caughtBy: /without committed/ },
    // Committed data lost from `__consumer_offsets` shows as a committed offset going back.
    uncleanLeaderOutsideIsr: { seeds: 100, caughtBy: /without committed|group: the committed offset .* below/ },
    // A lying disk may also leave replicas that never converge again (liveness).
    brokerSkipsFsync: { seeds: 40, caughtBy: /without committed|cannot start|lost on broker|liveness/ },
    // Bugs this project fixed.
    hwIgnoresMinIsr: { seeds: 20, caughtBy: /fsynced on only/ },
    restartedBrokerLeadsOldEpoch: { seeds: 40, caughtBy: /went back|both lead|without committed/ },
    // Rare under random faults (on five nodes, 1 of the first 300 seeds: 132): an election lands on a follower mid-fsync just as the writes stop.
    newLeaderWaitsForWriteToCountFsync: { from: 128, seeds: 10, caughtBy: /liveness: with no new write/ },
    skipsDirectoryFsync: { seeds: 40, caughtBy: /without committed|but .* was committed there|lost on broker|cannot start|liveness|group: the committed offset .* below/ },
    // The idempotent producer's state (issue 17).
    leaderWritesDuplicates: { seeds: 10, caughtBy: /in the log twice|reordered/ },
    followerSkipsProducerState: { seeds: 20, caughtBy: /producer core failed|in the log twice/ },
    truncationKeepsProducerState: { seeds: 60, caughtBy: /but .* was committed there|producer core failed|in the log twice|transactions: / },
    // The client's own send core, driven by the simulation (src/client/idempotence.ts).
    producerIgnoresLeaderWindow: { seeds: 40, caughtBy: /producer core failed/ },
    producerBumpsOnExpiry: { seeds: 60, caughtBy: /in the log twice/ },
    // The group coordinator and the client's member core (issue 18).
    groupCoordinatorAnswersBeforeCommitted: { seeds: 20, caughtBy: /group: the committed offset .* below|group: .* is consumed by/ },
    groupMemberIgnoresDeadlines: { seeds: 20, caughtBy: /group: .* is consumed by/ },
    // Transactions (issue 19): each leaves a transaction hanging, or shows an aborted one.
    leaderSkipsTxnVerification: { seeds: 10, caughtBy: /transactions still hold a last stable offset back|transactions: / },
    // Rare under random faults (4 of the first 900 seeds: 177, 361, 440 and 848): the window holds the first.
    txnCoordinatorAnswersFromUncommittedState: { from: 172, seeds: 10, caughtBy: /transactions still hold a last stable offset back|transactions: / },
    txnMarkerRefusalCountsAsWritten: { seeds: 10, caughtBy: /transactions still hold a last stable offset back|transactions: / },
  };

  // The bugs of UncaughtBug are not caught by random faults (0 of 240-300 seeds; docs/simulation.md says why); they are not listed here.
  for (const name of Object.keys(BUDGETS) as (keyof typeof BUDGETS)[]) {
    it(`catches the seeded bug ${name}`, async () => {
      const { from = 1, seeds, caughtBy } = BUDGETS[name];
      const found = await failures(from, seeds, clusterBug(name), true);
      expect(found, `${name} passed ${seeds} seeds: the simulation cannot see it`).toHaveLength(1);
      expect(found[0]).toMatch(caughtBy);
    }, 600_000);
  }
});
