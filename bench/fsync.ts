/**
 * bench:fsync — the disk's own fdatasync latency under the load an RF=3 cluster puts on it, with
 * nothing of Cairn's around it: `writers` files (one per broker), each written every 1/rate s
 * with `bytes` bytes and fdatasynced in the thread pool, one fdatasync in flight per file (the
 * group commit's shape: writes that arrive meanwhile wait for the next one). Reports the latency
 * from the call to its completion. An acks=all produce waits for the leader's fsync and for a
 * fetch → write → fsync → fetch round on every follower, so the tail of this number is a floor
 * under the produce latency's tail.
 *
 *   npm run bench:fsync -- [--writers 3] [--rate 300] [--bytes 8192] [--duration 15] [--dir DIR]
 *
 * Prints a progress line and one JSON object as its last line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { args, hrMs, num, percentiles, progress, report } from './common';

async function main(): Promise<void> {
  const a = args({ writers: '3', rate: '300', bytes: '8192', duration: '15', dir: '' });
  const writers = num(a.writers, 'writers');
  const rate = num(a.rate, 'rate');
  const bytes = num(a.bytes, 'bytes');
  const durationMs = num(a.duration, 'duration') * 1000;
  const dir = a.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-fsync-'));
  const payload = Buffer.alloc(bytes, 0x61);
  const latencies: number[] = [];
  const start = hrMs();
  try {
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const fd = fs.openSync(path.join(dir, `writer-${w}.log`), 'w');
        let position = 0;
        let inFlight = false;
        let pending = false;
        const sync = () => {
          inFlight = true;
          pending = false;
          const t0 = hrMs();
          fs.fdatasync(fd, (err) => {
            if (err) throw err;
            latencies.push(hrMs() - t0);
            inFlight = false;
            if (pending) sync();
          });
        };
        for (let i = 0; ; i++) {
          const due = start + (i * 1000) / rate;
          const now = hrMs();
          if (now - start >= durationMs) break;
          if (due > now) await new Promise((r) => setTimeout(r, due - now));
          position += fs.writeSync(fd, payload, 0, payload.length, position);
          if (inFlight) pending = true;
          else sync();
        }
        while (inFlight) await new Promise((r) => setTimeout(r, 1));
        fs.closeSync(fd);
      }),
    );
  } finally {
    if (!a.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
  const [p50, p90, p99, p999, max] = percentiles(latencies, [50, 90, 99, 99.9, 100]);
  progress(`${latencies.length} fdatasyncs over ${writers} files: p50 ${p50!.toFixed(2)} ms, p90 ${p90!.toFixed(2)}, p99 ${p99!.toFixed(2)}, p99.9 ${p999!.toFixed(2)}, max ${max!.toFixed(2)}`);
  report({ benchmark: 'fsync', writers, rate_per_writer: rate, write_bytes: bytes, fsyncs: latencies.length, p50_ms: p50, p90_ms: p90, p99_ms: p99, p999_ms: p999, max_ms: max });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
