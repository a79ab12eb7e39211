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
 * Keyless records stick to one partition until its batch is sent, then move to another
 * (Kafka's sticky partitioner, KIP-480/KIP-794): batches fill up instead of spreading thin.
 */
export class StickyPartitioner {
  private readonly current = new Map<string, number>();

  partition(topic: string, numPartitions: number): number {
    let p = this.current.get(topic);
    if (p === undefined || p >= numPartitions) {
      p = Math.floor(Math.random() * numPartitions);
      this.current.set(topic, p);
    }
    return p;
  }

  /** The sticky partition's batch was closed: pick a different one next time. */
  onBatchClosed(topic: string, partition: number, numPartitions: number): void {
    if (this.current.get(topic) !== partition || numPartitions <= 1) return;
    let next = Math.floor(Math.random() * (numPartitions - 1));
    if (next >= partition) next++;
    this.current.set(topic, next);
  }
}
