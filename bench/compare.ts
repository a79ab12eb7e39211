/**
 * bench:compare — the same workloads against Cairn, NATS JetStream and Redis Streams, one system
 * after another on this machine, each in a fresh cluster of three processes. Writes a Markdown
 * table, an SVG chart and the raw JSON into bench/results/, and prints the JSON as its last line.
 * Peers that are not installed are skipped with the command that installs them; nothing is
 * installed here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { args, hrMs, num, progress, report } from './common';
import { consumeLoad, type LoadResult, produceLoad } from './load';
import { renderMarkdown, renderSvg, type CompareReport, type SystemInfo, type WorkloadResult } from './compare-report';
import { CairnSystem } from './systems/cairn';
import { NatsSystem } from './systems/nats';
import { RedisSystem } from './systems/redis';
import type { Availability, BenchSystem, ProducerSpec, StreamSpec } from './systems/system';

export interface Workload {
  id: string;
  title: string;
  kind: 'produce' | 'fanout' | 'replay';
  recordSize: number;
  /** Records/s; 0 = as fast as the window allows. */
  rate: number;
  groups?: number;
  records?: number;
  /** The producer's linger; absent: the client's own default. */
  lingerMs?: number;
  /** Records outstanding at once, for every system (1: each send awaited before the next). */
  window?: number;
}

function workloads(a: Record<string, string>): Workload[] {
  const rate = num(a.rate, 'rate');
  const replay = num(a['replay-records'], 'replay-records');
  return [
    { id: 'a', title: 'max throughput, 100 B records, 3 copies, acks=all', kind: 'produce', recordSize: 100, rate: 0, lingerMs: 5 },
    { id: 'b', title: 'max throughput, 1 KiB records, 3 copies, acks=all', kind: 'produce', recordSize: 1024, rate: 0, lingerMs: 5 },
    { id: 'c', title: `latency at ${rate.toLocaleString('en')} records/s, 100 B, acks=all`, kind: 'produce', recordSize: 100, rate, lingerMs: 1 },
    { id: 'd', title: 'fan-out: one producer at max rate, four consumer groups', kind: 'fanout', recordSize: 100, rate: 0, groups: 4, lingerMs: 5 },
    { id: 'e', title: `replay ${replay.toLocaleString('en')} records from the start, one reader`, kind: 'replay', recordSize: 100, rate: 0, records: replay, lingerMs: 5 },
    // A user's first program: await every send. Each system's producer at its defaults.
    { id: 'f', title: 'one send at a time, each awaited, 100 B, 3 copies, acks=all', kind: 'produce', recordSize: 100, rate: 0, window: 1 },
  ];
}

function summaryLine(system: string, w: Workload, r: LoadResult): string {
  const lat = Number.isFinite(r.p99_ms) ? `, p50 ${r.p50_ms.toFixed(1)} ms, p99 ${r.p99_ms.toFixed(1)} ms, p99.9 ${r.p999_ms.toFixed(1)} ms` : '';
  return `${system} (${w.id}) ${w.title}: ${Math.round(r.records_per_s).toLocaleString('en')} records/s, ${r.mb_per_s.toFixed(1)} MB/s${lat}, ${r.errors} errors`;
}

