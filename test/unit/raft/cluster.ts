/**
 * A hand-driven cluster for the Raft unit tests: nothing happens unless the test says so. Time
 * moves only through `advance`/`timeout`, messages wait in a FIFO queue until `deliver`, and each
 * node's driver loop (persist → send → apply → advance) runs after every input, as in production.
 */
import type { NodeId } from '../../../src/common/types';
import { nodeId, term as toTerm } from '../../../src/common/types';
import { SeededRandom } from '../../../src/common/random';
import { RaftCore } from '../../../src/raft/raft-core';
import type { RaftCoreOptions } from '../../../src/raft/options';
import type { MembershipChange } from '../../../src/raft/membership';
import type { Message } from '../../../src/raft/messages';
import { describeMessage } from '../../../src/raft/messages';
import type { Entry, HardState, RaftInitialState, Ready, Snapshot } from '../../../src/raft/types';

export const ELECTION_MIN_MS = 150;
export const ELECTION_MAX_MS = 300;
export const HEARTBEAT_MS = 50;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const bytes = (s: string) => encoder.encode(s);
export const text = (b: Uint8Array) => decoder.decode(b);

/** A log written compactly: terms of entries 1, 2, 3, ... (data "i@t"). */
export function logOfTerms(terms: readonly number[], from = 1): Entry[] {
  return terms.map((t, i) => ({ index: from + i, term: toTerm(t), kind: 'data', data: bytes(`${from + i}@${t}`) }));
}

export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export interface ClusterOptions {
  voters: readonly number[];
  learners?: readonly number[];
  seed?: number;
  /** Starting state per node id; the term defaults to the last log term. */
  initial?: Record<number, { term?: number; votedFor?: number | null; entries?: Entry[]; snapshot?: Snapshot | null }>;
  createCore?: (options: RaftCoreOptions) => RaftCore;
  /** Nodes started outside the bootstrap membership (controllers about to be added); they know every node. */
  observers?: readonly number[];
  /** `knownPeers` of every node (RaftCoreOptions); the observers by default. */
  knownPeers?: readonly number[];
}

export class Cluster {
  now = 0;
  readonly cores = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, Disk>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly snapshotsApplied = new Map<NodeId, Snapshot[]>();
  readonly readies = new Map<NodeId, Ready[]>();
  queue: Message[] = [];
  /** Messages matching this are lost in every delivery (a flaky link, say). */
  dropWhere: ((m: Message) => boolean) | null = null;
  /** Messages that `deliver({ hold })` set aside, for a test to deliver late or never. */
  held: Message[] = [];
  readonly transcript: string[] = [];
  private readonly cut = new Set<string>();
  private readonly random: SeededRandom;
  private readonly voters: NodeId[];
  private readonly learners: NodeId[];
  private readonly knownPeers: NodeId[];
  private readonly createCore: (options: RaftCoreOptions) => RaftCore;

  constructor(options: ClusterOptions) {
    this.random = new SeededRandom(options.seed ?? 1);
    this.voters = options.voters.map(nodeId);
    this.learners = (options.learners ?? []).map(nodeId);
    this.knownPeers = (options.knownPeers ?? options.observers ?? []).map(nodeId);
    this.createCore = options.createCore ?? ((o) => new RaftCore(o));
    for (const id of [...this.voters, ...this.learners, ...(options.observers ?? []).map(nodeId)]) {
      const init = options.initial?.[id] ?? {};
      const entries = init.entries ?? [];
      const lastTerm = entries.length > 0 ? entries[entries.length - 1]!.term : (init.snapshot?.lastTerm ?? 0);
      this.disks.set(id, {
        hardState: { term: toTerm(init.term ?? lastTerm), votedFor: init.votedFor == null ? null : nodeId(init.votedFor) },
        snapshot: init.snapshot ?? null,
        entries: [...entries],
      });
      this.start(id);
    }
  }

  core(id: number): RaftCore {
    const c = this.cores.get(nodeId(id));
    if (!c) throw new Error(`node ${id} is down`);
    return c;
  }

  /** Moves time without ticking anyone. */
  advance(ms: number): void {
    this.now += ms;
  }

  /** Moves time to `id`'s next deadline and ticks it (an election timeout for a follower). */
  timeout(id: number): void {
    const c = this.core(id);
    this.now = Math.max(this.now, c.nextDeadlineMs);
    c.tick(this.now);
    this.drain(nodeId(id));
  }

  /**
   * Fires `id`'s election timer without moving the cluster's clock: the node acts as if its
   * timer ran out now, while everyone else's view of time (and of their leader) stays current.
   */
  timeoutOnly(id: number): void {
    const c = this.core(id);
    c.tick(Math.max(this.now, c.nextDeadlineMs));
    this.drain(nodeId(id));
  }

  tick(id: number): void {
    this.core(id).tick(this.now);
    this.drain(nodeId(id));
  }

