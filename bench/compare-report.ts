/** The report bench:compare writes: a Markdown table with the targets, and an SVG chart. */
import type { LoadResult } from './load';

export interface SystemInfo {
  name: string;
  version: string;
  durability: string;
  skipped?: string;
}

export interface WorkloadResult extends LoadResult {
  workload: string;
  system: string;
  /** What records_per_s and the latencies measure in this workload. */
  measured: string;
  producer_records_per_s?: number;
  fill_records_per_s?: number;
}

export interface CompareReport {
  date: string;
  seconds: number;
  machine: { cpus: number; cpu: string; memory_gib: number; kernel: string; node: string };
  settings: Record<string, number>;
  workloads: { id: string; title: string }[];
  systems: SystemInfo[];
  results: WorkloadResult[];
}

/** The issue's targets, as ratios between Cairn and NATS JetStream measured in the same run. */
export function targets(r: CompareReport): { target: string; cairn: number; nats: number; ratio: number; met: boolean }[] {
  const get = (sys: string, w: string) => r.results.find((x) => x.system === sys && x.workload === w);
  const out: { target: string; cairn: number; nats: number; ratio: number; met: boolean }[] = [];
  const pair = (w: string) => [get('cairn', w), get('nats', w)] as const;
  const [ca, na] = pair('a');
  if (ca && na)
    out.push({
      target: '(a) Cairn ≥ 10× NATS publish rate',
      cairn: ca.records_per_s,
      nats: na.records_per_s,
      ratio: ca.records_per_s / na.records_per_s,
      met: ca.records_per_s >= 10 * na.records_per_s,
    });
  const [cc, nc] = pair('c');
  if (cc && nc) out.push({ target: "(c) Cairn's p99 ≤ NATS's p99", cairn: cc.p99_ms, nats: nc.p99_ms, ratio: cc.p99_ms / nc.p99_ms, met: cc.p99_ms <= nc.p99_ms });
  const [ce, ne] = pair('e');
  if (ce && ne)
    out.push({
      target: '(e) Cairn ≥ 5× NATS consume rate',
      cairn: ce.records_per_s,
      nats: ne.records_per_s,
      ratio: ce.records_per_s / ne.records_per_s,
      met: ce.records_per_s >= 5 * ne.records_per_s,
    });
  return out;
}

const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en'));
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '–');

