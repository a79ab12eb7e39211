/**
 * The small parsers node settings go through, shared by the listener and security settings
 * (listener-config.ts) and the rest (config.ts), so that both read values alike.
 */

export interface Endpoint {
  host: string;
  port: number;
}

export class ConfigError extends Error {}

export function parseEndpoint(raw: string, what: string): Endpoint {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(raw.trim());
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`${what}: expected host:port, got "${raw}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export function int(props: Record<string, string>, key: string, fallback: number): number {
  const raw = props[key];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new ConfigError(`${key}: expected an integer, got "${raw}"`);
  return n;
}

export function bool(props: Record<string, string>, key: string, fallback: boolean): boolean {
  const raw = props[key];
  if (raw === undefined) return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${key}: true or false, not "${raw}"`);
  return raw === 'true';
}

export function splitList(raw: string, separator: string): string[] {
  return raw
    .split(separator)
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}
