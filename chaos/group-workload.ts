import { Admin } from '../src/client/admin';
import type { Random } from '../src/common/random';
import { committedOffsets, waitCommitted } from './group-progress';
import type { GroupEvent, History } from './history';
import { chaosScript, killWorker, pauseWorker, resumeWorker, startWorker, stopWorker, type WorkerProcess } from './worker-process';
import { adminClient } from './client-security';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const MEMBER_SCRIPT = chaosScript('group-member.js');

export interface GroupWorkloadOptions {
  bootstrap: string;
  topic: string;
  group: string;
  history: History;
  /** Where each member's stderr goes. */
  logDir: string;
  /** Members commit before processing (the negative control's unsafe application). */
  commitBeforeProcessing?: boolean;
}

/**
 * Consumer group members as processes of their own (chaos/group-member.ts), so that faults can kill
 * and pause them, plus an observer that reads the group's committed offsets every 500 ms. Every
 * member event and observation goes into the history, on the history's clock.
 */
export class GroupWorkload {
  private readonly members = new Map<string, WorkerProcess>();
  private nextName = 1;
  private observing = false;
  private observer: Promise<void> | null = null;
  /** Reads the group's committed offsets, for the observer and the wait at the end. */
  private readonly admin: Admin;

  constructor(private readonly o: GroupWorkloadOptions) {
    this.admin = new Admin({ ...adminClient(o.bootstrap), requestTimeoutMs: 2_000 });
  }

  get groupId(): string {
    return this.o.group;
  }

  /** Starts `n` members and the observer. */
  start(n: number): void {
    for (let i = 0; i < n; i++) this.addMember();
    this.observing = true;
    this.observer = this.observe();
  }

  /** Names of the members running now (paused ones included). */
  running(): string[] {
    return [...this.members.keys()];
  }

  addMember(): string {
    const name = `m${this.nextName++}`;
    const args = { bootstrap: this.o.bootstrap, topic: this.o.topic, group: this.o.group, name, commitBeforeProcessing: this.o.commitBeforeProcessing };
    const member = startWorker(MEMBER_SCRIPT, name, [JSON.stringify(args)], this.o.logDir, (line) => this.record(name, line));
    this.members.set(name, member);
    void member.exited.then(() => {
      if (this.members.get(name) === member) this.members.delete(name);
    });
    return name;
  }

  private record(member: string, line: string): void {
    let e: { e: GroupEvent; t: number; ps?: number[]; p?: number; o?: number; v?: string; sent?: number; offsets?: Record<string, number> };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return; // not an event (a stray line)
    }
    const h = this.o.history;
    h.group({
      member,
      event: e.e,
      timeMs: h.fromMonotonic(e.t),
      ...(e.ps ? { partitions: e.ps } : {}),
      ...(e.p !== undefined ? { partition: e.p, offset: e.o, value: e.v } : {}),
      ...(e.offsets ? { offsets: numericKeys(e.offsets), sentMs: h.fromMonotonic(e.sent ?? e.t) } : {}),
    });
  }

  /** A member chosen by `random` among those not paused (null: none). */
  pick(random: Random): string | null {
    const live = [...this.members.values()].filter((m) => !m.paused).map((m) => m.name);
    return live.length === 0 ? null : random.pick(live);
  }

  async kill(name: string): Promise<void> {
    const m = this.members.get(name);
    if (m) await killWorker(m);
  }

  pause(name: string): void {
    const m = this.members.get(name);
    if (m) pauseWorker(m);
  }

  resumeAll(): void {
    for (const m of this.members.values()) resumeWorker(m);
  }

  /** A clean leave: the member closes its consumer (commit, give up, leave) and exits. */
  async leave(name: string): Promise<void> {
    const m = this.members.get(name);
    if (!m) return;
    await stopWorker(m);
  }

  /** Reads the group's committed offsets until stopped; each answer is recorded as of when it was asked. */
  private async observe(): Promise<void> {
    const h = this.o.history;
    while (this.observing) {
      const asked = h.now();
      const offsets = await this.committed();
      // null: the coordinator is moving or down; the next round asks again.
      if (offsets) h.group({ member: 'observer', event: 'observed', timeMs: asked, offsets: Object.fromEntries(offsets), sentMs: asked });
      await sleep(500);
    }
  }

  /** The group's committed offsets of the topic now (null when no coordinator answers). */
  committed(): Promise<Map<number, number> | null> {
    return committedOffsets(this.admin, this.o.group, this.o.topic);
  }

  /** Waits until the group has committed `ends` (partition → log end) or the deadline passes; returns the last offsets seen. */
  waitCaughtUp(ends: Map<number, number>, timeoutMs: number): Promise<Map<number, number>> {
    return waitCommitted(this.admin, this.o.group, this.o.topic, ends, timeoutMs);
  }

  /** Every member leaves cleanly (killed if it does not within 20 s); the observer stops. */
  async stop(): Promise<void> {
    this.resumeAll();
    this.observing = false;
    await Promise.all([...this.members.keys()].map((name) => this.leave(name)));
    await this.observer;
    this.admin.close();
  }
}

function numericKeys(o: Record<string, number>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [k, v] of Object.entries(o)) out[Number(k)] = v;
  return out;
}
