/**
 * Prometheus metrics (issue 21 item 3) on a cluster of real processes: each node's
 * `metrics.listener` serves the text format; the counters move with traffic, the health gauges
 * with a node going down; `cairn cluster status` shows every node's metrics address; and Debian's
 * own Prometheus server scrapes the three nodes with deploy/prometheus/cairn-rules.yaml loaded, so
 * the rules are proven to load and the recording rule for group lag to answer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { LocalCluster } from '../../src/cli/local-cluster';
import { FAST_FAILOVER_FLAGS, freePorts, runCli } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

const RULES = path.resolve(__dirname, '../../deploy/prometheus/cairn-rules.yaml');
const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => fs.existsSync(p)) ?? null;

let cluster: LocalCluster;
let admin: Admin;

/** One sample of a scrape: its name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (what prom-client writes: one sample per line, no escapes in our label values). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(id: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${cluster.node(id).metricsPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseMetrics(await res.text());
}

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

beforeAll(async () => {
  const ports = await freePorts(6);
  cluster = new LocalCluster({ baseDir: tmpDir('cairn-metrics-'), ports: ports.slice(0, 3), metricsPorts: ports.slice(3), flags: FAST_FAILOVER_FLAGS });
  cluster.startAll();
  await cluster.waitReady(3);
  admin = new Admin({ bootstrap: cluster.bootstrap });
  await admin.createTopic({ name: 'metered', partitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
});

afterAll(async () => {
  admin?.close();
  await cluster?.stopAll();
});

describe('Prometheus metrics', () => {
  it('count requests, bytes per topic, fsyncs and group offsets; exactly one node is the active controller', async () => {
    const producer = new Producer({ bootstrap: cluster.bootstrap, acks: 'all' });
    const consumer = new Consumer({ bootstrap: cluster.bootstrap, groupId: 'metered-group', autoOffsetReset: 'earliest' });
    try {
      for (let i = 0; i < 30; i++) await producer.send({ topic: 'metered', key: `k${i}`, value: `value-${i}` });
      consumer.subscribe(['metered']);
      let seen = 0;
      await waitFor(
        async () => {
          seen += (await consumer.poll(500)).length;
          return seen >= 30 || null;
        },
        '30 records consumed',
        30_000,
      );
      await consumer.commit();
    } finally {
      await producer.close();
      await consumer.close();
    }
    const all = await Promise.all([1, 2, 3].map(scrape));
    const merged = all.flat();
    // Every node labels its samples with its id, so one Prometheus query tells them apart.
    all.forEach((samples, i) => expect(samples.every((s) => s.labels.node === String(i + 1))).toBe(true));
    expect(sum(merged, 'cairn_controller_active')).toBe(1);
    expect(sum(merged, 'cairn_topic_bytes_in_total', { topic: 'metered' })).toBeGreaterThan(30 * 'value-0'.length);
    expect(sum(merged, 'cairn_topic_bytes_out_total', { topic: 'metered' })).toBeGreaterThan(30 * 'value-0'.length);
    expect(sum(merged, 'cairn_requests_total', { api: 'Broker.ProduceStream' }) + sum(merged, 'cairn_requests_total', { api: 'Broker.Produce' })).toBeGreaterThanOrEqual(1);
    expect(sum(merged, 'cairn_request_duration_seconds_count', { api: 'Broker.Metadata' })).toBeGreaterThanOrEqual(1);
    expect(sum(merged, 'cairn_log_fsync_duration_seconds_count')).toBeGreaterThan(0);
    expect(sum(merged, 'cairn_partitions_led')).toBeGreaterThanOrEqual(3);
    expect(sum(merged, 'cairn_partitions_under_replicated')).toBe(0);
    expect(sum(merged, 'cairn_partitions_offline')).toBe(0);
    // Log sizes: each of the three replicas of each partition reports its own.
    expect(merged.filter((s) => s.name === 'cairn_log_size_bytes' && s.labels.topic === 'metered')).toHaveLength(9);
    expect(sum(merged, 'cairn_group_committed_offset', { group: 'metered-group', topic: 'metered' })).toBe(30);
    for (const samples of all) expect(samples.find((s) => s.name === 'cairn_raft_term')?.value).toBeGreaterThanOrEqual(1);
    // Process metrics (prom-client's defaults) come along.
    expect(merged.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
  });

  it('counts refused requests by error name', async () => {
    const before = sum((await Promise.all([1, 2, 3].map(scrape))).flat(), 'cairn_request_errors_total', { error: 'TOPIC_ALREADY_EXISTS' });
    await expect(admin.createTopic({ name: 'metered', partitions: 1, replicationFactor: 1 })).rejects.toThrow(/exists/);
    const after = sum((await Promise.all([1, 2, 3].map(scrape))).flat(), 'cairn_request_errors_total', { error: 'TOPIC_ALREADY_EXISTS' });
    expect(after).toBeGreaterThan(before);
  });

  it('cairn cluster status shows every node with its health and metrics address', async () => {
    const r = await runCli(['cluster', 'status', '--bootstrap', cluster.bootstrap]);
    expect(r.code, r.stderr).toBe(0);
    for (const n of cluster.nodes) expect(r.stdout).toContain(`node ${n.id}  127.0.0.1:${n.port}  broker,controller  epoch`);
    for (const n of cluster.nodes) expect(r.stdout).toMatch(new RegExp(`health SERVING  metrics http://127\\.0\\.0\\.1:${n.metricsPort}/metrics`));
  });

  it.skipIf(!PROMETHEUS)("Debian's Prometheus scrapes every node, loads deploy/prometheus/cairn-rules.yaml and answers queries and the group-lag rule", async () => {
    const dir = tmpDir('cairn-prometheus-');
    const [webPort] = await freePorts(1);
    fs.copyFileSync(RULES, path.join(dir, 'cairn-rules.yaml'));
    const targets = cluster.nodes.map((n) => `'127.0.0.1:${n.metricsPort}'`).join(', ');
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'rule_files: [cairn-rules.yaml]',
        'scrape_configs:',
        '  - job_name: cairn',
        `    static_configs: [{ targets: [${targets}] }]`,
        '',
      ].join('\n'),
    );
    const check = spawnSync('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    if (check.error === undefined) expect(check.status, check.stdout + check.stderr).toBe(0);
    const log = fs.openSync(path.join(dir, 'prometheus.log'), 'w');
    const prometheus: ChildProcess = spawn(
      PROMETHEUS!,
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${webPort}`],
      { stdio: ['ignore', log, log] },
    );
    const api = async (p: string) => {
      const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/${p}`);
      const body = (await res.json()) as { status: string; data: unknown };
      if (body.status !== 'success') throw new Error(`${p}: ${JSON.stringify(body)}`);
      return body.data;
    };
    const query = async (q: string) => ((await api(`query?query=${encodeURIComponent(q)}`)) as { result: { metric: Record<string, string>; value: [number, string] }[] }).result;
    try {
      // All three targets up, as Prometheus itself sees them.
      await waitFor(async () => (await query('up{job="cairn"} == 1')).length === 3, 'three cairn targets up in Prometheus', 60_000, 250);
      const active = await waitFor(async () => {
        const r = await query('sum(cairn_controller_active)');
        return r.length === 1 ? r : null;
      }, 'the active-controller sum');
      expect(Number(active[0]!.value[1])).toBe(1);
      // Every rule of the shipped file loaded and evaluates without error.
      const rules = await waitFor(async () => {
        const groups = ((await api('rules')) as { groups: { rules: { name: string; health: string; lastError?: string }[] }[] }).groups.flatMap((g) => g.rules);
        return groups.length > 0 && groups.every((r) => r.health === 'ok') ? groups : null;
      }, 'every rule evaluated healthy');
      expect(rules.map((r) => r.name)).toEqual(expect.arrayContaining(['cairn:group_lag', 'CairnOfflinePartitions', 'CairnUnderMinIsrPartitions', 'CairnNoActiveController']));
      // The recording rule joins committed offsets (from coordinators) with high watermarks (from leaders).
      const lag = await waitFor(
        async () => {
          const r = await query('cairn:group_lag{group="metered-group",topic="metered"}');
          return r.length === 3 ? r : null;
        },
        'cairn:group_lag for the three partitions',
        30_000,
        250,
      );
      expect(lag.map((s) => Number(s.value[1]))).toEqual([0, 0, 0]);
      // Bytes in per topic, as a rate an operator would graph.
      await waitFor(async () => (await query('sum(cairn_topic_bytes_in_total{topic="metered"})')).some((s) => Number(s.value[1]) > 0), 'bytes in for the topic');
    } finally {
      prometheus.kill('SIGTERM');
      await new Promise((resolve) => prometheus.once('exit', resolve));
      fs.closeSync(log);
    }
  });

  it('a node going down shows as under-replicated and under-min-ISR partitions on the leaders left, and clears when it returns', async () => {
    // min.insync.replicas=3: one replica out of the ISR already stops acks=all writes.
    await admin.createTopic({ name: 'strict', partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '3' } });
    await cluster.kill(3);
    const survivors = [1, 2];
    await waitFor(
      async () => {
        const s = (await Promise.all(survivors.map(scrape))).flat();
        return sum(s, 'cairn_partitions_under_replicated') >= 4 && sum(s, 'cairn_partitions_under_min_isr') >= 1 && sum(s, 'cairn_brokers_fenced') >= 1;
      },
      'four under-replicated partitions, one under min ISR, once node 3 leaves the ISRs',
      30_000,
      250,
    );
    expect(sum((await Promise.all(survivors.map(scrape))).flat(), 'cairn_isr_changes_total', { change: 'shrink' })).toBeGreaterThanOrEqual(4);
    cluster.start(3);
    await cluster.waitReady(3);
    await waitFor(
      async () => {
        const s = (await Promise.all([1, 2, 3].map(scrape))).flat();
        return sum(s, 'cairn_partitions_under_replicated') === 0 && sum(s, 'cairn_partitions_under_min_isr') === 0 && sum(s, 'cairn_isr_changes_total', { change: 'expand' }) >= 4;
      },
      'every partition fully replicated again',
      60_000,
      250,
    );
  });
});
