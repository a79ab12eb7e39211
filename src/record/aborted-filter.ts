import { batchIsControl, batchIsTransactional, batchLastOffset, batchProducerId } from './batch';
import { readTxnMarker } from './control';

/**
 * Which batches of a read_committed fetch to drop (Kafka's consumer rule, CompletedFetch): walking
 * the batches in order, a producer listed as aborted becomes "aborting" once a batch reaches the
 * listed first offset; its transactional batches are dropped until its abort marker. Control
 * batches are never records: `keep` is false for them too. One filter per fetched partition
 * answer, fed its batches in order.
 */
export class AbortedTransactionFilter {
  /** Aborted transactions not reached yet, by first offset. */
  private readonly pending: readonly { producerId: number; firstOffset: number }[];
  private next = 0;
  private readonly aborting = new Set<number>();

  constructor(aborted: readonly { producerId: number; firstOffset: number }[], sorted = false) {
    this.pending = sorted ? aborted : [...aborted].sort((a, b) => a.firstOffset - b.firstOffset);
  }

  /** A copy in the same state: to look ahead without moving this one. */
  clone(): AbortedTransactionFilter {
    const c = new AbortedTransactionFilter(this.pending, true);
    c.next = this.next;
    for (const id of this.aborting) c.aborting.add(id);
    return c;
  }

  /** Whether the batch at `pos` holds records the application may see. */
  keep(buf: Buffer, pos: number): boolean {
    const transactional = batchIsTransactional(buf, pos);
    if (transactional && this.next < this.pending.length) {
      const last = batchLastOffset(buf, pos);
      while (this.next < this.pending.length && this.pending[this.next]!.firstOffset <= last) this.aborting.add(this.pending[this.next++]!.producerId);
    }
    if (batchIsControl(buf, pos)) {
      const marker = readTxnMarker(buf, pos);
      if (marker !== null && !marker.commit) this.aborting.delete(marker.producerId);
      return false;
    }
    return !(transactional && this.aborting.has(batchProducerId(buf, pos)));
  }
}
