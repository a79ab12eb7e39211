import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage mistake: printed with the command's help, exit code 2. */
export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Options): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function intOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} needs an integer, got "${String(raw)}"`);
  return n;
}

/** `--config k=v` pairs (repeatable) into a map. */
export function keyValues(list: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (list as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--${flag} takes key=value, got "${kv}"`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** --isolation-level read_committed|read_uncommitted (default read_uncommitted, as Kafka's tools). */
export function isolationLevel(v: unknown): 'read_committed' | 'read_uncommitted' {
  if (v === undefined) return 'read_uncommitted';
  if (v === 'read_committed' || v === 'read_uncommitted') return v;
  throw new UsageError(`--isolation-level must be read_committed or read_uncommitted, not "${String(v)}"`);
}

/** Where a client command connects, and how (`--command-config FILE`: docs/security.md). */
export const BOOTSTRAP: Options = { bootstrap: { type: 'string', short: 'b' }, 'command-config': { type: 'string' } };
