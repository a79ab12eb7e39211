/**
 * The state of one Raft node and its side of the driver contract (ready / advance): what the
 * node holds, what it has handed to the driver to persist, send and apply, and the read-only
 * views a status display needs. The protocol that changes this state is RaftCore.
 */
import { invariant, type NodeId, type Term } from '../common';
import type { LeaderState, LeaderTiming } from './leader-state';
import { MAX_COMMITTED_PER_READY } from './limits';
import { bootstrapMembership, decodeMembership, learnerIds, type Membership, voterIds } from './membership';
import type { Message } from './messages';
import { type RaftCoreOptions, validateOptions } from './options';
import { RaftLog } from './raft-log';
import type { Entry, FollowerProgress, HardState, RaftRole, Ready, Snapshot } from './types';

/** The membership a config entry holds. The wire (messages.ts) and storage (CRC) let only well-formed ones in. */
export function configEntryMembership(entry: Entry): Membership {
  const decoded = decodeMembership(entry.data);
  invariant('membership' in decoded, 'undecodable config entry in the log', { index: entry.index });
  return decoded.membership;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export abstract class RaftState {
  readonly id: NodeId;
  /** The membership in force (membership.ts): the newest config entry in the log, else the snapshot's, else the bootstrap. */
  protected membershipValue: Membership;
  /** What `membershipValue` came from: a config entry, a snapshot, or null for the bootstrap. */
  private membershipSource: Entry | Snapshot | null = null;
  protected voters: readonly NodeId[];
  protected learners: readonly NodeId[];
  private readonly bootstrap: Membership;
  /**
   * Nodes whose messages are heard even when the membership in force does not name them: the
   * bootstrap voters and the other nodes this node's configuration lists. A node that missed a
   * membership change (it was down) still follows a leader that the change made a voter, once its
   * configuration names it.
   */
  private readonly knownPeers: ReadonlySet<NodeId>;
  protected readonly options: RaftCoreOptions;
  protected readonly timing: LeaderTiming;
  protected readonly log: RaftLog;

  protected currentTerm: Term;
  protected votedFor: NodeId | null;
  protected currentRole: RaftRole = 'follower';
  protected currentLeader: NodeId | null = null;
  protected commit: number;
  /** Highest index handed to the driver to apply (through ready().committed or a snapshot). */
  protected applied: number;
  /** The snapshot covering log.snapshotIndex, sent to followers that fell behind it. */
  protected snapshot: Snapshot | null;
  /** Answers to the current (pre-)campaign. */
  protected readonly votes = new Map<NodeId, boolean>();
  protected leader: LeaderState | null = null;

  protected now: number;
  protected electionDeadlineMs = 0;
  /** When we last heard from the leader of our term (leader stickiness). */
  protected leaderContactMs = Number.NEGATIVE_INFINITY;

  protected snapshotToSave: Snapshot | null = null;
  protected snapshotToApply: Snapshot | null = null;
  protected outbox: Message[] = [];
  private handedHardState: HardState;
  private readyOutstanding = false;

  constructor(options: RaftCoreOptions) {
    validateOptions(options);
    this.options = options;
    this.id = options.id;
    this.bootstrap = bootstrapMembership(options.voters, options.learners ?? []);
    this.membershipValue = this.bootstrap;
    this.voters = voterIds(this.bootstrap);
    this.learners = learnerIds(this.bootstrap);
    this.knownPeers = new Set([...options.voters, ...(options.knownPeers ?? [])]);
    this.timing = {
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      appendRetryMs: 2 * options.heartbeatIntervalMs,
      snapshotResendMs: options.electionTimeoutMaxMs,
      checkQuorumIntervalMs: options.electionTimeoutMinMs,
    };
    const { hardState, snapshot, entries } = options.initial;
    this.currentTerm = hardState.term;
    this.votedFor = hardState.votedFor;
    this.handedHardState = hardState;
    this.log = new RaftLog(snapshot, entries);
    this.snapshot = snapshot;
    // The driver restores its state machine from the snapshot it loaded; entries after it are
    // applied again once a leader tells us they are committed.
    this.commit = snapshot?.lastIndex ?? 0;
    this.applied = this.commit;
    this.now = options.nowMs;
    this.syncMembership();
    this.resetElectionTimer();
    // A sole voter has nobody to hear from and nobody to ask: waiting out an election timeout
    // before it leads would only delay every start of a one-node cluster.
    if (this.voters.length === 1 && this.voters[0] === this.id) this.electionDeadlineMs = this.now;
  }

  // ---- read-only views ----

  get role(): RaftRole {
    return this.currentRole;
  }
  get term(): Term {
    return this.currentTerm;
  }
  get leaderId(): NodeId | null {
    return this.currentLeader;
  }
  get commitIndex(): number {
    return this.commit;
  }
  get appliedIndex(): number {
    return this.applied;
  }
  get lastIndex(): number {
    return this.log.lastIndex();
  }
  get lastTerm(): Term {
    return this.log.lastTerm();
  }
  /** Entries at or below this index are compacted into the snapshot. */
  get snapshotIndex(): number {
    return this.log.snapshotIndex;
  }
  /** Whether this node has no vote: a learner, or not a member at all. */
  get isLearner(): boolean {
    return !this.voters.includes(this.id);
  }
  /** A learner named at construction (RaftCoreOptions.learners): it never votes. */
  protected get isBootstrapLearner(): boolean {
    return this.bootstrap.learners.some((l) => l.id === this.id);
  }
  /** The membership in force (see membership.ts). */
  get membership(): Membership {
    return this.membershipValue;
  }
  /** The index of the config entry in force (the snapshot's last index when it comes from a snapshot; 0 for the bootstrap). */
  get membershipIndex(): number {
    const s = this.membershipSource;
    if (s === null) return 0;
    return 'index' in s ? s.index : s.lastIndex;
  }
  get hardState(): HardState {
    return { term: this.currentTerm, votedFor: this.votedFor };
  }
  get nextDeadlineMs(): number {
    if (this.leader) return Math.min(this.leader.heartbeatDeadlineMs, this.leader.checkQuorumDeadlineMs);
    return this.electionDeadlineMs;
  }
  /** A retained entry, or undefined when compacted or beyond the end. */
  entryAt(index: number): Entry | undefined {
    return this.log.entryAt(index);
  }
  termAt(index: number): Term | undefined {
    return this.log.termAt(index);
  }
  /** Per-follower replication state while leader; empty otherwise. */
  progress(): FollowerProgress[] {
    return this.leader ? [...this.leader.progress.values()].map((p) => p.view()) : [];
  }

  // ---- the driver contract ----

  hasReady(): boolean {
    return this.outbox.length > 0 || this.log.hasUnpersisted() || this.hardStateChanged() || this.snapshotToSave !== null || this.snapshotToApply !== null || this.commit > this.applied;
  }

  /** What to persist, send and apply now; see `Ready`. Call advance() when done. */
  ready(): Ready {
    invariant(!this.readyOutstanding, 'ready() called again before advance()', { id: this.id });
    this.readyOutstanding = true;
    const { truncateFrom, entries } = this.log.takeUnpersisted();
    const hardStateChanged = this.hardStateChanged();
    this.handedHardState = this.hardState;
    const committed: Entry[] = [];
    if (this.commit > this.applied) {
      committed.push(...this.log.slice(this.applied + 1, this.commit, Number.POSITIVE_INFINITY, MAX_COMMITTED_PER_READY));
      this.applied = committed[committed.length - 1]!.index;
    }
    const rd: Ready = {
      ...(hardStateChanged ? { hardState: this.handedHardState } : {}),
      ...(truncateFrom !== null ? { truncateFrom } : {}),
      ...(this.snapshotToSave ? { snapshotToSave: this.snapshotToSave } : {}),
      entriesToAppend: entries,
      messages: this.outbox,
      ...(this.snapshotToApply ? { snapshotToApply: this.snapshotToApply } : {}),
      committed,
      nextDeadlineMs: this.nextDeadlineMs,
    };
    this.outbox = [];
    this.snapshotToSave = null;
    this.snapshotToApply = null;
    return rd;
  }

  /** The driver persisted, sent and applied the last ready(). */
  advance(): void {
    invariant(this.readyOutstanding, 'advance() without ready()', { id: this.id });
    this.readyOutstanding = false;
    this.log.markPersisted();
    this.onPersisted();
  }

  /** Called by advance() once the last ready's writes are durable. */
  protected abstract onPersisted(): void;

  // ---- helpers for the protocol ----

  protected send(msg: DistributiveOmit<Message, 'from'>): void {
    this.outbox.push({ ...msg, from: this.id } as Message);
  }

  protected resetElectionTimer(): void {
    const { random, electionTimeoutMinMs, electionTimeoutMaxMs } = this.options;
    this.electionDeadlineMs = this.now + random.int(electionTimeoutMinMs, electionTimeoutMaxMs);
  }

  protected advanceClock(nowMs: number): void {
    // A driver clock that steps backwards must not move deadlines backwards.
    this.now = Math.max(this.now, nowMs);
  }

  protected isMember(node: NodeId): boolean {
    return this.voters.includes(node) || this.learners.includes(node);
  }

  /** Whether messages from `node` are heard at all: a member, or a node the configuration names. */
  protected isHeard(node: NodeId): boolean {
    return this.isMember(node) || this.knownPeers.has(node);
  }

  /**
   * Whether `node` may lead (and move terms, and get votes): a voter of the membership in force,
   * or a node the configuration names — this node may have missed the change that made it one.
   */
  protected mayLead(node: NodeId): boolean {
    return this.voters.includes(node) || this.knownPeers.has(node);
  }

  /**
   * Puts the membership the log now says into force: call after anything that appends,
   * truncates, compacts or replaces the log. A config entry takes effect as soon as it is in the
   * log, committed or not; a truncation that drops it brings the previous one back.
   */
  protected syncMembership(): void {
    const entry = this.log.configEntryAtOrBelow();
    const source: Entry | Snapshot | null = entry ?? (this.snapshot?.membership ? this.snapshot : null);
    if (source === this.membershipSource) return;
    const next = source === null ? this.bootstrap : 'index' in source ? configEntryMembership(source) : source.membership!;
    this.membershipSource = source;
    // A compaction moves the source from the config entry to the snapshot that carries the same object.
    if (next === this.membershipValue) return;
    this.membershipValue = next;
    this.voters = voterIds(next);
    this.learners = learnerIds(next);
    this.onMembershipChanged();
  }

  /** The membership `config` holds: the one in force when it is its source (no decoding, the same object). */
  protected membershipOf(config: Entry): Membership {
    return config === this.membershipSource ? this.membershipValue : configEntryMembership(config);
  }

  /** The leader adds and drops followers' progress. */
  protected abstract onMembershipChanged(): void;

  private hardStateChanged(): boolean {
    return this.handedHardState.term !== this.currentTerm || this.handedHardState.votedFor !== this.votedFor;
  }
}