export function renderMarkdown(r: CompareReport): string {
  const lines: string[] = [];
  lines.push(`### bench:compare, ${r.date.slice(0, 10)}`, '');
  lines.push(
    `Machine: ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memory_gib} GiB, Linux ${r.machine.kernel}, Node.js ${r.machine.node}. Every system ran three server processes on this machine, one system at a time, with the load generator (one Node.js process) beside them. Whole run: ${Math.round(r.seconds)} s.`,
    '',
  );
  lines.push('| system | version | what an acknowledged write means |', '| --- | --- | --- |');
  for (const s of r.systems) lines.push(`| ${s.name} | ${s.version} | ${s.skipped ? `**skipped**: ${s.skipped}` : s.durability} |`);
  lines.push('');
  lines.push(
    '| workload | system | measured | records/s | MB/s | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | errors |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const w of r.workloads) {
    for (const x of r.results.filter((y) => y.workload === w.id)) {
      const extra = x.producer_records_per_s !== undefined ? ` (producer ${int(x.producer_records_per_s)}/s)` : x.fill_records_per_s !== undefined ? ` (filled at ${int(x.fill_records_per_s)}/s)` : '';
      lines.push(
        `| (${w.id}) ${w.title} | ${x.system} | ${x.measured}${extra} | ${int(x.records_per_s)} | ${x.mb_per_s.toFixed(1)} | ${ms(x.p50_ms)} | ${ms(x.p95_ms)} | ${ms(x.p99_ms)} | ${ms(x.p999_ms)} | ${ms(x.max_ms)} | ${x.errors} |`,
      );
    }
  }
  const t = targets(r);
  if (t.length > 0) {
    lines.push('', '| target | Cairn | NATS | ratio | met |', '| --- | ---: | ---: | ---: | --- |');
    for (const x of t) {
      const fmt = x.target.includes('p99') ? ms : int;
      lines.push(`| ${x.target} | ${fmt(x.cairn)} | ${fmt(x.nats)} | ${x.ratio.toFixed(2)} | ${x.met ? 'yes' : '**no**'} |`);
    }
  }
  lines.push(
    '',
    `Settings: ${Object.entries(r.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
    '',
  );
  return lines.join('\n');
}

const COLORS: Record<string, string> = { cairn: '#2f6f4f', nats: '#2a6fb0', redis: '#c0392b' };
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped bars: one panel of throughput (records/s) per workload, one of latency percentiles for (c). */
export function renderSvg(r: CompareReport): string {
  const systems = r.systems.filter((s) => !s.skipped).map((s) => s.name);
  const panels: { title: string; unit: string; groups: { label: string; values: (number | undefined)[] }[] }[] = [];
  const throughput = r.workloads.filter((w) => r.results.some((x) => x.workload === w.id && w.id !== 'c'));
  if (throughput.length > 0) {
    panels.push({
      title: 'Throughput (records/s, higher is better)',
      unit: '',
      groups: throughput.map((w) => ({ label: `(${w.id})`, values: systems.map((s) => r.results.find((x) => x.workload === w.id && x.system === s)?.records_per_s) })),
    });
  }
  if (r.results.some((x) => x.workload === 'c')) {
    const pick = (s: string) => r.results.find((x) => x.workload === 'c' && x.system === s);
    panels.push({
      title: `Latency at a fixed rate, workload (c) (ms, lower is better)`,
      unit: ' ms',
      groups: (['p50_ms', 'p95_ms', 'p99_ms', 'p999_ms'] as const).map((k) => ({ label: k.replace('_ms', '').replace('p999', 'p99.9'), values: systems.map((s) => pick(s)?.[k]) })),
    });
  }
  const width = 760;
  const panelH = 260;
  const top = 50;
  const parts: string[] = [];
  parts.push(
    `<text x="20" y="28" font-size="16" font-weight="bold">Cairn vs ${systems.filter((s) => s !== 'cairn').join(', ') || 'peers'}: ${escape(r.date.slice(0, 10))}, ${r.machine.cpus} cores</text>`,
  );
  systems.forEach((s, i) => {
    parts.push(`<rect x="${440 + i * 100}" y="16" width="12" height="12" fill="${COLORS[s] ?? '#777'}"/><text x="${456 + i * 100}" y="27" font-size="12">${escape(s)}</text>`);
  });
  panels.forEach((p, pi) => {
    const y0 = top + pi * (panelH + 40);
    const plotTop = y0 + 24;
    const plotH = panelH - 60;
    const left = 60;
    const plotW = width - left - 20;
    const max = Math.max(1e-9, ...p.groups.flatMap((g) => g.values.filter((v): v is number => v !== undefined && Number.isFinite(v))));
    parts.push(`<text x="${left}" y="${y0 + 14}" font-size="13" font-weight="bold">${escape(p.title)}</text>`);
    parts.push(`<line x1="${left}" y1="${plotTop + plotH}" x2="${left + plotW}" y2="${plotTop + plotH}" stroke="#333"/>`);
    const groupW = plotW / p.groups.length;
    const barW = Math.min(40, (groupW - 20) / Math.max(1, systems.length));
    p.groups.forEach((g, gi) => {
      const gx = left + gi * groupW + (groupW - barW * systems.length) / 2;
      g.values.forEach((v, si) => {
        if (v === undefined || !Number.isFinite(v)) return;
        const h = (v / max) * plotH;
        const x = gx + si * barW;
        parts.push(`<rect x="${x.toFixed(1)}" y="${(plotTop + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[systems[si]!] ?? '#777'}"/>`);
        const label = p.unit ? `${v < 10 ? v.toFixed(1) : Math.round(v)}` : v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${Math.round(v / 1000)}k`;
        parts.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(plotTop + plotH - h - 4).toFixed(1)}" font-size="10" text-anchor="middle">${label}</text>`);
      });
      parts.push(`<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${plotTop + plotH + 16}" font-size="12" text-anchor="middle">${escape(g.label)}</text>`);
    });
  });
  const height = top + panels.length * (panelH + 40) + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
