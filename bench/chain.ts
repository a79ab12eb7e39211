/**
 * bench:chain — the floor under an acks=all produce's latency on this machine, with nothing of
 * Cairn's around it. `--nodes` (3) processes each lead one partition and follow every other; a
 * record is acknowledged once its leader and every follower have it written and fdatasynced, the
 * chain an acks=all produce with RF = nodes waits for:
 *
 *   client → leader: pwrite, fdatasync (one in flight per file; writes that arrive meanwhile wait
 *                    for the next one, as Cairn's group commit) and, at once, the bytes to each
 *                    follower over a gRPC stream → follower: pwrite, fdatasync → ack → leader → client
 *
 * The transport is grpc-js bidi streams of raw bytes (no protobuf, no CRC, no record format, no
 * metrics, no logs): one hop fewer than a follower's fetch-based replication, which learns of a
 * write from a parked fetch's answer and acknowledges it with its next fetch.
 *
 * The client sends records the way Cairn's producer batches them: records at `--rate` per second
 * (0: as fast as the window allows, at most `--window`, 20,000, outstanding, as bench:produce),
 * each going to one partition (`--partitioning sticky`: Cairn's sticky partitioner, moving on after
 * `--batch-bytes`; `spread`: round robin), and a partition's batch leaves at once when the partition
 * has nothing in flight, else once `--linger-ms` (5) passed since its first record, with at most
 * `--max-in-flight` (5) requests per partition. A record's latency runs from when it was due to its
 * acknowledgement; every record is measured, after `--warmup` (2) seconds.
 *
 *   npm run bench:chain -- [--rate 20000] [--window 20000] [--duration 15] [--record-bytes 110] [--nodes 3]
 *     [--partitioning sticky|spread] [--linger-ms 5] [--max-in-flight 5] [--batch-bytes 262144] [--no-fsync]
 *
 * Prints a progress line and one JSON object as its last line: records' and requests' p50-max,
 * the fsyncs per second and the nodes' CPU (`server_cores`, from /proc).
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { CHANNEL_OPTIONS } from '../src/protocol/io';
import { tuneServerConnections } from '../src/server/grpc-util';
import { StickyPartitioner } from '../src/client/partitioner';
import { args, cpuMeter, hrMs, num, percentiles, progress, report } from './common';
import { rawBidiStream } from './raw-grpc';

/** Produce: client → leader. Replicate: leader → follower. A message is [id u32][partition u8][payload]; an ack is [id u32]. */
const SERVICE: grpc.ServiceDefinition = { Produce: rawBidiStream('cairn.bench.Chain', 'Produce'), Replicate: rawBidiStream('cairn.bench.Chain', 'Replicate') };
type Duplex = grpc.ClientDuplexStream<Buffer, Buffer>;
const Client = grpc.makeGenericClientConstructor(SERVICE, 'Chain');
const openStream = (address: string, method: 'Produce' | 'Replicate'): Duplex => {
  const client = new Client(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Record<string, () => Duplex>;
  return client[method]!();
};

/** One partition's file on one node: pwrite at once, one fdatasync in flight, callbacks once their bytes are durable. */
class DurableFile {
  private readonly fd: number;
  private written = 0;
  private synced = 0;
  private syncing = false;
  private waiters: { end: number; done: () => void }[] = [];

  constructor(
    file: string,
    private readonly fsync: boolean,
  ) {
    this.fd = fs.openSync(file, 'w');
  }

  /** Writes `payload` and calls `done` once it is durable. */
  append(payload: Buffer, done: () => void): void {
    this.written += fs.writeSync(this.fd, payload, 0, payload.length, this.written);
    if (!this.fsync) return done();
    this.waiters.push({ end: this.written, done });
    if (!this.syncing) this.sync();
  }

  private sync(): void {
    this.syncing = true;
    const target = this.written;
    fs.fdatasync(this.fd, (err) => {
      if (err) throw err;
      this.synced = target;
      this.syncing = false;
      fsyncs++;
      const ready = this.waiters.filter((w) => w.end <= this.synced);
      this.waiters = this.waiters.filter((w) => w.end > this.synced);
      for (const w of ready) w.done();
      if (this.written > this.synced) this.sync();
    });
  }
}

let fsyncs = 0;

/** A node, in a child process: leads partition `self`, follows the others. */
function node(self: number, nodes: number, dir: string, fsync: boolean): void {
  const files = Array.from({ length: nodes }, (_, p) => new DurableFile(path.join(dir, `node-${self}-partition-${p}.log`), fsync));
  const followers: Duplex[] = [];
  /** Per request id: how many of (own fsync, each follower's ack) are still missing, and the answer to send then. */
  const pending = new Map<number, { missing: number; answer: () => void }>();
  const settle = (id: number) => {
    const p = pending.get(id)!;
    if (--p.missing === 0) {
      pending.delete(id);
      p.answer();
    }
  };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 128 * 1024 * 1024 });
  server.addService(SERVICE, {
    Produce: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => {
        const id = m.readUInt32BE(0);
        const ack = m.subarray(0, 4);
        pending.set(id, { missing: 1 + followers.length, answer: () => call.write(ack) });
        for (const f of followers) f.write(m);
        files[self]!.append(m.subarray(5), () => settle(id));
      });
    },
    Replicate: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => {
        const ack = m.subarray(0, 4);
        files[m.readUInt8(4)]!.append(m.subarray(5), () => call.write(ack));
      });
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    tuneServerConnections(server, pino({ level: 'silent' }));
    process.send!({ port });
  });
  process.on('message', (m: { peers?: number[]; report?: boolean }) => {
    if (m.peers) {
      for (const [i, port] of m.peers.entries()) {
        if (i === self) continue;
        const f = openStream(`127.0.0.1:${port}`, 'Replicate');
        f.on('data', (a: Buffer) => settle(a.readUInt32BE(0)));
        followers.push(f);
      }
      process.send!({ connected: true });
    }
    if (m.report) process.send!({ fsyncs });
  });
}

