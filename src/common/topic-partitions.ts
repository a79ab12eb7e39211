/**
 * Sets of partitions by topic name, as assignments travel and are stored: each topic's list is
 * sorted ascending without repeats, and no topic has an empty list. Values are never mutated;
 * every operation returns a new one. `canonical` makes any input obey the shape.
 */
export type TopicPartitions = Readonly<Record<string, readonly number[]>>;

export const NO_PARTITIONS: TopicPartitions = Object.freeze({});

/** The shape above from any lists: sorted, without repeats or empty topics, topics in name order. */
export function canonical(tp: Readonly<Record<string, readonly number[]>>): TopicPartitions {
  const out: Record<string, number[]> = {};
  for (const topic of Object.keys(tp).sort()) {
    const ps = [...new Set(tp[topic]!)].sort((a, b) => a - b);
    if (ps.length > 0) out[topic] = ps;
  }
  return out;
}

export function fromPairs(pairs: Iterable<readonly [string, number]>): TopicPartitions {
  const out: Record<string, number[]> = {};
  for (const [t, p] of pairs) (out[t] ??= []).push(p);
  return canonical(out);
}

export function* pairsOf(tp: TopicPartitions): Generator<[string, number]> {
  for (const topic of Object.keys(tp)) for (const p of tp[topic]!) yield [topic, p];
}

export function countOf(tp: TopicPartitions): number {
  let n = 0;
  for (const topic of Object.keys(tp)) n += tp[topic]!.length;
  return n;
}

export function isEmpty(tp: TopicPartitions): boolean {
  return Object.keys(tp).length === 0;
}

export function has(tp: TopicPartitions, topic: string, partition: number): boolean {
  return tp[topic]?.includes(partition) ?? false;
}

export function union(a: TopicPartitions, b: TopicPartitions): TopicPartitions {
  const out: Record<string, number[]> = {};
  for (const topic of new Set([...Object.keys(a), ...Object.keys(b)])) out[topic] = [...(a[topic] ?? []), ...(b[topic] ?? [])];
  return canonical(out);
}

export function minus(a: TopicPartitions, b: TopicPartitions): TopicPartitions {
  return filter(a, (t, p) => !has(b, t, p));
}

export function intersect(a: TopicPartitions, b: TopicPartitions): TopicPartitions {
  return filter(a, (t, p) => has(b, t, p));
}

export function filter(a: TopicPartitions, keep: (topic: string, partition: number) => boolean): TopicPartitions {
  const out: Record<string, number[]> = {};
  for (const topic of Object.keys(a)) {
    const ps = a[topic]!.filter((p) => keep(topic, p));
    if (ps.length > 0) out[topic] = ps;
  }
  return canonical(out);
}

export function intersects(a: TopicPartitions, b: TopicPartitions): boolean {
  for (const [t, p] of pairsOf(a)) if (has(b, t, p)) return true;
  return false;
}

export function equals(a: TopicPartitions, b: TopicPartitions): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const t of ka) {
    const pa = a[t]!;
    const pb = b[t];
    if (pb === undefined || pa.length !== pb.length) return false;
    for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return false;
  }
  return true;
}

/** "orders-0, orders-2, audit-1" for logs and errors. */
export function describe(tp: TopicPartitions): string {
  return [...pairsOf(tp)].map(([t, p]) => `${t}-${p}`).join(', ');
}
