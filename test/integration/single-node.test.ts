import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { runCli, TestCluster } from '../helpers/processes';

let cluster: TestCluster;

beforeEach(async () => {
  cluster = await TestCluster.start('cairn-it-', 1);
});

afterEach(async () => {
  await cluster.stopAll();
});

describe('one node, through the CLI', () => {
  it('creates a topic, takes 10,000 lines and prints them all back', async () => {
    const env = { CAIRN_BOOTSTRAP: cluster.bootstrap };
    const created = await runCli(['topics', 'create', 't', '--partitions', '3'], '', env);
    expect(created.stdout).toContain('Created topic t with 3 partition(s)');
    const lines = Array.from({ length: 10_000 }, (_, i) => `line-${i}`);
    const produced = await runCli(['produce', 't'], lines.join('\n') + '\n', env);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await runCli(['consume', 't', '--from-beginning', '--max-messages', '10000'], '', env);
    expect(consumed.code, consumed.stderr).toBe(0);
    const got = consumed.stdout.trim().split('\n');
    expect(got).toHaveLength(10_000);
    expect(new Set(got)).toEqual(new Set(lines));
    const described = await runCli(['topics', 'describe', 't'], '', env);
    expect(described.stdout).toMatch(/PartitionCount: 3/);
    const keyed = await runCli(['produce', 't', '--key-separator', ':'], 'k1:v1\nk2:v2\n', env);
    expect(keyed.code).toBe(0);
    const bad = await runCli(['topics', 'create', 'bad name!'], '', env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('INVALID_TOPIC');
  });
});

describe('one node, kill -9 under acks=all load', () => {
  it('keeps every acknowledged record at its offset, shows no partial batch, and takes writes after restart', async () => {
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    await admin.createTopic({ name: 'crash', partitions: 3 });
    admin.close();
    const producer = new Producer({ bootstrap: cluster.bootstrap, acks: 'all', lingerMs: 2, deliveryTimeoutMs: 5_000, retryBackoffMs: 50 });
    const acked = new Map<string, string>(); // partition:offset → value
    const attempted = new Set<string>();
    let n = 0;
    let stop = false;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      while (!stop) {
        const value = `w${w}-${n++}`;
        attempted.add(value);
        try {
          const m = await producer.send({ topic: 'crash', value });
          acked.set(`${m.partition}:${m.offset}`, value);
        } catch {
          // unacknowledged: may or may not be there
        }
      }
    });
    const deadline = Date.now() + 20_000;
    while (acked.size < 3_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await cluster.kill(1);
    stop = true;
    await Promise.all(writers);
    await producer.close().catch(() => undefined);
    expect(acked.size).toBeGreaterThan(1_000);

    cluster.start(1);
    await cluster.waitReady();
    const consumer = new Consumer({ bootstrap: cluster.bootstrap, autoOffsetReset: 'earliest' });
    const seen = new Map<string, string>();
    await consumer.assignTopic('crash');
    const idleDeadline = Date.now() + 30_000;
    let quietPolls = 0;
    while (quietPolls < 3 && Date.now() < idleDeadline) {
      const records = await consumer.poll(500);
      if (records.length === 0) quietPolls++;
      else quietPolls = 0;
      for (const r of records) {
        const v = r.value!.toString();
        // Every record read is one a writer sent, whole: no torn or partial batch became visible.
        expect(attempted.has(v)).toBe(true);
        seen.set(`${r.partition}:${r.offset}`, v);
      }
    }
    consumer.close();
    for (const [at, value] of acked) expect(seen.get(at), `acknowledged ${value} at ${at}`).toBe(value);

    const after = new Producer({ bootstrap: cluster.bootstrap, acks: 'all' });
    const m = await after.send({ topic: 'crash', value: 'after-restart' });
    expect(m.offset).toBeGreaterThanOrEqual(0);
    await after.close();
  });
});
