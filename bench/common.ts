import { parseArgs } from 'node:util';

/** Flags as strings; each benchmark converts what it needs. */
export function args(defaults: Record<string, string>): Record<string, string> {
  const options: Record<string, { type: 'string' }> = {};
  for (const k of Object.keys(defaults)) options[k] = { type: 'string' };
  const { values } = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false });
  return { ...defaults, ...(values as Record<string, string>) };
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
