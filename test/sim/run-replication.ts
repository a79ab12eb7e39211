/**
 * CLI for the replication simulation: one line per failing seed, a summary, exit 1 on failure.
 *
 *   npm run sim:replication -- --seeds 2000 [--seed-start 1] [--harsh] [--trace]
 */
import { DEFAULT_REPLICATION_FAULTS, ReplicationSimulation } from './replication-simulation';

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
const faults = flag('--harsh') ? { crashProbability: 0.4, crashAllProbability: 0.1, partitionProbability: 0.4, dropProbability: 0.08, maxDelayMs: 30, maxFsyncMs: 20 } : DEFAULT_REPLICATION_FAULTS;
const t0 = Date.now();
let failed = 0;
let acked = 0;
for (let seed = start; seed < start + seeds; seed++) {
  const sim = new ReplicationSimulation(seed, faults);
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
