import { describe, expect, it } from 'vitest';
import { GROUP_SIM_BUGS, runGroupSim, type GroupSimBug } from './group-sim';

const SEEDS = Number(process.env.GROUP_SIM_SEEDS ?? 150);

describe('group coordinator simulation', () => {
  it(`keeps one owner per partition and settles, through losses, crashes, pauses, leaves, slow revocations and failovers (${SEEDS} seeds)`, () => {
    let heartbeats = 0;
    let failovers = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = runGroupSim({ seed, members: 2 + (seed % 4) });
      expect(r.violations, `seed ${seed} (replay: runGroupSim({ seed: ${seed}, members: ${2 + (seed % 4)} }))`).toEqual([]);
      heartbeats += r.heartbeats;
      failovers += r.failovers;
    }
    // The schedules did what they claim: many heartbeats and coordinator failovers in all.
    expect(heartbeats).toBeGreaterThan(SEEDS * 500);
    expect(failovers).toBeGreaterThan(SEEDS * 2);
  }, 600_000);

  // Each seeded bug must be caught within its budget, or the checks above prove nothing.
  const budgets: Record<GroupSimBug, { seeds: number; caughtBy: RegExp }> = {
    noReleaseWait: { seeds: 10, caughtBy: /two owners|consumed by/ },
    noRevocationAck: { seeds: 10, caughtBy: /consumed by/ },
    clientIgnoresDeadlines: { seeds: 30, caughtBy: /consumed by/ },
  };
  it.each(GROUP_SIM_BUGS.map((b) => [b]))('catches the seeded bug %s', (bug) => {
    const { seeds, caughtBy } = budgets[bug];
    const caught: number[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const r = runGroupSim({ seed, members: 2 + (seed % 4), bug });
      if (r.violations.some((v) => caughtBy.test(v))) caught.push(seed);
    }
    expect(caught.length, `${bug} caught by seeds ${caught.join(', ')}`).toBeGreaterThan(0);
  });
});
