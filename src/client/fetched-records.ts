import { AbortedTransactionFilter, batchIsControl, decodeRecordsInto, type Header, wholeBatchAt } from '../record';

export interface ConsumerRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Read-only (records without headers share one frozen empty list). */
  headers: readonly Header[];
}

interface Chunk {
  batches: Buffer;
  /** The position the fetch asked for: records below it in the first batch are skipped. */
  from: number;
  /** One past the last offset of the chunk's batches: where the position goes once it is handed out. */
  lastOffsetPlusOne: number;
  /** read_committed: drops the batches of aborted transactions (null: every data batch is kept). */
  filter: AbortedTransactionFilter | null;
}

/**
 * What one partition's fetches brought and poll() has not handed out yet. The fetched bytes stay
 * as they arrived and are decoded one batch at a time as poll() takes records, straight into the
 * poll's answer, so a record object exists only from the poll that hands it out until the
 * application drops it. (Decoding a whole fetch answer ahead kept thousands of records alive
 * across young-generation collections: a reader then spent a third of its time copying them.)
 */
export class FetchedRecords {
  private chunks: Chunk[] = [];
  private bytes = 0;
  /** Where the next batch to decode starts in chunks[0]. */
  private pos = 0;
  /** Records of a batch decoded past what a poll could take, and the next of them to hand out. */
  private overflow: ConsumerRecord[] = [];
  private next = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** Bytes fetched and not yet decoded (prefetching pauses past a bound). */
  get bufferedBytes(): number {
    return this.bytes;
  }

  /**
   * Whole batches from one fetch; `from` is the offset the fetch asked for. `aborted` (a
   * read_committed answer's aborted transactions) drops their records.
   */
  push(batches: Buffer, from: number, lastOffsetPlusOne: number, aborted?: readonly { producerId: number; firstOffset: number }[]): void {
    this.chunks.push({ batches, from, lastOffsetPlusOne, filter: aborted !== undefined && aborted.length > 0 ? new AbortedTransactionFilter(aborted) : null });
    this.bytes += batches.length;
  }

  /** Forgets everything fetched (a seek, an out-of-range offset). */
  clear(): void {
    this.chunks = [];
    this.bytes = 0;
    this.pos = 0;
    this.overflow = [];
    this.next = 0;
  }

  /**
   * Appends to `out` the records from `position` on, until `out` holds `max`. Returns the position
   * after them: one past the last record handed out, or past the end of a chunk handed out in full
   * (which steps over what it held without records: control batches, compacted gaps).
   */
  take(position: number | null, out: ConsumerRecord[], max: number): number | null {
    while (out.length < max) {
      if (this.next < this.overflow.length) {
        const n = Math.min(this.overflow.length - this.next, max - out.length);
        for (let i = 0; i < n; i++) out.push(this.overflow[this.next + i]!);
        this.next += n;
        position = out[out.length - 1]!.offset + 1;
        if (this.next === this.overflow.length) {
          this.overflow = [];
          this.next = 0;
        }
      } else {
        const chunk = this.chunks[0];
        if (!chunk) break;
        const size = wholeBatchAt(chunk.batches, this.pos);
        if (size > 0) {
          if (keeps(chunk, chunk.filter, this.pos)) position = this.decodeBatch(chunk, position, out, max);
          this.pos += size;
          this.bytes -= size;
        }
      }
      // Every record of the chunk handed out (what is left holds none): the position goes to its end.
      const chunk = this.chunks[0];
      if (chunk && this.next === this.overflow.length && this.onlyControlLeft(chunk)) {
        position = Math.max(position ?? 0, chunk.lastOffsetPlusOne);
        this.bytes -= chunk.batches.length - this.pos;
        this.chunks.shift();
        this.pos = 0;
      }
    }
    return position;
  }

  /** No record left in `chunk` from `pos` on: no whole batch, or control batches (and aborted ones) only. */
  private onlyControlLeft(chunk: Chunk): boolean {
    const filter = chunk.filter?.clone() ?? null;
    for (let pos = this.pos, size = wholeBatchAt(chunk.batches, pos); size > 0; pos += size, size = wholeBatchAt(chunk.batches, pos)) {
      if (keeps(chunk, filter, pos)) return false;
    }
    return true;
  }

  /** Decodes the batch at `pos` into `out`; what does not fit under `max` waits in `overflow`. */
  private decodeBatch(chunk: Chunk, position: number | null, out: ConsumerRecord[], max: number): number | null {
    const { topic, partition } = this;
    const before = out.length;
    decodeRecordsInto(chunk.batches, this.pos, position ?? chunk.from, (offset, timestamp, key, value, headers): ConsumerRecord => ({ topic, partition, offset, timestamp, key, value, headers }), out);
    if (out.length > max) {
      this.overflow = out.splice(max);
      this.next = 0;
    }
    return out.length > before ? out[out.length - 1]!.offset + 1 : position;
  }
}

/** Whether the batch at `pos` of `chunk` holds records for the application (not a control batch, nor an aborted one). */
function keeps(chunk: Chunk, filter: AbortedTransactionFilter | null, pos: number): boolean {
  return filter === null ? !batchIsControl(chunk.batches, pos) : filter.keep(chunk.batches, pos);
}