async function runWorkload(
  sys: BenchSystem,
  w: Workload,
  o: { durationS: number; partitions: number; replicas: number; windowBytes: number; window: Record<string, number>; batchBytes: number },
): Promise<WorkloadResult> {
  const stream: StreamSpec = { name: `bench-${w.id}-${Date.now()}`, partitions: o.partitions, replicas: o.replicas };
  await sys.createStream(stream);
  const spec: ProducerSpec = w.window === 1 ? { acks: 'all' } : { acks: 'all', batchBytes: o.batchBytes, ...(w.lingerMs === undefined ? {} : { lingerMs: w.lingerMs }) };
  const window = w.window ?? o.window[sys.name] ?? sys.preferredWindow ?? Math.max(1, Math.floor(o.windowBytes / w.recordSize));
  const label = `${sys.name} (${w.id})`;
  const producer = await sys.producer(stream, spec);
  let producerOpen = true;
  const closeProducer = async () => {
    if (producerOpen) await producer.close();
    producerOpen = false;
  };
  try {
    if (w.kind === 'produce') {
      const r = await produceLoad({ producers: [producer], recordSize: w.recordSize, durationS: o.durationS, rate: w.rate, window, label });
      return { workload: w.id, system: sys.name, measured: 'produce (send to ack)', ...r };
    }
    if (w.kind === 'fanout') {
      const consumers = await Promise.all(Array.from({ length: w.groups! }, (_, i) => sys.consumer(stream, `group-${i}`)));
      let produced = 0;
      let producing = true;
      const reading = consumeLoad({ consumers, expected: () => produced, done: () => !producing, label: `${label} readers` });
      const p = await produceLoad({ producers: [producer], recordSize: w.recordSize, durationS: o.durationS, rate: w.rate, window, label });
      produced = p.records;
      producing = false;
      const readers = await reading;
      const delivered = readers.reduce((s, r) => s + r.records, 0);
      const seconds = Math.max(...readers.map((r) => r.seconds));
      const worst = (k: 'p50_ms' | 'p95_ms' | 'p99_ms' | 'p999_ms' | 'max_ms') => Math.max(...readers.map((r) => r[k]));
      return {
        workload: w.id,
        system: sys.name,
        measured: `delivered to ${w.groups} groups (end-to-end latency, slowest group)`,
        records: delivered,
        bytes: delivered * w.recordSize,
        seconds,
        records_per_s: delivered / seconds,
        mb_per_s: (delivered * w.recordSize) / 1024 / 1024 / seconds,
        p50_ms: worst('p50_ms'),
        p95_ms: worst('p95_ms'),
        p99_ms: worst('p99_ms'),
        p999_ms: worst('p999_ms'),
        max_ms: worst('max_ms'),
        errors: readers.reduce((s, r) => s + r.errors, 0) + p.errors,
        producer_records_per_s: p.records_per_s,
      };
    }
    // replay: fill (untimed setup, by the system's bulk path where it has one), then one reader from the start.
    progress(`${label}: loading ${w.records!.toLocaleString('en')} records`);
    const fillStart = hrMs();
    const stored = sys.fill
      ? await sys.fill(stream, w.records!, w.recordSize)
      : (await produceLoad({ producers: [producer], recordSize: w.recordSize, maxRecords: w.records!, rate: 0, window, label: `${label} fill` })).records;
    const fillRate = stored / ((hrMs() - fillStart) / 1000);
    // The reader runs alone: the loader's buffers and timers are gone before the clock starts.
    await closeProducer();
    const [r] = await consumeLoad({ consumers: [await sys.consumer(stream, 'replay')], expected: () => stored, done: () => true, label: `${label} replay` });
    return {
      workload: w.id,
      system: sys.name,
      measured: 'consume (first to last record)',
      ...r!,
      errors: r!.errors + (w.records! - stored),
      p50_ms: NaN,
      p95_ms: NaN,
      p99_ms: NaN,
      p999_ms: NaN,
      max_ms: NaN,
      fill_records_per_s: fillRate,
    };
  } finally {
    await closeProducer();
  }
}

/** `--window nats=1000,redis=20000`: outstanding records per system, overriding --window-bytes. */
function parseWindows(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of spec.split(',').filter((x) => x.length > 0)) {
    const [system, n] = part.split('=');
    if (!system || n === undefined) throw new Error(`--window wants system=records[,system=records], got "${spec}"`);
    out[system] = num(n, 'window');
  }
  return out;
}

