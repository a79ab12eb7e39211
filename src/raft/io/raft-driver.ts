import { CairnError, type Clock, ErrorCode, type Logger, type NodeId, nodeId, type Random, type TimerHandle, type Timers } from '../../common';
import { systemTimers } from '../../common/io';
import { type CommittedBatch, decodeRecords, encodeRecords, MetadataImage, type MetadataListener, MetadataListeners, type MetadataLog, type MetadataRecord, replay } from '../../metadata';
import {
  configEntryMembership,
  describeMembership,
  describeMessage,
  type Entry,
  type FollowerProgress,
  type Membership,
  type MembershipChange,
  type Message,
  RaftCore,
  type RaftInitialState,
  type RaftRole,
  type Snapshot,
} from '..';
import { type PersistRequest, RaftStorage } from './raft-storage';
import type { RaftTransport } from './raft-transport';

/**
 * Where the driver makes the core's state durable: RaftStorage on disk in production, an
 * in-memory disk in the whole-cluster simulation. persist() calls never overlap.
 */
export interface RaftPersistence {
  persist(rd: PersistRequest): Promise<void>;
  close(): Promise<void>;
}

export interface RaftDriverOptions {
  nodeId: number;
  voters: number[];
  /** The metadata log's directory (open() only; create() is given its persistence). */
  dir: string;
  transport: Pick<RaftTransport, 'send' | 'close'>;
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Take a snapshot after this many applied entries. */
  snapshotEvery: number;
  /** The bytes of a snapshot of everything applied so far (the image's records). */
  snapshotData: () => Uint8Array;
  logger: Logger;
  clock: Clock;
  /** Arms the core's next deadline; systemTimers unless a simulation runs the driver. */
  timers?: Timers;
  random: Random;
  /** Called when the metadata log cannot go on (storage failure, undecodable committed entry). */
  onFatal: (err: Error) => void;
  /** Called at start and whenever the membership in force changes (membership.ts): the transport learns new peers' endpoints. */
  onMembership?: (membership: Membership) => void;
}

/** How often a membership change that must wait (a change in flight, a learner catching up) is tried again. */
const MEMBERSHIP_RETRY_MS = 100;

interface PendingProposal {
  term: number;
  resolve: (offset: number) => void;
  reject: (err: Error) => void;
}

/**
 * The metadata records an entry stands for: a data entry's own, a config entry's membership as a
 * QuorumMembership record (so that every node's image knows the controllers), none for a no-op.
 */
export function entryRecords(e: Entry): MetadataRecord[] {
  if (e.kind === 'data') return decodeRecords(e.data);
  if (e.kind === 'noop') return [];
  const m = configEntryMembership(e);
  return [{ type: 'QuorumMembership', voters: m.voters.map((v) => ({ id: v.id, endpoint: v.endpoint })), learners: m.learners.map((l) => ({ id: l.id, endpoint: l.endpoint })) }];
}

/** Decodes a metadata snapshot into the image it describes. */
export function imageFromSnapshot(s: Pick<Snapshot, 'lastIndex' | 'data'>): MetadataImage {
  return replay(MetadataImage.EMPTY, decodeRecords(s.data), s.lastIndex).image;
}

/**
 * The shell around the pure Raft core for the metadata log (design brief §5): it persists what
 * the core says (fsync) before sending its messages, applies committed entries to the metadata
 * listeners in order, arms the core's next deadline, takes snapshots, and turns proposals into
 * promises that settle when the entry commits. It is a MetadataLog, so the controller and the
 * broker use it without knowing it is Raft.
 */
export class RaftDriver implements MetadataLog {
  private readonly listeners = new MetadataListeners();
  private readonly pending = new Map<number, PendingProposal>();
  private persisting = false;
  private closed = false;
  private timer: TimerHandle | null = null;
  private lastRole: RaftRole = 'follower';
  private lastLeader: number | null = null;
  /** Index of this leader's first entry (its no-op); it serves once that is applied. */
  private leaderStartIndex = Infinity;
  private appliedIndex = 0;
  private initialSnapshot: Snapshot | null;
  private lastMembership: Membership | null = null;

  private constructor(
    private readonly o: RaftDriverOptions,
    private readonly core: RaftCore,
    private readonly storage: RaftPersistence,
    initialSnapshot: Snapshot | null,
  ) {
    this.initialSnapshot = initialSnapshot;
  }

  static async open(o: RaftDriverOptions): Promise<RaftDriver> {
    const { storage, state, recovery } = await RaftStorage.open(o.dir);
    if (recovery.tornTailBytes > 0) o.logger.warn({ bytesRemoved: recovery.tornTailBytes }, 'raft log torn tail truncated');
    return RaftDriver.create(o, storage, state);
  }

