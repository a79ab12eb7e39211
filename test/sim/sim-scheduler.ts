/**
 * The smallest event loop on simulated time a storage test needs: `after` queues a callback at
 * `now + delayMs`; `runNext` runs the earliest (ties in the order they were queued). Nothing
 * happens unless the test runs it, so the test decides when every fsync completes.
 */
export class SimScheduler {
  nowMs = 0;
  private queue: Array<{ atMs: number; seq: number; fn: () => void }> = [];
  private seq = 0;

  readonly after = (delayMs: number, fn: () => void): void => {
    this.queue.push({ atMs: this.nowMs + delayMs, seq: this.seq++, fn });
    this.queue.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
  };

  get pending(): number {
    return this.queue.length;
  }

  /** Runs the earliest event; false if there is none. */
  runNext(): boolean {
    const e = this.queue.shift();
    if (e === undefined) return false;
    this.nowMs = Math.max(this.nowMs, e.atMs);
    e.fn();
    return true;
  }

  /** Forgets every queued event (what a power cut does to work in flight). */
  clear(): void {
    this.queue = [];
  }
}
