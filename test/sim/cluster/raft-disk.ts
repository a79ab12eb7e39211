/**
 * A controller's metadata-log disk in the whole-cluster simulation: what the real RaftDriver
 * persisted, in the order the Ready contract fixes (hard state, truncation, snapshot, entries).
 * A write takes simulated time; a crash while one is under way keeps only a prefix of its steps
 * (each step is separately durable, as RaftStorage's are), and the promise never settles — the
 * driver that waited for it is gone.
 */
import type { Random } from '../../../src/common/random';
import { term as toTerm } from '../../../src/common/types';
import type { RaftPersistence } from '../../../src/raft/io/raft-driver';
import type { PersistRequest } from '../../../src/raft/io/raft-storage';
import type { Entry, HardState, RaftInitialState, Snapshot } from '../../../src/raft/types';
import type { SimScheduler } from './scheduler';

export class SimRaftDisk {
  hardState: HardState = { term: toTerm(0), votedFor: null };
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  private writing: { rd: PersistRequest; cancel: () => void } | null = null;
  private generation = 0;
  tornWrites = 0;

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly random: Random,
    private readonly maxWriteMs: number,
  ) {}

  /** What a starting driver loads. */
  boot(): RaftInitialState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }

  /** The persistence a driver of this incarnation writes through. */
  open(): RaftPersistence {
    const generation = ++this.generation;
    return {
      persist: (rd) =>
        new Promise<void>((resolve, reject) => {
          if (generation !== this.generation) return reject(new Error('disk detached: the process crashed'));
          const handle = this.scheduler.after(this.random.int(0, this.maxWriteMs), () => {
            this.writing = null;
            this.apply(rd, Number.POSITIVE_INFINITY);
            resolve();
          });
          this.writing = { rd, cancel: () => handle.cancel() };
        }),
      close: async () => undefined,
    };
  }

  /** The process died: a write under way reaches the disk only in part. */
  crash(): void {
    this.generation++;
    const w = this.writing;
    this.writing = null;
    if (w === null) return;
    w.cancel();
    const steps = stepCount(w.rd);
    const kept = this.random.int(0, steps);
    if (kept < steps) this.tornWrites++;
    this.apply(w.rd, kept);
  }

  private apply(rd: PersistRequest, budget: number): void {
    let left = budget;
    if (rd.hardState && left-- > 0) this.hardState = rd.hardState;
    if (rd.truncateFrom !== undefined && left-- > 0) {
      const from = rd.truncateFrom;
      this.entries = this.entries.filter((e) => e.index < from);
    }
    if (rd.snapshotToSave && left-- > 0) {
      const s = rd.snapshotToSave;
      this.snapshot = s;
      this.entries = this.entries.filter((e) => e.index > s.lastIndex);
    }
    for (const e of rd.entriesToAppend) {
      if (left-- <= 0) break;
      this.entries.push(e);
    }
  }
}

function stepCount(rd: PersistRequest): number {
  return (rd.hardState ? 1 : 0) + (rd.truncateFrom !== undefined ? 1 : 0) + (rd.snapshotToSave ? 1 : 0) + rd.entriesToAppend.length;
}
