/**
 * CLI for the replication simulation: one line per failing seed, a summary, exit 1 on failure.
 *
 *   npm run sim:replication -- --seeds 2000 [--seed-start 1] [--harsh] [--trace] [--bug <name>]... [--no-durable-check]
 *
 * `--bug` switches on one of the deliberately broken behaviours (REPLICATION_BUG_NAMES) to see how
 * many seeds catch it; `--no-durable-check` leaves it to the end-to-end checks (committed records lost).
 */
import { DEFAULT_REPLICATION_FAULTS, HARSH_REPLICATION_FAULTS, REPLICATION_BUG_NAMES, type ReplicationBugs, ReplicationSimulation } from './replication-simulation';

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
const seeds = num('--seeds', 200);
const start = num('--seed-start', 1);
const faults = flag('--harsh') ? HARSH_REPLICATION_FAULTS : DEFAULT_REPLICATION_FAULTS;
const bugs: ReplicationBugs = {};
argv.forEach((a, i) => {
  if (a !== '--bug') return;
  const name = argv[i + 1] as (typeof REPLICATION_BUG_NAMES)[number];
  if (!REPLICATION_BUG_NAMES.includes(name)) {
    process.stderr.write(`--bug needs one of ${REPLICATION_BUG_NAMES.join(', ')}\n`);
    process.exit(2);
  }
  bugs[name] = true;
});
const t0 = Date.now();
let failed = 0;
let acked = 0;
for (let seed = start; seed < start + seeds; seed++) {
  const sim = new ReplicationSimulation(seed, faults, bugs, !flag('--no-durable-check'));
  if (flag('--trace')) sim.trace = (line) => process.stdout.write(line + '\n');
  const r = sim.run();
  acked += r.acked;
  if (r.violations.length > 0) {
    failed++;
    process.stdout.write(`FAIL seed=${seed} ${r.violations[0]}\n`);
  }
}
process.stdout.write(`replication sim: ${seeds} seeds from ${start}: ${failed} failed, ${acked} acknowledged writes checked, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
process.exit(failed > 0 ? 1 : 0);