  /** A driver over `storage`, which holds `state` (what a restart loaded). */
  static create(o: RaftDriverOptions, storage: RaftPersistence, state: RaftInitialState): RaftDriver {
    const core = new RaftCore({
      id: o.nodeId as NodeId,
      voters: o.voters as NodeId[],
      electionTimeoutMinMs: o.electionTimeoutMs,
      electionTimeoutMaxMs: o.electionTimeoutMs * 2,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      random: o.random,
      initial: state,
      nowMs: o.clock.nowMs(),
    });
    return new RaftDriver(o, core, storage, state.snapshot);
  }

  subscribe(listener: MetadataListener): void {
    this.listeners.add(listener);
  }

  follow(listener: MetadataListener): () => void {
    return this.listeners.add(listener);
  }

  /** Delivers the persisted snapshot to the listeners, then starts ticking. Subscribe first. */
  start(): void {
    if (this.initialSnapshot) {
      this.applySnapshot(this.initialSnapshot);
      this.initialSnapshot = null;
    }
    this.o.logger.info({ voters: this.o.voters, membership: describeMembership(this.core.membership), term: this.core.term, lastIndex: this.core.lastIndex }, 'raft started');
    this.noticeMembership();
    this.process();
  }

  // ---- MetadataLog ----

  isLeader(): boolean {
    return this.core.role === 'leader' && this.appliedIndex >= this.leaderStartIndex;
  }

  leaderId(): number {
    return this.core.leaderId ?? -1;
  }

  leaderEpoch(): number {
    return this.core.term;
  }

  append(records: MetadataRecord[]): Promise<number> {
    if (this.closed) return Promise.reject(new CairnError(ErrorCode.NOT_CONTROLLER, 'the metadata log is closed'));
    if (!this.isLeader()) return Promise.reject(new CairnError(ErrorCode.NOT_CONTROLLER, `not the active controller (leader: ${this.leaderId()})`));
    const result = this.core.propose(encodeRecords(records), this.o.clock.nowMs());
    if (!result.ok) return Promise.reject(new CairnError(result.code, `proposal refused: leader is ${result.leaderHint ?? 'unknown'}`));
    const promise = new Promise<number>((resolve, reject) => this.pending.set(result.index, { term: result.term, resolve, reject }));
    this.process();
    return promise;
  }

  // ---- membership (KIP-853) ----

  /** The membership in force on this node (the newest config entry it holds, committed or not). */
  get membership(): Membership {
    return this.core.membership;
  }

  /**
   * Makes `id` a voter: adds it as a learner (unless it is one), waits until it has caught up,
   * then promotes it; resolves once the promotion has committed. Leader only.
   */
  async addVoter(id: number, endpoint: string, timeoutMs: number): Promise<void> {
    const deadline = this.o.clock.nowMs() + timeoutMs;
    // A voter already is refused by the core (DUPLICATE_VOTER), a learner goes straight to its promotion.
    if (!this.core.membership.learners.some((l) => l.id === id)) await this.changeMembership({ kind: 'add-learner', id: nodeId(id), endpoint }, deadline);
    await this.changeMembership({ kind: 'promote', id: nodeId(id) }, deadline);
  }

  /**
   * Takes `id`'s vote away: a voter becomes a learner (it keeps receiving the metadata log, as a
   * controller node that goes on as a broker must), and a learner leaves the membership. Resolves
   * once the change has committed. Leader only.
   */
  async removeVoter(id: number, timeoutMs: number): Promise<void> {
    const isVoter = this.core.membership.voters.some((v) => v.id === id);
    await this.changeMembership({ kind: isVoter ? 'demote' : 'remove', id: nodeId(id) }, this.o.clock.nowMs() + timeoutMs);
  }

  /** One change, tried again while it must wait (REQUEST_TIMED_OUT) until `deadlineMs`; resolves when it commits. */
  private async changeMembership(change: MembershipChange, deadlineMs: number): Promise<number> {
    for (;;) {
      if (this.closed) throw new CairnError(ErrorCode.NOT_CONTROLLER, 'the metadata log is closed');
      if (!this.isLeader()) throw new CairnError(ErrorCode.NOT_CONTROLLER, `not the active controller (leader: ${this.leaderId()})`);
      const result = this.core.changeMembership(change, this.o.clock.nowMs());
      if (result.ok) {
        this.o.logger.info({ change: change.kind, node: change.id, index: result.index, term: result.term, membership: describeMembership(result.membership) }, 'membership change proposed');
        const promise = new Promise<number>((resolve, reject) => this.pending.set(result.index, { term: result.term, resolve, reject }));
        this.process();
        return promise;
      }
      if (result.code !== ErrorCode.REQUEST_TIMED_OUT || this.o.clock.nowMs() + MEMBERSHIP_RETRY_MS > deadlineMs) {
        throw new CairnError(result.code, `${change.kind} ${change.id}: ${result.reason}`);
      }
      await new Promise<void>((resolve) => (this.o.timers ?? systemTimers).after(MEMBERSHIP_RETRY_MS, resolve));
    }
  }