async function main(): Promise<void> {
  const a = args({
    systems: 'cairn,nats,redis',
    workloads: 'a,b,c,d,e,f',
    duration: '15',
    rate: '20000',
    'replay-records': '10000000',
    partitions: '3',
    replicas: '3',
    'window-bytes': String(8 * 1024 * 1024),
    window: '',
    'batch-size': String(256 * 1024),
    out: path.resolve(__dirname, '../../bench/results'),
    'data-dir': '',
  });
  const replicas = num(a.replicas, 'replicas');
  const baseDir = a['data-dir'] || undefined;
  const wanted = new Set(a.workloads.split(','));
  const chosen = workloads(a).filter((w) => wanted.has(w.id));
  const candidates: { sys: BenchSystem; availability: Availability }[] = [];
  for (const name of a.systems.split(',')) {
    if (name === 'cairn') candidates.push({ sys: new CairnSystem({ nodes: replicas, baseDir }), availability: { ok: true } });
    else if (name === 'nats') candidates.push({ sys: new NatsSystem({ nodes: replicas, baseDir }), availability: NatsSystem.availability() });
    else if (name === 'redis') candidates.push({ sys: new RedisSystem({ nodes: replicas, baseDir }), availability: RedisSystem.availability() });
    else throw new Error(`unknown system "${name}" (cairn, nats, redis)`);
  }
  const systems: SystemInfo[] = [];
  const results: WorkloadResult[] = [];
  const started = Date.now();
  for (const { sys, availability } of candidates) {
    if (!availability.ok) {
      progress(`skipping ${sys.name}: ${availability.reason}. To include it: ${availability.install}`);
      systems.push({ name: sys.name, version: 'not installed', durability: sys.durability, skipped: `${availability.reason} (install: \`${availability.install}\`)` });
      continue;
    }
    systems.push({ name: sys.name, version: sys.version(), durability: sys.durability });
    progress(`starting ${sys.name} (${replicas} nodes)`);
    try {
      await sys.start();
      for (const w of chosen) {
        const r = await runWorkload(sys, w, {
          durationS: num(a.duration, 'duration'),
          partitions: num(a.partitions, 'partitions'),
          replicas,
          windowBytes: num(a['window-bytes'], 'window-bytes'),
          window: parseWindows(a.window),
          batchBytes: num(a['batch-size'], 'batch-size'),
        });
        results.push(r);
        process.stderr.write(summaryLine(sys.name, w, r) + '\n');
      }
    } finally {
      await sys.stop();
    }
  }
  const out: CompareReport = {
    date: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memory_gib: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.versions.node },
    settings: {
      duration_s: num(a.duration, 'duration'),
      partitions: num(a.partitions, 'partitions'),
      replicas,
      window_bytes: num(a['window-bytes'], 'window-bytes'),
      batch_bytes: num(a['batch-size'], 'batch-size'),
    },
    workloads: chosen.map((w) => ({ id: w.id, title: w.title })),
    systems,
    results,
  };
  fs.mkdirSync(a.out, { recursive: true });
  const stamp = out.date.replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(a.out, `compare-${stamp}.json`), JSON.stringify(out, null, 2) + '\n');
  fs.writeFileSync(path.join(a.out, 'compare-latest.md'), renderMarkdown(out));
  fs.writeFileSync(path.join(a.out, 'compare-latest.svg'), renderSvg(out));
  process.stderr.write(`\nwrote ${path.join(a.out, 'compare-latest.md')} and compare-latest.svg (${out.seconds.toFixed(0)} s)\n`);
  process.stderr.write(renderMarkdown(out));
  const headline = results.find((r) => r.system === 'cairn' && r.workload === 'a') ?? results[0];
  report({
    benchmark: 'compare',
    records_per_s: headline?.records_per_s,
    mb_per_s: headline?.mb_per_s,
    p50_ms: headline?.p50_ms,
    p99_ms: headline?.p99_ms,
    errors: results.reduce((s, r) => s + r.errors, 0),
    ...out,
  } as Record<string, unknown>);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
