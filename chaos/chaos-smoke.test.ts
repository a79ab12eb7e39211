import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../src/common/io/logger';
import { controlCaught, runScenario } from './runner';
import { scenario, SMOKE, SMOKE_CONTROLS } from './scenarios';

/**
 * The chaos suite's smoke selection, run by `npm test` (CI): a few scenarios for 20 s each on a
 * fresh three-node cluster with TLS and mutual TLS on every link and authorization on, the
 * workload running as User:chaos under ACLs (issue 20: "the chaos smoke passes with TLS and
 * authorization on"). The full suite is `npm run chaos -- --all [--secure]` (docs/chaos.md).
 */
const DURATION_S = Number(process.env.CAIRN_CHAOS_SMOKE_SECONDS ?? 20);
const SEED = Number(process.env.CAIRN_CHAOS_SEED ?? 1);

describe('chaos smoke (real processes, Toxiproxy on every link)', () => {
  for (const name of SMOKE) {
    it(`${name} (TLS, authorization on): no acknowledged write lost, replicas agree (seed ${SEED})`, async () => {
      const r = await runScenario(scenario(name), { durationS: DURATION_S, seed: SEED, resultsDir: path.join(os.tmpdir(), 'cairn-chaos-smoke'), logger: silentLogger, secure: true });
      const failed = r.checks.filter((c) => !c.ok).map((c) => `${c.checker}: ${c.problems.slice(0, 3).join('; ')}`);
      expect(failed, `report: ${r.reportDir}/summary.md`).toEqual([]);
      expect(r.stats.ok, 'the workload acknowledged writes').toBeGreaterThan(100);
      expect(r.faults.filter((f) => f.fault !== 'heal').length, 'faults were injected').toBeGreaterThan(0);
    }, 300_000);
  }

  // The same faults against an unsafe setting or a broken build (a cluster that acknowledges before
  // fsync, one whose abort markers commit) must fail, and with the checker that guards it: otherwise
  // a passing run above proves nothing (docs/chaos.md).
  for (const name of SMOKE_CONTROLS) {
    const control = scenario(name).negativeControl!;
    it(`${name} negative control (${control.setting}): ${control.expect} fails (seed ${SEED})`, async () => {
      const r = await runScenario(scenario(name), {
        durationS: DURATION_S,
        seed: SEED,
        resultsDir: path.join(os.tmpdir(), 'cairn-chaos-smoke'),
        logger: silentLogger,
        negativeControl: true,
      });
      expect(r.verdict, `report: ${r.reportDir}/summary.md`).toBe('fail');
      expect(r.checks.find((c) => c.checker === control.expect)?.ok, `report: ${r.reportDir}/summary.md`).toBe(false);
      expect(controlCaught(r)).toBe(true);
    }, 300_000);
  }
});