  /** Delivers queued messages, and the ones they cause, until the queue is empty. */
  deliver(options: { drop?: (m: Message) => boolean; hold?: (m: Message) => boolean; max?: number } = {}): number {
    let delivered = 0;
    const max = options.max ?? 10_000;
    while (this.queue.length > 0 && delivered < max) {
      const m = this.queue.shift()!;
      if (options.drop?.(m) || this.dropWhere?.(m)) {
        this.transcript.push(`drop    ${describeMessage(m)}`);
        continue;
      }
      if (options.hold?.(m)) {
        this.transcript.push(`hold    ${describeMessage(m)}`);
        this.held.push(m);
        continue;
      }
      this.stepInto(m);
      delivered++;
    }
    return delivered;
  }

  /** Removes and returns the queued messages that match. */
  take(match: (m: Message) => boolean): Message[] {
    const taken = this.queue.filter(match);
    this.queue = this.queue.filter((m) => !match(m));
    return taken;
  }

  /** Hands one message to its addressee (crafted, or taken earlier and delivered late). */
  stepInto(m: Message): void {
    const target = this.cores.get(m.to);
    if (!target || this.cut.has(`${m.from}>${m.to}`)) {
      this.transcript.push(`lost    ${describeMessage(m)}`);
      return;
    }
    this.transcript.push(`deliver ${describeMessage(m)}`);
    target.step(m, this.now);
    this.drain(m.to);
  }

  change(id: number, change: MembershipChange) {
    const res = this.core(id).changeMembership(change, this.now);
    this.drain(nodeId(id));
    return res;
  }

  propose(id: number, value: string) {
    const res = this.core(id).propose(bytes(value), this.now);
    this.drain(nodeId(id));
    return res;
  }

  /** Runs the cluster with everyone ticking, in `stepMs` slices, for `ms`. */
  run(ms: number, stepMs = 10): void {
    const until = this.now + ms;
    while (this.now < until) {
      this.now += stepMs;
      for (const [id, c] of this.cores) {
        if (c.nextDeadlineMs <= this.now) {
          c.tick(this.now);
          this.drain(id);
        }
      }
      this.deliver();
    }
  }

  /** Election timeout on `id`, then everything delivered. */
  elect(id: number): void {
    this.timeout(id);
    this.deliver();
  }

  isolate(id: number): void {
    for (const o of this.cores.keys()) {
      if (o === id) continue;
      this.cut.add(`${id}>${o}`);
      this.cut.add(`${o}>${id}`);
    }
  }

  cutLink(from: number, to: number): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  crash(id: number): void {
    this.cores.delete(nodeId(id));
  }

  /** Starts (or restarts) a node from exactly what its disk holds. */
  start(id: number): void {
    const disk = this.disks.get(nodeId(id))!;
    const initial: RaftInitialState = { hardState: disk.hardState, snapshot: disk.snapshot, entries: [...disk.entries] };
    const core = this.createCore({
      id: nodeId(id),
      voters: this.voters,
      learners: this.learners,
      knownPeers: this.knownPeers,
      electionTimeoutMinMs: ELECTION_MIN_MS,
      electionTimeoutMaxMs: ELECTION_MAX_MS,
      heartbeatIntervalMs: HEARTBEAT_MS,
      random: this.random.fork(),
      initial,
      nowMs: this.now,
    });
    this.cores.set(nodeId(id), core);
    this.applied.set(nodeId(id), []);
    this.snapshotsApplied.set(nodeId(id), []);
    this.readies.set(nodeId(id), []);
  }

  leaders(): number[] {
    return [...this.cores].filter(([, c]) => c.role === 'leader').map(([id]) => id);
  }

  appliedData(id: number): string[] {
    return this.applied
      .get(nodeId(id))!
      .filter((e) => e.kind === 'data')
      .map((e) => text(e.data));
  }

  /** The terms of a node's retained log, for comparing logs at a glance. */
  terms(id: number): number[] {
    const c = this.core(id);
    const out: number[] = [];
    for (let i = c.snapshotIndex + 1; i <= c.lastIndex; i++) out.push(c.termAt(i)!);
    return out;
  }

  /** The driver loop: persist, send, apply, advance — until the core has nothing more. */
  drain(id: NodeId): void {
    const core = this.cores.get(id);
    if (!core) return;
    while (core.hasReady()) {
      const rd = core.ready();
      this.readies.get(id)!.push(rd);
      const disk = this.disks.get(id)!;
      if (rd.hardState) disk.hardState = rd.hardState;
      if (rd.truncateFrom !== undefined) disk.entries = disk.entries.filter((e) => e.index < rd.truncateFrom!);
      if (rd.snapshotToSave) {
        const s = rd.snapshotToSave;
        disk.snapshot = s;
        disk.entries = disk.entries.filter((e) => e.index > s.lastIndex);
      }
      disk.entries.push(...rd.entriesToAppend);
      this.queue.push(...rd.messages);
      if (rd.snapshotToApply) this.snapshotsApplied.get(id)!.push(rd.snapshotToApply);
      this.applied.get(id)!.push(...rd.committed);
      core.advance();
    }
  }
}
