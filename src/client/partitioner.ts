/**
 * Kafka's default partitioning, bit for bit, so a key lands in the same partition as it would
 * in Kafka: murmur2 of the key bytes, made positive, modulo the partition count.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length % 4;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  return (murmur2(key) & 0x7fffffff) % numPartitions;
}

/**
 * Keyless records stick to one partition until `switchAfterBytes` (the producer's batch size) went
 * to it, then move to another chosen at random, preferring partitions whose leader is known: Kafka's
 * uniform sticky partitioner (KIP-794, which fixed KIP-480's "move when a batch is created"). Batches
 * fill up instead of spreading thin, and a producer that sends slowly, whose batches leave long
 * before they are full, still spreads its records over every partition.
 */
export class StickyPartitioner {
  private readonly current = new Map<string, { partition: number; bytes: number }>();

  /** `available(topic, p)`: partition p of topic has a known leader. */
  constructor(
    private readonly switchAfterBytes: number,
    private readonly random: () => number = Math.random,
    private readonly available: (topic: string, partition: number) => boolean = () => true,
  ) {}

  /** The partition for a keyless record of `topic`, which has `numPartitions`. */
  partition(topic: string, numPartitions: number): number {
    const c = this.current.get(topic);
    if (c !== undefined && c.partition < numPartitions) return c.partition;
    const p = this.pick(topic, numPartitions, -1);
    this.current.set(topic, { partition: p, bytes: 0 });
    return p;
  }

  /**
   * `bytes` went to `partition`; `closedFullBatch`: the append filled its batch. Moves on once the
   * sticky partition had `switchAfterBytes`, or at once when its batch filled.
   */
  onAppended(topic: string, partition: number, bytes: number, closedFullBatch: boolean, numPartitions: number): void {
    const c = this.current.get(topic);
    if (c === undefined || c.partition !== partition) return;
    c.bytes += bytes;
    if ((c.bytes < this.switchAfterBytes && !closedFullBatch) || numPartitions <= 1) return;
    c.partition = this.pick(topic, numPartitions, partition);
    c.bytes = 0;
  }

  /** A random partition other than `except`, among those `available` if there are any. */
  private pick(topic: string, numPartitions: number, except: number): number {
    const candidates: number[] = [];
    for (let p = 0; p < numPartitions; p++) if (p !== except && this.available(topic, p)) candidates.push(p);
    if (candidates.length > 0) return candidates[Math.floor(this.random() * candidates.length)]!;
    let p = Math.floor(this.random() * (numPartitions - (except >= 0 ? 1 : 0)));
    if (except >= 0 && p >= except) p++;
    return p;
  }
}
