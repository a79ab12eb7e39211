import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePorts, LocalCluster } from '../src/cli/local-cluster';
import type { ClientOptions } from '../src/client/cluster';
import { Admin } from '../src/client/admin';
import { Producer } from '../src/client/producer';
import { progress } from './common';

/**
 * A cluster to benchmark: `--bootstrap` to use one that is already running, else a fresh local
 * one of `brokers` nodes in a temporary directory (removed afterwards).
 */
export async function benchCluster(opts: { bootstrap?: string; brokers: number; flags?: Record<string, string> }): Promise<{ bootstrap: string; close: () => Promise<void> }> {
  if (opts.bootstrap) return { bootstrap: opts.bootstrap, close: async () => undefined };
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-'));
  const cluster = new LocalCluster({ baseDir, ports: await freePorts(opts.brokers), flags: opts.flags, logLevel: 'warn' });
  cluster.startAll();
  await cluster.waitReady();
  return {
    bootstrap: cluster.bootstrap,
    close: async () => {
      await cluster.stopAll('SIGTERM');
      fs.rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

export async function createBenchTopic(client: string | ClientOptions, name: string, partitions: number, replicationFactor: number, configs: Record<string, string> = {}): Promise<void> {
  const admin = new Admin(typeof client === 'string' ? { bootstrap: client } : client);
  try {
    await admin.createTopic({ name, partitions, replicationFactor, configs });
    // Wait until every partition has a leader.
    for (let i = 0; i < 100; i++) {
      const t = (await admin.describeTopics([name]))[0];
      if (t && t.partitions.length === partitions && t.partitions.every((p) => p.leaderId >= 0)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    admin.close();
  }
}

/** Writes `records` records of `size` bytes to `topic` (acks=1, 100,000 in flight at most), with a progress line per 100,000. */
export async function fillTopic(bootstrap: string, topic: string, records: number, size: number): Promise<void> {
  const producer = new Producer({ bootstrap, acks: 1, bufferMemoryBytes: 256 * 1024 * 1024 });
  const value = Buffer.alloc(size, 0x63);
  let pending: Promise<unknown>[] = [];
  for (let i = 0; i < records; i++) {
    pending.push(producer.send({ topic, value }));
    if (pending.length >= 100_000) {
      await Promise.all(pending);
      pending = [];
      progress(`filled ${i + 1} records`);
    }
  }
  await Promise.all(pending);
  await producer.close();
}
