import * as fs from 'node:fs';
import * as path from 'node:path';
import type { History } from './history';
import type { RunReport } from './runner';

const BARS = ' ▁▂▃▄▅▆▇█';

function sparkline(values: number[]): string {
  const max = Math.max(1, ...values);
  return values.map((v) => BARS[Math.round((v / max) * (BARS.length - 1))]).join('');
}

/** A readable summary: verdict, checks, a timeline of faults over the throughput per second. */
export function summary(r: RunReport): string {
  const lines = [
    `# Chaos run: ${r.scenario}${r.negativeControl ? ' (negative control)' : ''} (reliability.md row ${r.row || 'all'}), seed ${r.seed}`,
    '',
    ...(r.negativeControl ? [`Negative control: the cluster ran with \`${r.negativeControl.setting}\`; the run must FAIL with \`${r.negativeControl.expect}\`.`, ''] : []),
    `**${r.verdict === 'pass' ? 'PASS' : 'FAIL'}** — ${r.durationS} s of faults, started ${r.startedAt}; writes: ${r.stats.ok} acknowledged, ${r.stats.info} unknown, ${r.stats.fail} failed of ${r.stats.invoked}; ${r.stats.reads} reads during the run; ${r.stats.drained} records drained${r.stats.drainComplete ? '' : ' (drain incomplete)'}${r.stats.fencedProducers !== undefined ? `; ${r.stats.fencedProducers} transactional producers found themselves fenced` : ''}.`,
    '',
    '| checker | result | what was checked |',
    '| --- | --- | --- |',
    ...r.checks.map((c) => `| ${c.checker} | ${!c.ok ? 'FAIL' : c.warning ? 'warning' : 'ok'} | ${c.summary} |`),
    '',
  ];
  const problems = r.checks.filter((c) => c.problems.length > 0);
  if (problems.length > 0) {
    lines.push('## Problems', '');
    for (const c of problems) for (const p of c.problems) lines.push(`- ${c.checker}: ${p}`);
    lines.push('');
  }
  lines.push('## Timeline', '', 'Acknowledged writes per second (each character one second):', '', '```', sparkline(r.throughput), '```', '');
  for (const f of r.faults) {
    const end = f.endMs >= 0 ? `${(f.endMs / 1000).toFixed(1)} s` : '…';
    lines.push(`- ${(f.startMs / 1000).toFixed(1)} s → ${end}: **${f.fault}** ${f.detail}`);
  }
  lines.push('', `Replay: \`npm run chaos -- --scenario ${r.scenario}${r.negativeControl ? ' --negative-control' : ''} --duration ${r.durationS} --seed ${r.seed}\``);
  if (r.verdict === 'fail') lines.push('', `The cluster's data and logs are kept in \`${r.dataDir}\`; the full history is \`history.json\`.`);
  return lines.join('\n') + '\n';
}

export function writeReport(r: RunReport, history: History): void {
  fs.mkdirSync(r.reportDir, { recursive: true });
  fs.writeFileSync(path.join(r.reportDir, 'report.json'), JSON.stringify(r, null, 2));
  fs.writeFileSync(path.join(r.reportDir, 'summary.md'), summary(r));
  fs.writeFileSync(path.join(r.reportDir, 'history.json'), JSON.stringify(history.ops));
}
