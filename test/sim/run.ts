/**
 * CLI for the Raft simulation: runs a range of seeds and prints one line per failing seed.
 *
 *   npm run sim -- --seeds 2000 --seed-start 1 [--nodes 3|5] [--learners N] [--spares N] [--steps K] [--harsh] [--trace]
 *
 * --harsh uses HARSH_FAULTS (more loss, duplicates, stalls, crashes and torn writes).
 * --trace prints every event of every seed run (use with --seeds 1 to replay one failure).
 * Exits 1 when any seed fails, 2 on bad arguments.
 */
import { HARSH_FAULTS, simulate } from './raft-simulation';

interface Args {
  seeds: number;
  seedStart: number;
  nodes: 3 | 5;
  learners: number;
  spares: number;
  steps: number | undefined;
  harsh: boolean;
  trace: boolean;
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: run.js --seeds N --seed-start S [--nodes 3|5] [--learners N] [--spares N] [--steps K] [--harsh] [--trace]\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { seeds: 100, seedStart: 1, nodes: 3, learners: 0, spares: 0, steps: undefined, harsh: false, trace: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--trace' || flag === '--harsh') {
      args[flag === '--trace' ? 'trace' : 'harsh'] = true;
      continue;
    }
    const raw = argv[++i];
    const value = Number(raw);
    if (raw === undefined || !Number.isSafeInteger(value) || value < 0) usage(`${flag} needs a non-negative integer`);
    switch (flag) {
      case '--seeds':
        args.seeds = value;
        break;
      case '--seed-start':
        args.seedStart = value;
        break;
      case '--nodes':
        if (value !== 3 && value !== 5) usage('--nodes must be 3 or 5');
        args.nodes = value;
        break;
      case '--learners':
        args.learners = value;
        break;
      case '--spares':
        args.spares = value;
        break;
      case '--steps':
        args.steps = value;
        break;
      default:
        usage(`unknown flag ${flag}`);
    }
  }
  return args;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const started = process.hrtime.bigint();
  let failed = 0;
  let steps = 0;
  for (let seed = args.seedStart; seed < args.seedStart + args.seeds; seed++) {
    const result = simulate({
      seed,
      nodes: args.nodes,
      learners: args.learners,
      spares: args.spares,
      ...(args.steps !== undefined ? { steps: args.steps } : {}),
      ...(args.harsh ? { faults: HARSH_FAULTS } : {}),
      ...(args.trace ? { trace: (line: string) => process.stdout.write(`${line}\n`) } : {}),
    });
    steps += result.steps;
    if (!result.ok) {
      failed++;
      process.stdout.write(`FAIL seed=${seed} ${result.violation}\n`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(
    `raft sim: ${args.seeds} seeds from ${args.seedStart}, ${args.nodes} voters, ${args.learners} learners, ${args.spares} spares${args.harsh ? ', harsh faults' : ''}: ` +
      `${failed} failed, ${steps} steps, ${seconds.toFixed(1)} s\n`,
  );
  process.exitCode = failed > 0 ? 1 : 0;
}

main();
