import { CairnError, ErrorCode } from '../common';

/** Bound on produce requests waiting for their turn at one partition, over all its producers (style §9). */
export const MAX_QUEUED_APPENDS_PER_PARTITION = 1024;

export interface AppendTurn {
  /** Resolves once every earlier reservation of the same producer at the partition has been released. */
  readonly ready: Promise<void>;
  /** After the append, or instead of it when the request failed first. Idempotent. */
  release(): void;
}

interface Queue {
  tail: Promise<void>;
  reserved: number;
}

interface PartitionQueues {
  /** Reservations not yet released, over every producer of the partition (the bound). */
  reserved: number;
  byProducer: Map<number, Queue>;
}

/**
 * Keeps each producer's appends to a partition in arrival order while some of them wait for work
 * done off the event loop: a gzip batch inflating in zlib's thread pool, or a producer's first
 * transactional write waiting for its transaction coordinator (KIP-890). A request reserves its
 * turn when it arrives and appends once every earlier reservation of the same producer at that
 * partition is released. Only a producer's own pipelined batches need their order kept (their
 * sequence numbers say so); another producer's requests, and other partitions', never wait here,
 * so one producer's coordinator round trip does not hold up every writer of the partition.
 * Writes without a producer id (not idempotent) share one queue per partition. A producer with
 * nothing reserved is not busy, and its requests append at once (style §8).
 */
export class PartitionAppendQueue<K> {
  private readonly partitions = new Map<K, PartitionQueues>();

  busy(key: K, producerId: number): boolean {
    return this.partitions.get(key)?.byProducer.has(producerId) ?? false;
  }

  /** Throws THROTTLING_QUOTA_EXCEEDED (retriable; nothing was appended) when the partition's queues are full. */
  reserve(key: K, producerId: number): AppendTurn {
    let pq = this.partitions.get(key);
    if (pq === undefined) {
      pq = { reserved: 0, byProducer: new Map() };
      this.partitions.set(key, pq);
    }
    if (pq.reserved >= MAX_QUEUED_APPENDS_PER_PARTITION) {
      throw new CairnError(ErrorCode.THROTTLING_QUOTA_EXCEEDED, `${pq.reserved} produce requests already wait for this partition (the limit); nothing was appended, retry after a backoff`);
    }
    let q = pq.byProducer.get(producerId);
    if (q === undefined) {
      q = { tail: Promise.resolve(), reserved: 0 };
      pq.byProducer.set(producerId, q);
    }
    const partition = pq;
    const queue = q;
    const ready = queue.tail;
    let open!: () => void;
    const released = new Promise<void>((resolve) => (open = resolve));
    queue.tail = ready.then(() => released);
    queue.reserved++;
    partition.reserved++;
    let done = false;
    return {
      ready,
      release: () => {
        if (done) return;
        done = true;
        open();
        // Every reservation released means every earlier append has happened or never will.
        if (--queue.reserved === 0 && partition.byProducer.get(producerId) === queue) partition.byProducer.delete(producerId);
        if (--partition.reserved === 0 && this.partitions.get(key) === partition) this.partitions.delete(key);
      },
    };
  }
}
