/**
 * The chaos suite's command (issue 7):
 *
 *   npm run chaos -- --list
 *   npm run chaos -- --scenario NAME [--duration SECONDS] [--seed N] [--seeds K]
 *   npm run chaos -- --all [--duration SECONDS] [--seed N]
 *
 * Each run starts a fresh three-node cluster with a Toxiproxy proxy on every link (the bundled
 * server, or TOXIPROXY_URL), runs acks=all producers and a follower, injects the scenario's faults
 * on a seeded schedule, heals, drains and checks. Reports go to chaos/results/<time>-<scenario>-seed<N>/.
 *   npm run chaos -- --scenario NAME --negative-control    (the same faults against an unsafe setting)
 *   npm run chaos -- ... --secure    (TLS and mutual TLS on every link, authorization on, the workload under ACLs)
 *
 * Exits 1 if any run fails — or, with --negative-control, if any run does not fail with the
 * checker its unsafe setting must trip.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/common/io/logger';
import { silenceIpServerNameWarning } from '../src/protocol/io/tls';
import { controlCaught, runScenario } from './runner';
import { scenario, SCENARIOS } from './scenarios';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      list: { type: 'boolean' },
      all: { type: 'boolean' },
      scenario: { type: 'string', multiple: true },
      duration: { type: 'string' },
      seed: { type: 'string' },
      seeds: { type: 'string' },
      results: { type: 'string' },
      'keep-data': { type: 'boolean' },
      'negative-control': { type: 'boolean' },
      secure: { type: 'boolean' },
    },
  });
  if (values.list) {
    for (const s of SCENARIOS) {
      const control = s.negativeControl ? `  [negative control: ${s.negativeControl.setting}]` : '';
      process.stdout.write(`${s.name.padEnd(24)} ${String(s.row || '-').padStart(2)}  ${s.summary}${s.notApplicable ? `  [not applicable: ${s.notApplicable}]` : ''}${control}\n`);
    }
    return 0;
  }
  const negative = values['negative-control'] === true;
  const names = values.all ? SCENARIOS.filter((s) => !s.notApplicable && (!negative || s.negativeControl)).map((s) => s.name) : ((values.scenario as string[] | undefined) ?? []);
  if (names.length === 0) {
    process.stderr.write('usage: npm run chaos -- --list | --scenario NAME [--negative-control] [--duration S] [--seed N] [--seeds K] | --all [--negative-control]\n');
    return 2;
  }
  const durationS = Number(values.duration ?? 60);
  const seed0 = Number(values.seed ?? 1);
  const seeds = Number(values.seeds ?? 1);
  const resultsDir = path.resolve((values.results as string | undefined) ?? path.join(__dirname, '../../chaos/results'));
  const logger = createLogger({ component: 'chaos' });
  logger.level = process.env.CAIRN_LOG_LEVEL ?? 'warn';
  let failed = 0;
  for (const name of names) {
    const s = scenario(name);
    if (s.notApplicable) {
      process.stdout.write(`SKIP ${name}: ${s.notApplicable}\n`);
      continue;
    }
    if (negative && !s.negativeControl) {
      process.stdout.write(`SKIP ${name}: no negative control${s.noNegativeControl ? ` (${s.noNegativeControl})` : ''}\n`);
      continue;
    }
    for (let seed = seed0; seed < seed0 + seeds; seed++) {
      const r = await runScenario(s, { durationS, seed, resultsDir, logger, keepData: values['keep-data'] === true, negativeControl: negative, secure: values.secure === true });
      const bad = r.checks.filter((c) => !c.ok).map((c) => c.checker);
      // A negative control succeeds by failing, with the checker its unsafe setting must trip.
      const good = negative ? controlCaught(r) : r.verdict === 'pass';
      if (!good) failed++;
      const label = negative ? `${name} --negative-control (${s.negativeControl!.setting})` : name;
      const verdict = negative ? (good ? `: ${s.negativeControl!.expect} failed, as the unsafe setting must make it` : `: the negative control did not make ${s.negativeControl!.expect} fail`) : '';
      process.stdout.write(
        `${r.verdict === 'pass' ? 'PASS' : 'FAIL'} ${label} seed=${seed} acked=${r.stats.ok} unknown=${r.stats.info} faults=${r.faults.length}${bad.length ? ` failed: ${bad.join(',')}` : ''}${verdict} → ${path.join(r.reportDir, 'summary.md')}\n`,
      );
    }
  }
  return failed > 0 ? 1 : 0;
}

silenceIpServerNameWarning();
main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