interface PartitionState {
  stream: Duplex;
  /** Batches waiting to leave, oldest first; the last one is open. Each holds when its records were due. */
  batches: { due: number[]; createdAt: number }[];
  inFlight: number;
  lingerTimer: NodeJS.Timeout | null;
  scheduled: boolean;
}

async function main(): Promise<void> {
  const a = args({
    rate: '20000',
    duration: '15',
    warmup: '2',
    'record-bytes': '110',
    nodes: '3',
    partitioning: 'sticky',
    'linger-ms': '5',
    'max-in-flight': '5',
    'batch-bytes': '262144',
    'no-fsync': 'false',
    window: '20000',
  });
  const window = num(a.window, 'window');
  const rate = num(a.rate, 'rate');
  const durationMs = num(a.duration, 'duration') * 1000;
  const warmupMs = num(a.warmup, 'warmup') * 1000;
  const recordBytes = num(a['record-bytes'], 'record-bytes');
  const nodes = num(a.nodes, 'nodes');
  const lingerMs = num(a['linger-ms'], 'linger-ms');
  const maxInFlight = num(a['max-in-flight'], 'max-in-flight');
  const batchBytes = num(a['batch-bytes'], 'batch-bytes');
  const fsync = a['no-fsync'] !== 'true';
  if (a.partitioning !== 'sticky' && a.partitioning !== 'spread') throw new Error('--partitioning is sticky or spread');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-chain-'));
  const children = Array.from({ length: nodes }, (_, i) => fork(__filename, ['--node', String(i), String(nodes), dir, String(fsync)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const ask = <T>(child: (typeof children)[number], key: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (!(key in m)) return;
        child.off('message', onMessage);
        resolve(m[key] as T);
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`chain node exited with ${code}`)));
    });
  try {
    const ports = await Promise.all(children.map((c) => ask<number>(c, 'port')));
    const connected = children.map((c) => ask<boolean>(c, 'connected'));
    for (const c of children) c.send({ peers: ports });
    await Promise.all(connected);

    const recordLatencies: number[] = [];
    const requestLatencies: number[] = [];
    const startedAt = hrMs();
    const measureFrom = startedAt + warmupMs;
    let nextId = 0;
    const inFlight = new Map<number, { due: number[]; sentAt: number; partition: number }>();
    const partitions: PartitionState[] = ports.map((port) => ({ stream: openStream(`127.0.0.1:${port}`, 'Produce'), batches: [], inFlight: 0, lingerTimer: null, scheduled: false }));

    const full = (b: { due: number[] }) => b.due.length * recordBytes >= batchBytes;
    /** Sends what is ready (Cairn's readyAtMs: a full batch, or any when the partition is idle, else at the end of its linger), up to maxInFlight. */
    const drain = (p: number) => {
      const s = partitions[p]!;
      if (s.lingerTimer !== null) clearTimeout(s.lingerTimer);
      s.lingerTimer = null;
      const now = hrMs();
      while (s.inFlight < maxInFlight && s.batches.length > 0) {
        const head = s.batches[0]!;
        if (!(s.batches.length > 1 || full(head) || s.inFlight === 0 || now >= head.createdAt + lingerMs)) {
          s.lingerTimer = setTimeout(() => drain(p), head.createdAt + lingerMs - now);
          return;
        }
        s.batches.shift();
        const id = nextId++;
        const m = Buffer.alloc(5 + head.due.length * recordBytes, 0x61);
        m.writeUInt32BE(id, 0);
        m.writeUInt8(p, 4);
        inFlight.set(id, { due: head.due, sentAt: now, partition: p });
        s.inFlight++;
        s.stream.write(m);
      }
    };
    const drainSoon = (p: number) => {
      const s = partitions[p]!;
      if (s.scheduled) return;
      s.scheduled = true;
      setImmediate(() => {
        s.scheduled = false;
        drain(p);
      });
    };
    let acked = 0;
    /** Records placed in a batch so far. */
    let generated = 0;
    let resume: (() => void) | null = null;
    partitions.forEach((s) =>
      s.stream.on('data', (ack: Buffer) => {
        const now = hrMs();
        const id = ack.readUInt32BE(0);
        const r = inFlight.get(id)!;
        inFlight.delete(id);
        if (r.sentAt >= measureFrom) requestLatencies.push(now - r.sentAt);
        for (const due of r.due) if (due >= measureFrom) recordLatencies.push(now - due);
        acked += r.due.length;
        if (resume !== null && generated - acked <= (window * 7) / 8) {
          resume();
          resume = null;
        }
        const ps = partitions[r.partition]!;
        ps.inFlight--;
        drain(r.partition);
      }),
    );

    const meter = cpuMeter(children.map((c) => c.pid!));
    const ticker = setInterval(() => progress(`${acked} records acknowledged, ${inFlight.size} requests in flight`), 1000);
    // Cairn's own sticky partitioner, moving on after batchBytes went to a partition (by bytes alone, as in the runs bench/README.md reports).
    const sticky = new StickyPartitioner(batchBytes);
    for (let i = 0; ; i++) {
      let now = hrMs();
      if (now - startedAt >= durationMs) break;
      let due = now;
      if (rate > 0) {
        due = startedAt + (i / rate) * 1000;
        if (due - now > 1) {
          await new Promise((r) => setTimeout(r, due - now));
          now = hrMs();
        }
      }
      // As bench:produce: at most `window` records outstanding; a full window resumes once an eighth of it is acknowledged.
      if (generated - acked >= window) {
        await new Promise<void>((r) => (resume = r));
        now = hrMs();
        if (rate === 0) due = now;
      } else if (i % 1024 === 0) {
        // Behind schedule the loop never sleeps: let the answers in.
        await new Promise((r) => setImmediate(r));
      }
      let p: number;
      if (a.partitioning === 'spread') p = i % nodes;
      else {
        p = sticky.partition('chain', nodes);
        sticky.onAppended('chain', p, recordBytes, false, nodes);
      }
      const s = partitions[p]!;
      generated++;
      let open = s.batches[s.batches.length - 1];
      if (open === undefined || full(open)) s.batches.push((open = { due: [], createdAt: now }));
      open.due.push(due);
      if (s.inFlight === 0 || full(open)) drainSoon(p);
      else if (open.due.length === 1 && s.batches.length === 1 && s.lingerTimer === null) s.lingerTimer = setTimeout(() => drain(p), lingerMs);
    }
    while (inFlight.size > 0 || partitions.some((s) => s.batches.length > 0)) await new Promise((r) => setTimeout(r, 5));
    clearInterval(ticker);
    const cpu = meter.stop();
    const seconds = (hrMs() - startedAt) / 1000;
    const totalFsyncs = (await Promise.all(children.map((c) => (c.send({ report: true }), ask<number>(c, 'fsyncs'))))).reduce((x, y) => x + y, 0);
    const [p50, p95, p99, p999, max] = percentiles(recordLatencies, [50, 95, 99, 99.9, 100]);
    const [r50, r99, rmax] = percentiles(requestLatencies, [50, 99, 100]);
    progress(`records p50 ${p50!.toFixed(2)} ms, p99 ${p99!.toFixed(2)} ms; requests p50 ${r50!.toFixed(2)} ms, p99 ${r99!.toFixed(2)} ms`);
    report({
      benchmark: 'chain',
      nodes,
      fsync,
      partitioning: a.partitioning,
      target_rate: rate,
      records: acked,
      records_per_s: acked / seconds,
      requests: nextId,
      records_per_request: acked / nextId,
      p50_ms: p50,
      p95_ms: p95,
      p99_ms: p99,
      p999_ms: p999,
      max_ms: max,
      request_p50_ms: r50,
      request_p99_ms: r99,
      request_max_ms: rmax,
      fsyncs_per_s: totalFsyncs / seconds,
      ...cpu,
    });
    for (const s of partitions) s.stream.end();
  } finally {
    for (const c of children) c.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf('--node');
if (at >= 0) node(Number(process.argv[at + 1]), Number(process.argv[at + 2]), process.argv[at + 3]!, process.argv[at + 4] === 'true');
else
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
