import type { Random } from '../src/common/random';
import type { History, OpType } from './history';
import { chaosScript, killWorker, pauseWorker, resumeWorker, startWorker, stopWorker, type WorkerProcess } from './worker-process';

const CLIENT_SCRIPT = chaosScript('txn-client.js');

export interface TxnWorkloadOptions {
  bootstrap: string;
  topic: string;
  partitions: number;
  /** How many transactional ids write at once (one process each). */
  slots: number;
  history: History;
  /** Where each process's stderr goes. */
  logDir: string;
  seed: number;
}

interface Slot {
  index: number;
  transactionalId: string;
  incarnation: number;
  current: WorkerProcess | null;
  /** Earlier processes of this id still alive: paused zombies, resumed when healed. */
  zombies: WorkerProcess[];
}

/**
 * Transactional producers as processes of their own (chaos/txn-client.ts), one per transactional
 * id, so that faults can kill them, pause them mid-commit and start a second producer with the same
 * id (reliability.md rows 15-18). Every transaction goes into the history as a TxnOp: `invoke` with
 * its values, then `ok`, `fail` or `info`; one whose process died without a word stays invoked
 * (outcome unknown). A process that exits (fenced, killed, unsure) is replaced when the faults heal.
 */
export class TxnWorkload {
  private readonly slots: Slot[];
  private running = false;

  constructor(private readonly o: TxnWorkloadOptions) {
    this.slots = Array.from({ length: o.slots }, (_, index) => ({ index, transactionalId: `chaos-txn-${index}`, incarnation: 0, current: null, zombies: [] }));
  }

  start(): void {
    this.running = true;
    for (const s of this.slots) this.launch(s);
  }

  transactionalIds(): string[] {
    return this.slots.map((s) => s.transactionalId);
  }

  /** A slot chosen by `random` whose producer runs and is not paused (null: none). */
  pick(random: Random): number | null {
    const live = this.slots.filter((s) => s.current !== null && !s.current.paused).map((s) => s.index);
    return live.length === 0 ? null : random.pick(live);
  }

  transactionalId(slot: number): string {
    return this.slots[slot]!.transactionalId;
  }

  private launch(s: Slot): void {
    const name = `t${s.index}.${++s.incarnation}`;
    const args = {
      bootstrap: this.o.bootstrap,
      topic: this.o.topic,
      partitions: this.o.partitions,
      transactionalId: s.transactionalId,
      name,
      seed: this.o.seed * 1000 + s.index * 100 + s.incarnation,
    };
    const w = startWorker(CLIENT_SCRIPT, name, [JSON.stringify(args)], this.o.logDir, (line) => this.record(s.index, line));
    s.current = w;
    void w.exited.then(() => {
      if (s.current === w) s.current = null;
      s.zombies = s.zombies.filter((z) => z !== w);
    });
  }

  private readonly valuesOf = new Map<string, string[]>();
  /** Processes that found themselves fenced (zombies resumed, producers whose id was taken over). */
  fenced = 0;

  private record(slot: number, line: string): void {
    let e: { e: string; t: number; txn?: string; values?: string[]; error?: string; attempt?: number };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return; // not an event
    }
    const h = this.o.history;
    const timeMs = h.fromMonotonic(e.t);
    if (e.e === 'begin' && e.txn && e.values) {
      this.valuesOf.set(e.txn, e.values);
      h.txn({ process: slot, type: 'invoke', txn: e.txn, values: e.values, timeMs });
    } else if (e.e === 'commit' && e.txn) {
      h.txn({ process: slot, type: 'invoke', txn: e.txn, values: this.valuesOf.get(e.txn) ?? [], commitAttempt: e.attempt ?? 0, timeMs });
    } else if (e.e === 'fenced') {
      this.fenced++;
    } else if ((e.e === 'ok' || e.e === 'fail' || e.e === 'info') && e.txn) {
      h.txn({ process: slot, type: e.e as OpType, txn: e.txn, values: this.valuesOf.get(e.txn) ?? [], timeMs, ...(e.error ? { error: e.error } : {}) });
    }
  }

  async kill(slot: number): Promise<void> {
    const w = this.slots[slot]!.current;
    if (w) await killWorker(w);
  }

  pause(slot: number): void {
    const w = this.slots[slot]!.current;
    if (w) pauseWorker(w);
  }

  /**
   * Row 18: the slot's producer is paused (a zombie: a GC pause, a partitioned host) and a second
   * producer with the same transactional id starts; the zombie is resumed when healed and must find
   * itself fenced.
   */
  startZombie(slot: number): void {
    const s = this.slots[slot]!;
    if (s.current) {
      pauseWorker(s.current);
      s.zombies.push(s.current);
    }
    this.launch(s);
  }

  /** Resumes every paused process (zombies included) and restarts the slots whose process has exited. */
  heal(): void {
    for (const s of this.slots) {
      for (const z of s.zombies) resumeWorker(z);
      if (s.current) resumeWorker(s.current);
      else if (this.running) this.launch(s);
    }
  }

  /** The values of each slot's last committed transaction (the drain waits until it sees them). */
  lastCommitted(): string[] {
    const last = new Map<number, string[]>();
    for (const t of this.o.history.txnOps()) if (t.type === 'ok') last.set(t.process, t.values);
    return [...last.values()].flat();
  }

  /** Each process ends after its transaction under way (killed if it has not within 20 s). */
  async stop(): Promise<void> {
    this.running = false;
    const all = this.slots.flatMap((s) => [...(s.current ? [s.current] : []), ...s.zombies]);
    await Promise.all(all.map((w) => stopWorker(w)));
  }
}
