import { CairnError, ErrorCode, TopicPartitionSets, type TopicPartitions } from '../common';

/**
 * What the coordinators' JSON record codecs (group-record-codec.ts, txn-record-codec.ts) share:
 * parsing a key or value, and reading fields that must be what they claim. Anything else is
 * CORRUPT_MESSAGE, never an exception of another kind.
 */
export const corrupt = (message: string) => new CairnError(ErrorCode.CORRUPT_MESSAGE, message);

/** A record's bytes for a message: at most 80 characters. */
export const short = (buf: Buffer | null) => (buf === null ? 'null' : JSON.stringify(buf.toString('utf8').slice(0, 80)));

/** The JSON of a `kind` record's key or value (`what`). */
export function parseJson(buf: Buffer | null, kind: string, what: string): unknown {
  if (buf === null) throw corrupt(`${kind} record without a ${what}`);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw corrupt(`${kind} record ${what} ${short(buf)} is not JSON`);
  }
}

export function int(x: unknown, what: string): number {
  if (!Number.isSafeInteger(x)) throw corrupt(`${what} is not an integer`);
  return x as number;
}

/** `{ topic: [partition, ...] }`, canonical. */
export function partitionsField(x: unknown): TopicPartitions {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw corrupt('partitions is not an object');
  const out: Record<string, number[]> = {};
  for (const [t, ps] of Object.entries(x)) {
    if (!Array.isArray(ps)) throw corrupt(`partitions of ${t} is not a list`);
    out[t] = ps.map((p) => int(p, `a partition of ${t}`));
  }
  return TopicPartitionSets.canonical(out);
}
