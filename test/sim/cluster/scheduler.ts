/**
 * Simulated time for the whole-cluster simulation: one queue of things to do at a simulated
 * millisecond, run in (time, insertion) order. Each node sees it through its own Clock (whose wall
 * time can be skewed and jumped, as a node's NTP can) and its own Timers (all cancelled at once
 * when the node crashes: a dead process runs nothing).
 *
 * Code under test is asynchronous (promises settle in microtasks). After each task the simulation
 * lets every microtask run before it takes the next one (`settle`), so an event and all it causes
 * at that instant happen before simulated time moves. Nothing here reads the real clock.
 */
import type { Clock } from '../../../src/common/clock';
import type { TimerHandle, Timers } from '../../../src/common/timers';

interface Task {
  readonly atMs: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

/** The bound of the task queue: a simulation that floods it has a bug worth seeing. */
export const MAX_QUEUED_TASKS = 500_000;

export class SimScheduler {
  private readonly heap: Task[] = [];
  private seq = 0;
  private now = 0;
  tasksRun = 0;

  get nowMs(): number {
    return this.now;
  }

  /** Runs `fn` at `atMs` (never before now). Returns a handle that cancels it. */
  at(atMs: number, fn: () => void): TimerHandle {
    if (this.heap.length >= MAX_QUEUED_TASKS) throw new Error(`simulation queue overflow (${MAX_QUEUED_TASKS} tasks)`);
    const task: Task = { atMs: Math.max(this.now, atMs), seq: this.seq++, run: fn, cancelled: false };
    this.push(task);
    return {
      cancel: () => {
        task.cancelled = true;
      },
    };
  }

  after(delayMs: number, fn: () => void): TimerHandle {
    return this.at(this.now + Math.max(0, delayMs), fn);
  }

  /** When the next live task is due (Infinity when none). */
  nextAtMs(): number {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap.length > 0 ? this.heap[0]!.atMs : Number.POSITIVE_INFINITY;
  }

  /**
   * Runs the next task and everything it causes at that instant. Returns false when nothing is
   * due at or before `untilMs` (time then stands at `untilMs`).
   */
  async step(untilMs: number): Promise<boolean> {
    const next = this.nextAtMs();
    if (next > untilMs) {
      this.now = Math.max(this.now, untilMs);
      return false;
    }
    const task = this.pop()!;
    this.now = task.atMs;
    this.tasksRun++;
    task.run();
    await settle();
    return true;
  }

  /** Runs the next task now, whenever it is due, without settling microtasks (tests that drive a disk by hand). False when none is left. */
  runNext(): boolean {
    if (this.nextAtMs() === Number.POSITIVE_INFINITY) return false;
    const task = this.pop()!;
    this.now = Math.max(this.now, task.atMs);
    this.tasksRun++;
    task.run();
    return true;
  }

  /** Forgets every queued task (what a power cut does to work in flight). */
  clear(): void {
    this.heap.length = 0;
  }

  private push(task: Task): void {
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Task | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: Task, b: Task) => a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);

/**
 * Lets every pending microtask (promise continuation) run: setImmediate's callback comes only after
 * the microtask queue is empty. Only microtasks can be pending — no real I/O or timers exist here.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * One node's view of simulated time: its clock (wall time skewed by `skewMs`, which a clock-jump
 * fault moves; monotonic time never jumps) and timers that die with the process.
 */
export class NodeTime implements Clock, Timers {
  skewMs = 0;
  private live = new Set<TimerHandle>();

  constructor(private readonly scheduler: SimScheduler) {}

  nowMs(): number {
    return this.scheduler.nowMs;
  }

  wallMs(): number {
    // Epoch-like wall time, so timestamps look like real ones (retention, KIP-937 checks).
    return 1_700_000_000_000 + this.scheduler.nowMs + this.skewMs;
  }

  after(delayMs: number, fn: () => void): TimerHandle {
    const handle = this.scheduler.after(delayMs, () => {
      this.live.delete(handle);
      fn();
    });
    this.live.add(handle);
    return {
      cancel: () => {
        handle.cancel();
        this.live.delete(handle);
      },
    };
  }

  every(intervalMs: number, fn: () => void): TimerHandle {
    let current: TimerHandle | null = null;
    let cancelled = false;
    const arm = () => {
      current = this.after(Math.max(1, intervalMs), () => {
        if (cancelled) return;
        arm();
        fn();
      });
    };
    arm();
    return {
      cancel: () => {
        cancelled = true;
        current?.cancel();
      },
    };
  }

  /** The process died: nothing it scheduled runs. */
  cancelAll(): void {
    for (const h of this.live) h.cancel();
    this.live.clear();
  }
}
