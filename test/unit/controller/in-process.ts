import { ManualClock } from '../../../src/common/clock';
import { CairnError, ErrorCode } from '../../../src/common/errors';
import type { TimerHandle, Timers } from '../../../src/common/timers';
import type { MetadataImage } from '../../../src/metadata/image';
import { type CommittedBatch, type MetadataListener, MetadataListeners, type MetadataLog } from '../../../src/metadata/metadata-log';
import type { MetadataRecord } from '../../../src/metadata/records';

/**
 * Timers on a ManualClock: `advance` moves time forward one due timer at a time, in deadline
 * order (ties in arming order), and lets the promise chains each one starts settle.
 */
export class ManualTimers implements Timers {
  private seq = 0;
  private readonly pending: { id: number; at: number; fn: () => void; everyMs: number | null }[] = [];

  constructor(readonly clock: ManualClock) {}

  after(delayMs: number, fn: () => void): TimerHandle {
    return this.add(delayMs, fn, null);
  }

  every(intervalMs: number, fn: () => void): TimerHandle {
    return this.add(intervalMs, fn, intervalMs);
  }

  private add(delayMs: number, fn: () => void, everyMs: number | null): TimerHandle {
    const t = { id: this.seq++, at: this.clock.nowMs() + Math.max(0, delayMs), fn, everyMs };
    this.pending.push(t);
    return {
      cancel: () => {
        const i = this.pending.indexOf(t);
        if (i >= 0) this.pending.splice(i, 1);
      },
    };
  }

  async advance(ms: number): Promise<void> {
    const end = this.clock.nowMs() + ms;
    await settle();
    for (;;) {
      const due = this.pending.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.clock.set(Math.max(this.clock.nowMs(), due.at));
      if (due.everyMs === null) this.pending.splice(this.pending.indexOf(due), 1);
      else due.at += due.everyMs;
      due.fn();
      await settle();
    }
    this.clock.set(end);
  }
}

/** Lets every promise chain started so far run to its next real wait. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A MetadataLog in memory: appends commit at once while `leader` is set (the quorum is elsewhere). */
export class MemoryMetadataLog implements MetadataLog {
  leader = true;
  leaderHint = 1;
  /** The next append fails as a leadership change would. */
  loseLeadershipOnNextAppend = false;
  private readonly listeners = new MetadataListeners();
  private readonly batches: CommittedBatch[] = [];

  append(records: MetadataRecord[]): Promise<number> {
    if (!this.leader) return Promise.reject(new CairnError(ErrorCode.NOT_CONTROLLER, 'not the leader'));
    if (this.loseLeadershipOnNextAppend) {
      this.loseLeadershipOnNextAppend = false;
      this.leader = false;
      return Promise.reject(new CairnError(ErrorCode.NOT_CONTROLLER, 'controller leadership was lost; the operation may or may not take effect'));
    }
    const batch = { offset: this.batches.length + 1, records };
    this.batches.push(batch);
    queueMicrotask(() => this.listeners.commit(batch));
    return Promise.resolve(batch.offset);
  }

  isLeader(): boolean {
    return this.leader;
  }

  leaderId(): number {
    return this.leader ? 1 : this.leaderHint;
  }

  leaderEpoch(): number {
    return 1;
  }

  subscribe(listener: MetadataListener): void {
    this.listeners.add(listener);
  }

  follow(listener: MetadataListener): () => void {
    return this.listeners.add(listener);
  }

  snapshot(image: MetadataImage): void {
    this.listeners.snapshot(image);
  }
}
