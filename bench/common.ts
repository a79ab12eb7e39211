import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

/** Flags as strings; each benchmark converts what it needs. */
/** `--name value` options with string defaults; an option whose default is 'false' is a flag (`--name` alone makes it 'true'). */
export function args(defaults: Record<string, string>): Record<string, string> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [k, v] of Object.entries(defaults)) options[k] = { type: v === 'false' ? 'boolean' : 'string' };
  const { values } = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false });
  const out: Record<string, string> = { ...defaults };
  for (const [k, v] of Object.entries(values)) out[k] = String(v);
  return out;
}

export const num = (v: string | undefined, name: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} needs a number, got "${v}"`);
  return n;
};

/** Percentile of an unsorted sample (sorts a copy). */
export function percentiles(sample: Float64Array | number[], ps: number[]): number[] {
  const sorted = Float64Array.from(sample).sort();
  if (sorted.length === 0) return ps.map(() => NaN);
  return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The one JSON line every benchmark ends with (bench/README.md lists the fields). */
export function report(result: Record<string, unknown>): void {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(result)) clean[k] = typeof v === 'number' ? round(v) : v;
  process.stdout.write(JSON.stringify(clean) + '\n');
}

/** A progress line on stderr, rewritten in place when stderr is a terminal. */
export function progress(line: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${line}\u001b[K`);
  else process.stderr.write(line + '\n');
}

/**
 * Monotonic milliseconds with sub-millisecond resolution, for latencies inside one process.
 * performance.now() returns a double; process.hrtime.bigint() allocated a BigInt per call, which
 * at one call per record was a measurable part of the load generator's own garbage.
 */
export function hrMs(): number {
  return performance.now();
}

/** Clock ticks per second of /proc/PID/stat's times (getconf CLK_TCK; 100 on Linux when that fails). */
let clockTicks = 0;
function ticksPerSecond(): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds (user + system, every thread) a process has used so far; null where /proc cannot tell. */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state; utime and stime are the 14th and 15th overall.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

/**
 * How much CPU this process and the given server processes use over an interval, in cores
 * (CPU seconds per wall second): measuring starts at the call, and `stop()` ends it. Servers whose
 * /proc entry cannot be read are left out (another OS, or a process that exited).
 */
export function cpuMeter(serverPids: number[]): { stop(): { client_cores: number; server_cores: number | null } } {
  const t0 = hrMs();
  const self0 = process.cpuUsage();
  const servers0 = serverPids.map(processCpuSeconds);
  return {
    stop() {
      const seconds = (hrMs() - t0) / 1000;
      const self = process.cpuUsage(self0);
      let server: number | null = null;
      serverPids.forEach((pid, i) => {
        const before = servers0[i];
        const after = processCpuSeconds(pid);
        if (before !== null && before !== undefined && after !== null) server = (server ?? 0) + (after - before);
      });
      return { client_cores: (self.user + self.system) / 1e6 / seconds, server_cores: server === null ? null : server / seconds };
    },
  };
}