  private noticeMembership(): void {
    const m = this.core.membership;
    if (m === this.lastMembership) return;
    this.lastMembership = m;
    this.o.logger.info({ membership: describeMembership(m), index: this.core.membershipIndex }, 'raft membership in force');
    this.o.onMembership?.(m);
  }

  // ---- status ----

  get role(): RaftRole {
    return this.core.role;
  }

  get term(): number {
    return this.core.term;
  }

  get commitIndex(): number {
    return this.core.commitIndex;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  progress(): readonly FollowerProgress[] {
    return this.core.progress();
  }

  /** Committed, applied batches from `from` on, or null when `from` is below what the log still holds (send a snapshot). */
  readCommitted(from: number, max = 1000): CommittedBatch[] | null {
    if (from <= this.core.snapshotIndex) return null;
    const out: CommittedBatch[] = [];
    for (let i = from; i <= this.appliedIndex && out.length < max; i++) {
      const e = this.core.entryAt(i);
      if (!e) return null;
      out.push({ offset: i, records: entryRecords(e) });
    }
    return out;
  }

  // ---- inputs ----

  receive(message: Message): void {
    if (this.closed) return;
    const refused = this.core.step(message, this.o.clock.nowMs());
    if (refused !== null) this.o.logger.warn({ from: message.from, type: message.type, term: message.term, currentTerm: this.core.term, reason: refused }, 'raft message refused');
    this.process();
  }

  private process(): void {
    if (this.persisting || this.closed) return;
    if (!this.core.hasReady()) {
      this.arm();
      return;
    }
    const rd = this.core.ready();
    this.persisting = true;
    this.storage.persist(rd).then(
      () => {
        if (this.closed) return;
        try {
          if (rd.messages.length > 0) this.o.transport.send(rd.messages);
          if (rd.snapshotToApply) this.applySnapshot(rd.snapshotToApply);
          for (const e of rd.committed) this.applyEntry(e);
          this.core.advance();
        } catch (err) {
          this.fail(err as Error);
          return;
        }
        this.persisting = false;
        this.noticeMembership();
        this.noticeLeadership();
        this.maybeSnapshot();
        this.process();
      },
      (err: Error) => this.fail(err),
    );
  }

  private arm(): void {
    this.timer?.cancel();
    const delay = Math.max(0, this.core.nextDeadlineMs - this.o.clock.nowMs());
    this.timer = (this.o.timers ?? systemTimers).after(delay, () => {
      this.timer = null;
      if (this.closed) return;
      this.core.tick(this.o.clock.nowMs());
      this.process();
    });
  }

  private applyEntry(e: Entry): void {
    const records = entryRecords(e);
    this.appliedIndex = e.index;
    this.listeners.commit({ offset: e.index, records });
    const p = this.pending.get(e.index);
    if (p) {
      this.pending.delete(e.index);
      if (p.term === e.term) p.resolve(e.index);
      else p.reject(new CairnError(ErrorCode.NOT_CONTROLLER, `entry ${e.index} was replaced by the next leader's; the operation did not take effect`));
    }
  }

  private applySnapshot(s: Snapshot): void {
    const image = imageFromSnapshot(s);
    this.appliedIndex = s.lastIndex;
    this.listeners.snapshot(image);
    this.o.logger.info({ lastIndex: s.lastIndex, lastTerm: s.lastTerm, bytes: s.data.length }, 'metadata snapshot applied');
  }

  private noticeLeadership(): void {
    const role = this.core.role;
    const leader = this.core.leaderId;
    if (role === 'leader' && this.lastRole !== 'leader') {
      this.leaderStartIndex = this.core.lastIndex;
      this.o.logger.info({ term: this.core.term }, 'raft leader elected (this node)');
    }
    if (role !== 'leader' && this.lastRole === 'leader') {
      this.leaderStartIndex = Infinity;
      const err = new CairnError(ErrorCode.NOT_CONTROLLER, 'controller leadership was lost; the operation may or may not take effect');
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.o.logger.info({ term: this.core.term, leader }, 'raft leadership lost');
    }
    if (leader !== this.lastLeader) {
      this.o.logger.info({ term: this.core.term, leader }, 'raft leader changed');
      this.listeners.leaderChange(leader ?? -1, this.core.term);
    }
    this.lastRole = role;
    this.lastLeader = leader;
  }

  private maybeSnapshot(): void {
    if (this.appliedIndex - this.core.snapshotIndex < this.o.snapshotEvery) return;
    this.core.compact(this.appliedIndex, this.o.snapshotData());
    this.o.logger.info({ index: this.appliedIndex }, 'metadata snapshot taken');
    this.process();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.o.logger.fatal({ err: err.stack ?? err.message }, 'metadata log failed');
    this.closed = true;
    this.o.onFatal(err);
  }

  describe(m: Message): string {
    return describeMessage(m);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    const err = new CairnError(ErrorCode.NOT_CONTROLLER, 'the metadata log is closing');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.o.transport.close();
    await this.storage.close();
  }
}

export { encodeRecords };
