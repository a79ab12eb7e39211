import { CairnError, ErrorCode } from '../common';

/**
 * Group commit (design brief §4): every caller waiting for its offset to be durable shares the
 * next fsync. While one fsync runs, new waiters queue; when it finishes, everyone it covered is
 * released and, if anyone is left, one more fsync starts for all of them.
 */
export interface Syncable {
  /** Makes everything written so far durable. */
  sync(): Promise<void>;
  /** The offset just past the last byte written (what a sync started now would cover). */
  endOffset(): number;
  /** Called after each completed sync with the new durable offset, before any waiter is released. */
  synced?(durableOffset: number): void;
}

interface Waiter {
  offset: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Bound on callers waiting for one log's fsync (style §9). Past it an append is refused with the
 * retriable THROTTLING_QUOTA_EXCEEDED before anything is written: the disk is slower than the
 * writes, and the producer backs off and retries (nothing was appended, so a retry cannot duplicate).
 */
export const MAX_FLUSH_WAITERS = 100_000;

export class GroupCommit {
  private waiters: Waiter[] = [];
  private inFlight = false;
  /** Lowest truncation point seen while a sync was running: its result cannot cover more. */
  private ceiling = Infinity;
  durableOffset: number;

  constructor(
    private readonly target: Syncable,
    durableOffset: number,
    private readonly onError: (err: Error) => void,
  ) {
    this.durableOffset = durableOffset;
  }

  get pending(): number {
    return this.waiters.length;
  }

  /**
   * Throws THROTTLING_QUOTA_EXCEEDED when MAX_FLUSH_WAITERS callers already wait. An append calls
   * this before it writes, so that a refused write leaves no trace in the log.
   */
  admit(): void {
    if (this.waiters.length >= MAX_FLUSH_WAITERS) {
      throw new CairnError(ErrorCode.THROTTLING_QUOTA_EXCEEDED, `${this.waiters.length} writes already wait for this log's fsync (the limit); nothing was appended, retry after a backoff`);
    }
  }

  /** Resolves once every offset below `offset` is durable; rejects at once past MAX_FLUSH_WAITERS (see admit). */
  waitFor(offset: number): Promise<void> {
    if (offset <= this.durableOffset) return Promise.resolve();
    try {
      this.admit();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(offset);
  }

  /**
   * Starts a sync now if none is running (used by interval flushing, shutdown and tests). Not
   * bounded by MAX_FLUSH_WAITERS: shutdown must be able to wait for the data it holds, and these
   * callers are one timer and one close per log.
   */
  flushNow(): Promise<void> {
    const offset = this.target.endOffset();
    return offset <= this.durableOffset ? Promise.resolve() : this.enqueue(offset);
  }

  private enqueue(offset: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ offset, resolve, reject });
      this.start();
    });
  }

  /** The log was cut back to `offset`: nothing at or above it is durable any more. */
  truncated(offset: number, err: Error): void {
    this.durableOffset = Math.min(this.durableOffset, offset);
    this.ceiling = Math.min(this.ceiling, offset);
    const kept: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.offset > offset) w.reject(err);
      else kept.push(w);
    }
    this.waiters = kept;
  }

  /** Rejects every waiter (the log went offline or closed). */
  failAll(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  private start(): void {
    if (this.inFlight || this.waiters.length === 0) return;
    this.inFlight = true;
    this.ceiling = Infinity;
    const covered = this.target.endOffset();
    this.target.sync().then(
      () => {
        this.inFlight = false;
        this.durableOffset = Math.max(this.durableOffset, Math.min(covered, this.ceiling));
        try {
          this.target.synced?.(this.durableOffset);
        } catch (err) {
          this.failAll(err as Error);
          this.onError(err as Error);
          return;
        }
        const still: Waiter[] = [];
        for (const w of this.waiters) {
          if (w.offset <= this.durableOffset) w.resolve();
          else still.push(w);
        }
        this.waiters = still;
        this.start();
      },
      (err: Error) => {
        this.inFlight = false;
        this.failAll(err);
        this.onError(err);
      },
    );
  }
}
