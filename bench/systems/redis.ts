import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { freePorts } from '../../src/cli/local-cluster';
import { findBinary, retryUntil, spawnServer, stopProcess, versionOf, waitForPort } from './processes';
import { type Availability, type BenchConsumer, type BenchProducer, type BenchSystem, pollingConsumer, type ProducerSpec, type StreamSpec } from './system';

/** Records per XREADGROUP call. */
const READ_COUNT = 10_000;

/**
 * Redis Streams: one primary and `nodes - 1` replicas (Debian's redis-server), AOF on with the
 * default `appendfsync everysec`. A producer pipelines XADDs and, for acks=all, ends every pipeline
 * with `WAIT <replicas>` so it is acknowledged once every replica has received it. Readers use
 * XREADGROUP with NOACK (no pending-entries list, as Cairn's readers commit nothing).
 */
export class RedisSystem implements BenchSystem {
  readonly name = 'redis';
  readonly durability = 'acks=all: WAIT for both replicas (in memory), AOF fsync every second (appendfsync everysec)';
  private readonly bin = findBinary('redis-server');
  private procs: ChildProcess[] = [];
  private ports: number[] = [];
  private baseDir = '';
  private readonly clients: Redis[] = [];

  constructor(private readonly o: { nodes: number; baseDir?: string }) {}

  static availability(): Availability {
    return findBinary('redis-server') ? { ok: true } : { ok: false, reason: 'redis-server is not installed', install: 'apt-get update && apt-get install -y redis-server' };
  }

  version(): string {
    return this.bin ? versionOf(this.bin, ['--version']) : 'not installed';
  }

  private client(): Redis {
    const c = new Redis({ host: '127.0.0.1', port: this.ports[0]!, lazyConnect: false, maxRetriesPerRequest: null, enableAutoPipelining: false });
    this.clients.push(c);
    return c;
  }

  async start(): Promise<void> {
    if (!this.bin) throw new Error('redis-server is not installed');
    this.baseDir = fs.mkdtempSync(path.join(this.o.baseDir ?? os.tmpdir(), 'redis-bench-'));
    this.ports = await freePorts(this.o.nodes);
    for (let i = 0; i < this.o.nodes; i++) {
      const dir = path.join(this.baseDir, `r${i + 1}`);
      fs.mkdirSync(dir, { recursive: true });
      const args = [
        '--port',
        String(this.ports[i]),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--protected-mode',
        'no',
        '--daemonize',
        'no',
      ];
      if (i > 0) args.push('--replicaof', '127.0.0.1', String(this.ports[0]));
      this.procs.push(spawnServer(this.bin, args, path.join(dir, 'server.log')));
    }
    for (const p of this.ports) await waitForPort(p);
    const admin = this.client();
    await retryUntil('redis replicas online', async () => {
      const info = await admin.info('replication');
      const online = (info.match(/state=online/g) ?? []).length;
      if (online < this.o.nodes - 1) throw new Error(`${online} of ${this.o.nodes - 1} replicas online`);
    });
  }

  private keys(s: StreamSpec): string[] {
    return Array.from({ length: s.partitions }, (_, i) => `${s.name}:${i}`);
  }

  async createStream(): Promise<void> {
    // XADD creates streams; groups are created by consumer().
  }

  async producer(s: StreamSpec, spec: ProducerSpec): Promise<BenchProducer> {
    const redis = this.client();
    const keys = this.keys(s);
    const waitFor = spec.acks === 'all' ? s.replicas - 1 : 0;
    // No client defaults of its own here: the same numbers as Cairn's producer.
    const batchBytes = spec.batchBytes ?? 64 * 1024;
    const lingerMs = spec.lingerMs ?? 5;
    let next = 0;
    let queue: { value: Buffer; resolve: () => void; reject: (e: Error) => void }[] = [];
    let queuedBytes = 0;
    let timer: NodeJS.Timeout | null = null;
    const inflight = new Set<Promise<void>>();
    const send = () => {
      if (timer) clearTimeout(timer);
      timer = null;
      const batch = queue;
      queue = [];
      queuedBytes = 0;
      if (batch.length === 0) return;
      const pipeline = redis.pipeline();
      for (const r of batch) {
        pipeline.xadd(keys[next]!, '*', 'v', r.value);
        next = (next + 1) % keys.length;
      }
      if (waitFor > 0) pipeline.wait(waitFor, 10_000);
      const p = pipeline.exec().then(
        (results) => {
          const failed = results?.find(([err]) => err !== null)?.[0];
          const replicated = waitFor > 0 ? (results?.[results.length - 1]?.[1] as number) : 0;
          const err = failed ?? (replicated < waitFor ? new Error(`WAIT: ${replicated} of ${waitFor} replicas`) : null);
          for (const r of batch) {
            if (err) r.reject(err);
            else r.resolve();
          }
        },
        (err: Error) => {
          for (const r of batch) r.reject(err);
        },
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    };
    return {
      send(value) {
        return new Promise<void>((resolve, reject) => {
          queue.push({ value, resolve, reject });
          queuedBytes += value.length;
          if (queuedBytes >= batchBytes) send();
          else if (!timer) timer = setTimeout(send, lingerMs);
        });
      },
      async flush() {
        send();
        await Promise.all([...inflight]);
      },
      async close() {
        send();
        await Promise.all([...inflight]);
        redis.disconnect();
      },
    };
  }

  /** Pipelines of XADD without WAIT, a few in flight; one WAIT for the replicas at the end. */
  async fill(s: StreamSpec, records: number, recordSize: number): Promise<number> {
    const redis = this.client();
    const keys = this.keys(s);
    const value = Buffer.alloc(recordSize, 0x66);
    const inflight: Promise<unknown>[] = [];
    for (let sent = 0; sent < records;) {
      const chunk = Math.min(10_000, records - sent);
      const pipeline = redis.pipeline();
      for (let j = 0; j < chunk; j++) pipeline.xadd(keys[(sent + j) % keys.length]!, '*', 'v', value);
      sent += chunk;
      inflight.push(pipeline.exec());
      if (inflight.length >= 4) await inflight.shift();
    }
    await Promise.all(inflight);
    await redis.wait(s.replicas - 1, 60_000);
    let n = 0;
    for (const key of keys) n += await redis.xlen(key);
    redis.disconnect();
    return n;
  }

  async consumer(s: StreamSpec, group: string): Promise<BenchConsumer> {
    const redis = this.client();
    const keys = this.keys(s);
    for (const key of keys) {
      await redis.xgroup('CREATE', key, group, '0', 'MKSTREAM').catch((err: Error) => {
        if (!String(err.message).includes('BUSYGROUP')) throw err;
      });
    }
    return pollingConsumer(
      async (onRecord) => {
        const res = (await redis.callBuffer('XREADGROUP', 'GROUP', group, 'c1', 'COUNT', READ_COUNT, 'BLOCK', 200, 'NOACK', 'STREAMS', ...keys, ...keys.map(() => '>'))) as
          [Buffer, [Buffer, Buffer[]][]][] | null;
        if (res === null) return;
        for (const [, entries] of res) for (const [, fields] of entries) onRecord(fields[1]!);
      },
      () => redis.disconnect(),
    );
  }

  async stop(): Promise<void> {
    for (const c of this.clients.splice(0)) c.disconnect();
    await Promise.all(this.procs.map((p) => stopProcess(p)));
    this.procs = [];
    if (this.baseDir) fs.rmSync(this.baseDir, { recursive: true, force: true });
  }
}
