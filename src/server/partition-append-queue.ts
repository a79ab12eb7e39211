import { CairnError, ErrorCode } from '../common';

/** Bound on produce requests waiting for their turn at one partition (style §9). */
export const MAX_QUEUED_APPENDS_PER_PARTITION = 1024;

export interface AppendTurn {
  /** Resolves once every earlier reservation of the partition has been released. */
  readonly ready: Promise<void>;
  /** After the append, or instead of it when the request failed first. Idempotent. */
  release(): void;
}

interface Queue {
  tail: Promise<void>;
  reserved: number;
}

/**
 * Keeps one partition's appends in arrival order while some of them wait for work done off the
 * event loop (a gzip batch inflating in zlib's thread pool). A request reserves its turn when it
 * arrives and appends once every earlier reservation of that partition is released; requests for
 * other partitions never wait here. A partition with nothing reserved is not busy, and its
 * requests append at once, as before (style §8).
 */
export class PartitionAppendQueue<K> {
  private readonly queues = new Map<K, Queue>();

  busy(key: K): boolean {
    return this.queues.has(key);
  }

  /** Throws THROTTLING_QUOTA_EXCEEDED (retriable; nothing was appended) when the partition's queue is full. */
  reserve(key: K): AppendTurn {
    let q = this.queues.get(key);
    if (q === undefined) {
      q = { tail: Promise.resolve(), reserved: 0 };
      this.queues.set(key, q);
    }
    if (q.reserved >= MAX_QUEUED_APPENDS_PER_PARTITION) {
      throw new CairnError(ErrorCode.THROTTLING_QUOTA_EXCEEDED, `${q.reserved} produce requests already wait for this partition (the limit); nothing was appended, retry after a backoff`);
    }
    const queue = q;
    const ready = queue.tail;
    let open!: () => void;
    const released = new Promise<void>((resolve) => (open = resolve));
    queue.tail = ready.then(() => released);
    queue.reserved++;
    let done = false;
    return {
      ready,
      release: () => {
        if (done) return;
        done = true;
        open();
        // Every reservation released means every earlier append has happened or never will.
        if (--queue.reserved === 0 && this.queues.get(key) === queue) this.queues.delete(key);
      },
    };
  }
}
