import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AckPolicy, connect, DeliverPolicy, type NatsConnection, StorageType } from 'nats';
import { freePorts } from '../../src/cli/local-cluster';
import { findBinary, retryUntil, spawnServer, stopProcess, versionOf, waitForPort } from './processes';
import type { Availability, BenchConsumer, BenchProducer, BenchSystem, ProducerSpec, StreamSpec } from './system';

/**
 * NATS JetStream: a cluster of `nodes` `nats-server -js` processes (Debian's package), a
 * file-backed stream with `replicas` replicas per partition, published through the `nats` npm
 * client asynchronously (the window of outstanding publishes is the benchmark's).
 */
export class NatsSystem implements BenchSystem {
  readonly name = 'nats';
  /** From a sweep of 256, 1,024 and 4,096 outstanding publishes: 1,024 gave the highest rate (bench/README.md). */
  readonly preferredWindow = 1024;
  readonly durability = 'R3 ack after a quorum has it in its log, fsync every 2 min (JetStream default sync_interval)';
  private readonly bin = findBinary('nats-server');
  private procs: ChildProcess[] = [];
  private ports: number[] = [];
  private baseDir = '';
  private admin: NatsConnection | null = null;

  constructor(private readonly o: { nodes: number; baseDir?: string }) {}

  static availability(): Availability {
    return findBinary('nats-server') ? { ok: true } : { ok: false, reason: 'nats-server is not installed', install: 'apt-get update && apt-get install -y nats-server' };
  }

  version(): string {
    return this.bin ? versionOf(this.bin, ['--version']) : 'not installed';
  }

  private get servers(): string[] {
    return this.ports.map((p) => `127.0.0.1:${p}`);
  }

  async start(): Promise<void> {
    if (!this.bin) throw new Error('nats-server is not installed');
    this.baseDir = fs.mkdtempSync(path.join(this.o.baseDir ?? os.tmpdir(), 'nats-bench-'));
    const all = await freePorts(this.o.nodes * 2);
    this.ports = all.slice(0, this.o.nodes);
    const routePorts = all.slice(this.o.nodes);
    for (let i = 0; i < this.o.nodes; i++) {
      const dir = path.join(this.baseDir, `n${i + 1}`);
      fs.mkdirSync(dir, { recursive: true });
      const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
      const conf = [
        `server_name: n${i + 1}`,
        `listen: "127.0.0.1:${this.ports[i]}"`,
        `jetstream { store_dir: "${dir}" }`,
        `cluster { name: bench, listen: "127.0.0.1:${routePorts[i]}", routes: [${routes.join(', ')}] }`,
      ].join('\n');
      fs.writeFileSync(path.join(dir, 'nats.conf'), conf);
      this.procs.push(spawnServer(this.bin, ['-c', path.join(dir, 'nats.conf')], path.join(dir, 'server.log')));
    }
    for (const p of this.ports) await waitForPort(p);
    this.admin = await connect({ servers: this.servers });
    // JetStream answers once the cluster has elected its meta leader.
    const admin = this.admin;
    await retryUntil('JetStream cluster ready', async () => {
      const jsm = await admin.jetstreamManager();
      await jsm.getAccountInfo();
    });
  }

  async createStream(s: StreamSpec): Promise<void> {
    const jsm = await this.admin!.jetstreamManager();
    for (let i = 0; i < s.partitions; i++) {
      await retryUntil(`create stream ${s.name}-${i}`, () => jsm.streams.add({ name: `${s.name}-${i}`, subjects: [`${s.name}.${i}`], num_replicas: s.replicas, storage: StorageType.File }));
    }
  }

  async producer(s: StreamSpec, _spec: ProducerSpec): Promise<BenchProducer> {
    const nc = await connect({ servers: this.servers });
    const js = nc.jetstream();
    const subjects = Array.from({ length: s.partitions }, (_, i) => `${s.name}.${i}`);
    let next = 0;
    const outstanding = new Set<Promise<unknown>>();
    return {
      send(value) {
        const subject = subjects[next]!;
        next = (next + 1) % subjects.length;
        const p = js.publish(subject, value);
        outstanding.add(p);
        return p.then(
          () => void outstanding.delete(p),
          (err: unknown) => {
            outstanding.delete(p);
            throw err;
          },
        );
      },
      async flush() {
        await Promise.allSettled([...outstanding]);
      },
      async close() {
        await nc.drain();
      },
    };
  }

  /** Core-NATS publishes into the stream's subjects, kept at most `ahead` records ahead of what the streams have stored. */
  async fill(s: StreamSpec, records: number, recordSize: number): Promise<number> {
    const nc = await connect({ servers: this.servers });
    const jsm = await nc.jetstreamManager();
    const value = Buffer.alloc(recordSize, 0x66);
    const stored = async () => {
      let n = 0;
      for (let i = 0; i < s.partitions; i++) n += (await jsm.streams.info(`${s.name}-${i}`)).state.messages;
      return n;
    };
    const ahead = 200_000;
    try {
      for (let sent = 0; sent < records;) {
        const chunk = Math.min(10_000, records - sent);
        for (let j = 0; j < chunk; j++) nc.publish(`${s.name}.${(sent + j) % s.partitions}`, value);
        sent += chunk;
        await nc.flush();
        while (sent - (await stored()) > ahead) await new Promise((r) => setTimeout(r, 20));
      }
      // Wait for the last records to be stored; core publishes that were dropped never arrive.
      let last = -1;
      for (;;) {
        const n = await stored();
        if (n >= records || n === last) return n;
        last = n;
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      await nc.close();
    }
  }

  async consumer(s: StreamSpec, group: string): Promise<BenchConsumer> {
    const nc = await connect({ servers: this.servers });
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    const streams = Array.from({ length: s.partitions }, (_, i) => `${s.name}-${i}`);
    // A durable pull consumer per stream, no per-message acks (Cairn's readers do not commit either).
    for (const stream of streams) await jsm.consumers.add(stream, { durable_name: group, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    const running: { stop: () => void }[] = [];
    return {
      start(onRecord, onDelivered) {
        for (const stream of streams) {
          void js.consumers.get(stream, group).then(async (c) => {
            const messages = await c.consume({
              max_messages: 10_000,
              callback: (m) => {
                onRecord(m.data);
                onDelivered();
              },
            });
            running.push(messages);
          });
        }
      },
      async close() {
        for (const m of running) m.stop();
        await nc.drain();
      },
    };
  }

  async stop(): Promise<void> {
    await this.admin?.close().catch(() => undefined);
    this.admin = null;
    await Promise.all(this.procs.map((p) => stopProcess(p)));
    this.procs = [];
    if (this.baseDir) fs.rmSync(this.baseDir, { recursive: true, force: true });
  }
}
