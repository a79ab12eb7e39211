/**
 * bench:transport — what moving bytes through grpc-js costs, with nothing of Cairn's around it:
 * one process streams messages of a given size to a child process over one bidi stream (the
 * shape of a produce stream or a follower's fetches), with Cairn's channel options and server
 * tuning, a window of 8 messages, and an 8-byte answer per message. It reports the CPU each side
 * spent per byte (user + system, process.cpuUsage) and, from those, the cores the transport alone
 * needs for a replicated produce load: the producer sends each byte once, the leader receives it
 * once and sends it once per follower, and each follower receives it.
 *
 *   npm run bench:transport -- [--sizes 16384,262144,1048576] [--mb 400]
 *     [--records-per-s 500000 --record-bytes 110 --replication-factor 3]
 *
 * Prints a line per message size and one JSON object as its last line.
 */
import { fork } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { CHANNEL_OPTIONS } from '../src/protocol/io';
import { tuneServerConnections } from '../src/server/grpc-util';
import { args, num, progress, report } from './common';
import { rawBidiStream } from './raw-grpc';

const WINDOW = 8;
const SERVICE: grpc.ServiceDefinition = { Push: rawBidiStream('cairn.bench.Transport', 'Push') };

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** The receiving side, in a child process: counts bytes and reports its CPU after `expect` messages. */
function serve(): void {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 128 * 1024 * 1024 });
  const ack = Buffer.alloc(8);
  server.addService(SERVICE, {
    Push: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      let expect = 0;
      let seen = 0;
      let startCpu = 0;
      call.on('data', (m: Buffer) => {
        if (expect === 0) {
          // The first message says how many follow.
          expect = m.readUInt32BE(0);
          startCpu = cpuMs();
          call.write(ack);
          return;
        }
        call.write(ack);
        if (++seen === expect) process.send!({ receiverCpuMs: cpuMs() - startCpu });
      });
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    tuneServerConnections(server, pino({ level: 'silent' }));
    process.send!({ port });
  });
}

interface SizeResult {
  message_bytes: number;
  messages: number;
  mb_per_s: number;
  sender_ns_per_byte: number;
  receiver_ns_per_byte: number;
}

/** Streams `messages` messages of `size` bytes to a fresh child; resolves with both sides' CPU per byte. */
async function measure(size: number, messages: number): Promise<SizeResult> {
  const child = fork(__filename, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`transport server exited with ${code}`)));
    });
    const receiver = new Promise<number>((resolve) => child.on('message', (m: { receiverCpuMs?: number }) => m.receiverCpuMs !== undefined && resolve(m.receiverCpuMs)));
    const Client = grpc.makeGenericClientConstructor(SERVICE, 'Transport');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const call = (client as unknown as { Push(): grpc.ClientDuplexStream<Buffer, Buffer> }).Push();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(messages);
    const payload = Buffer.alloc(size, 0x61);
    let sent = 0;
    let acked = -1; // the header's answer comes first
    let startCpu = 0;
    let startMs = 0;
    const done = new Promise<{ cpu: number; ms: number }>((resolve, reject) => {
      const pump = () => {
        while (sent < messages && sent - acked < WINDOW) {
          call.write(payload);
          sent++;
        }
      };
      call.on('data', () => {
        if (++acked === 0) {
          startCpu = cpuMs();
          startMs = performance.now();
        }
        if (acked === messages) resolve({ cpu: cpuMs() - startCpu, ms: performance.now() - startMs });
        else pump();
      });
      call.on('error', reject);
    });
    call.write(header);
    const sender = await done;
    const receiverCpu = await receiver;
    call.end();
    client.close();
    const bytes = size * messages;
    return {
      message_bytes: size,
      messages,
      mb_per_s: bytes / 1e6 / (sender.ms / 1000),
      sender_ns_per_byte: (sender.cpu * 1e6) / bytes,
      receiver_ns_per_byte: (receiverCpu * 1e6) / bytes,
    };
  } finally {
    child.kill();
  }
}

async function main(): Promise<void> {
  const a = args({ sizes: '16384,262144,1048576', mb: '400', 'records-per-s': '500000', 'record-bytes': '110', 'replication-factor': '3' });
  const sizes = a.sizes.split(',').map((s) => num(s, 'sizes'));
  const totalBytes = num(a.mb, 'mb') * 1e6;
  const results: SizeResult[] = [];
  for (const size of sizes) {
    const r = await measure(size, Math.max(50, Math.round(totalBytes / size)));
    progress(`${size} B messages: ${r.mb_per_s.toFixed(0)} MB/s, sender ${r.sender_ns_per_byte.toFixed(2)} ns/B, receiver ${r.receiver_ns_per_byte.toFixed(2)} ns/B`);
    results.push(r);
  }
  // The cheapest measured size stands for a well-batched load.
  const best = results.reduce((x, y) => (x.sender_ns_per_byte + x.receiver_ns_per_byte <= y.sender_ns_per_byte + y.receiver_ns_per_byte ? x : y));
  const rf = num(a['replication-factor'], 'replication-factor');
  const bytesPerS = num(a['records-per-s'], 'records-per-s') * num(a['record-bytes'], 'record-bytes');
  // Each byte crosses rf links: producer → leader once, leader → each of the rf - 1 followers once.
  const hops = rf;
  const cores = (bytesPerS * hops * (best.sender_ns_per_byte + best.receiver_ns_per_byte)) / 1e9;
  progress(`at ${a['records-per-s']} records/s of ${a['record-bytes']} bytes, RF=${rf}: ${hops} transfers of each byte, ${cores.toFixed(2)} cores for the transport alone`);
  report({
    benchmark: 'transport',
    window: WINDOW,
    results,
    load_records_per_s: num(a['records-per-s'], 'records-per-s'),
    load_record_bytes: num(a['record-bytes'], 'record-bytes'),
    replication_factor: rf,
    transport_cores: cores,
  });
}

if (process.argv.includes('--serve')) serve();
else
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
