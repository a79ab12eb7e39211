/**
 * CLI for the whole-cluster simulation: one line per failing seed with the command that replays
 * it, then a summary with simulated seconds per wall second; exit 1 on failure.
 *
 *   npm run sim:cluster -- --seeds 1000 [--seed-start 1] [--nodes 3|5] [--chaos-ms 8000] [--trace] [--bug <name>]
 */
import { CLUSTER_BUG_NAMES, type ClusterBugName, clusterBug } from './cluster/bugs';
import { ClusterSimulation } from './cluster/simulation';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const num = (name: string, fallback: number) => {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    process.stderr.write(`${name} needs a non-negative integer\n`);
    process.exit(2);
  }
  return v;
};
const bugIndex = argv.indexOf('--bug');
const bug = bugIndex >= 0 ? (argv[bugIndex + 1] as ClusterBugName) : null;
if (bug !== null && !CLUSTER_BUG_NAMES.includes(bug)) {
  process.stderr.write(`--bug needs one of ${CLUSTER_BUG_NAMES.join(', ')}\n`);
  process.exit(2);
}
const seeds = num('--seeds', 100);
const start = num('--seed-start', 1);
const nodes = num('--nodes', 3);
if (nodes !== 3 && nodes !== 5) {
  process.stderr.write('--nodes is 3 or 5\n');
  process.exit(2);
}
const chaosMs = num('--chaos-ms', 8_000);

async function main(): Promise<void> {
  const t0 = performance.now();
  let failed = 0;
  let simulatedMs = 0;
  let acked = 0;
  let steps = 0;
  let groupCommits = 0;
  let groupHandovers = 0;
  let failedBatches = 0;
  const txns = { committed: 0, aborted: 0, unknown: 0 };
  for (let seed = start; seed < start + seeds; seed++) {
    const sim = new ClusterSimulation({
      seed,
      nodes: nodes as 3 | 5,
      chaosMs,
      ...(flag('--no-transactions') ? { transactions: false } : {}),
      ...(bug ? clusterBug(bug) : {}),
      ...(flag('--trace') ? { trace: (line: string) => process.stdout.write(line + '\n') } : {}),
    });
    const r = await sim.run();
    simulatedMs += r.simulatedMs;
    acked += r.stats.acked;
    groupCommits += r.stats.groupCommits;
    groupHandovers += r.stats.groupHandovers;
    failedBatches += r.stats.failedBatches;
    txns.committed += r.stats.txnCommitted;
    txns.aborted += r.stats.txnAborted;
    txns.unknown += r.stats.txnUnknown;
    steps += r.stats.steps;
    if (!r.ok) {
      failed++;
      process.stdout.write(
        `FAIL ${r.violation}\n  replay: npm run sim:cluster -- --seeds 1 --seed-start ${seed}${nodes !== 3 ? ` --nodes ${nodes}` : ''}${chaosMs !== 8_000 ? ` --chaos-ms ${chaosMs}` : ''}${bug ? ` --bug ${bug}` : ''} --trace\n`,
      );
    }
  }
  const wallS = (performance.now() - t0) / 1000;
  const summary = {
    seeds,
    seedStart: start,
    nodes,
    bug,
    failed,
    acknowledgedWritesChecked: acked,
    groupCommitsChecked: groupCommits,
    groupHandovers,
    failedIdempotentBatches: failedBatches,
    transactionsChecked: txns,
    steps,
    simulatedSeconds: +(simulatedMs / 1000).toFixed(1),
    wallSeconds: +wallS.toFixed(1),
    simulatedSecondsPerWallSecond: +(simulatedMs / 1000 / wallS).toFixed(1),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(failed > 0 ? 1 : 0);
}

void main();
