/**
 * The Raft consensus core for the controller quorum's metadata log: a pure, deterministic state
 * machine in the style of etcd-io/raft (style §1). No I/O, no timers, no clock, no ambient randomness:
 * time arrives as `nowMs` arguments and randomness from the injected `Random`.
 *
 * The driver loop:
 *
 *   core.step(msg, now) | core.tick(now) | core.propose(data, now) | core.compact(i, data)
 *   while (core.hasReady()) {
 *     const rd = core.ready();
 *     persist rd.hardState, rd.truncateFrom, rd.snapshotToSave, rd.entriesToAppend — in that order, fsynced
 *     send rd.messages                 // only after the persist: a vote or an ack promises durability
 *     apply rd.snapshotToApply, then rd.committed in order (skip kind 'noop')
 *     core.advance();
 *   }
 *   arm a timer for rd.nextDeadlineMs (or core.nextDeadlineMs) and call tick then.
 *
 * step/tick/propose may be called between ready() and advance() (while the persist is under way);
 * ready() may not be called again before advance().
 *
 * Protocol (docs/raft.md): PreVote and CheckQuorum with leader stickiness (Raft thesis §9.6,
 * §6.2), replication with rejection hints and pipelining, commit by counting only current-term
 * entries (Raft §5.4.2), learners, snapshots, and membership changes one node at a time (Raft
 * thesis §4.1, KIP-853; membership.ts).
 */
import { ErrorCode, invariant, type NodeId, type Term, term as toTerm } from '../common';
import { acceptAppend, classifySnapshot } from './follower';
import { LeaderState } from './leader-state';
import { MAX_ENTRY_BYTES, MAX_TERM_JUMP, MAX_UNCOMMITTED_ENTRIES, MAX_WIRE_VALUE } from './limits';
import { applyChange, encodeMembership, type Membership, type MembershipChange } from './membership';
import type { AppendEntries, AppendEntriesResponse, InstallSnapshot, InstallSnapshotResponse, Message, VoteRequest, VoteResponse } from './messages';
import { tallyVotes } from './quorum';
import { RaftState } from './raft-state';
import type { Entry, MembershipChangeResult, ProposeResult } from './types';

export type { RaftCoreOptions } from './options';
export type { MembershipChangeResult, ProposeResult, Ready } from './types';

const EMPTY = new Uint8Array(0);

export class RaftCore extends RaftState {
  /** Why the message being stepped was refused, if it was (see step). */
  private refusal: string | null = null;

  // ---- inputs ----

  /**
   * Handles one message. Returns null, or — for a message that no correct node sends (a forgery
   * or a bug elsewhere) — why it was dropped, for the driver to log. A message never throws:
   * dropping a message is always safe in Raft, which tolerates loss.
   */
  step(msg: Message, nowMs: number): string | null {
    this.advanceClock(nowMs);
    this.refusal = null;
    // A misrouted message or one from outside the configuration is dropped: the transport
    // validates addressing, and a node never talks to itself.
    if (msg.to !== this.id || msg.from === this.id || !this.isHeard(msg.from)) return `not for this node, or from ${msg.from}, not a member`;
    if (msg.term > this.currentTerm) {
      const refusal = this.higherTermRefusal(msg);
      if (refusal !== null) return refusal;
      if (!this.onHigherTerm(msg)) return null;
    } else if (msg.term < this.currentTerm) {
      this.onLowerTerm(msg);
      return null;
    }
    this.dispatch(msg);
    return this.refusal;
  }

  tick(nowMs: number): void {
    this.advanceClock(nowMs);
    if (this.leader) {
      if (this.now >= this.leader.checkQuorumDeadlineMs && !this.leader.checkQuorum(this.voters, this.now)) {
        // CheckQuorum (Raft thesis §6.2): a leader cut off from a majority stops serving, so
        // clients go find the new one instead of waiting on a leader that can never commit.
        this.becomeFollower(this.currentTerm, null);
        return;
      }
      if (this.now >= this.leader.heartbeatDeadlineMs) this.leader.heartbeat(this.now);
      return;
    }
    if (this.now < this.electionDeadlineMs) return;
    if (this.isLearner) {
      this.resetElectionTimer();
      if (this.now - this.leaderContactMs >= this.options.electionTimeoutMinMs) this.currentLeader = null;
      return;
    }
    this.becomePreCandidate();
  }

  propose(data: Uint8Array, nowMs: number): ProposeResult {
    this.advanceClock(nowMs);
    if (!this.leader) return { ok: false, code: ErrorCode.NOT_CONTROLLER, leaderHint: this.currentLeader };
    if (data.byteLength > MAX_ENTRY_BYTES) return { ok: false, code: ErrorCode.MESSAGE_TOO_LARGE, leaderHint: this.id };
    if (this.log.lastIndex() - this.commit >= MAX_UNCOMMITTED_ENTRIES) {
      return { ok: false, code: ErrorCode.THROTTLING_QUOTA_EXCEEDED, leaderHint: this.id };
    }
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.currentTerm, kind: 'data', data };
    this.log.append(entry);
    this.leader.replicateAll(this.now);
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Leader: appends a config entry that makes one change to the membership (membership.ts). It
   * takes effect here and on each follower as soon as it is appended; it is done once it commits
   * (the driver waits for `index`). Refused while another change is uncommitted, before this
   * leader has committed an entry of its own term (without that, a change of an earlier leader
   * that never committed could combine with this one into two majorities that do not overlap),
   * and — to promote a learner — until the learner has caught up with the commit index.
   */
  changeMembership(change: MembershipChange, nowMs: number): MembershipChangeResult {
    this.advanceClock(nowMs);
    if (!this.leader) return { ok: false, code: ErrorCode.NOT_CONTROLLER, reason: 'this node does not lead the quorum', leaderHint: this.currentLeader };
    const next = applyChange(this.membershipValue, change);
    if ('problem' in next) {
      const code = next.duplicate ? ErrorCode.DUPLICATE_VOTER : next.notFound ? ErrorCode.VOTER_NOT_FOUND : ErrorCode.INVALID_REQUEST;
      return { ok: false, code, reason: next.problem, leaderHint: this.id };
    }
    const refusal = this.changeRefusal(change);
    if (refusal !== null) return { ok: false, code: ErrorCode.REQUEST_TIMED_OUT, reason: refusal, leaderHint: this.id };
    return this.appendMembership(next.membership);
  }

  /** Why a change cannot be made now (retriable), or null. Protected so that tests can build broken leaders. */
  protected changeRefusal(change: MembershipChange): string | null {
    if (this.membershipIndex > this.commit) return `the membership change at index ${this.membershipIndex} has not committed yet`;
    if (this.log.termAt(this.commit) !== this.currentTerm) return `this leader has not yet committed an entry of its term ${this.currentTerm}`;
    if (change.kind === 'promote') {
      const match = this.leader!.progress.get(change.id)?.matchIndex ?? 0;
      if (match < this.commit) return `learner ${change.id} has not caught up (it holds ${match} of ${this.commit} committed entries)`;
    }
    return null;
  }

  protected appendMembership(membership: Membership): MembershipChangeResult {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.currentTerm, kind: 'config', data: encodeMembership(membership) };
    this.log.append(entry);
    this.syncMembership();
    this.leader?.replicateAll(this.now);
    return { ok: true, index: entry.index, term: entry.term, membership };
  }

  /**
   * The driver took a snapshot of its state machine through `index` (at most appliedIndex):
   * entries up to it are discarded here, and the next ready() asks storage to save the snapshot
   * and compact its entry file.
   */
  compact(index: number, data: Uint8Array): void {
    invariant(index <= this.applied, 'compact beyond the applied index', { index, applied: this.applied });
    if (index <= this.log.snapshotIndex) return;
    const lastTerm = this.log.termAt(index)!;
    const config = this.log.configEntryAtOrBelow(index);
    const membership = config ? this.membershipOf(config) : this.snapshot?.membership;
    this.log.compact(index);
    this.snapshot = { lastIndex: index, lastTerm, data, ...(membership ? { membership } : {}) };
    this.snapshotToSave = this.snapshot;
    this.syncMembership();
  }

  protected override onPersisted(): void {
    // The leader counts itself towards a quorum only for entries it has made durable.
    if (this.maybeCommit()) this.commitAdvanced();
  }

  protected override onMembershipChanged(): void {
    this.leader?.setPeers(this.peers(), this.now);
  }

  private peers() {
    return [...this.voters, ...this.learners].filter((p) => p !== this.id).map((p) => ({ id: p, isLearner: !this.voters.includes(p) }));
  }

  /**
   * The leader's commit index moved: tell the followers. A leader that the committed membership
   * no longer names as a voter steps down (KIP-853): the remaining voters elect one of their own.
   */
  private commitAdvanced(): void {
    if (!this.leader) return;
    this.leader.commitAdvanced();
    if (!this.voters.includes(this.id) && this.commit >= this.membershipIndex) this.becomeFollower(this.currentTerm, null);
  }

  // ---- message handling; protected so that tests can build deliberately broken nodes ----

  /**
   * A later term may come only from a voter, by a plausible step (MAX_TERM_JUMP), and — but for
   * vote traffic, which onHigherTerm weighs — not while this node hears from a live leader: as
   * leader stickiness keeps a partitioned node's vote requests from deposing a healthy leader,
   * it keeps a forged AppendEntries or response from doing so. A real new leader is elected only
   * by voters that lost contact with the old one, so a node still in contact learns its term at
   * most an election timeout later, when its own contact runs out. A leader takes a later term
   * from a follower's answer only when that follower has not answered at the leader's term for an
   * election timeout: a follower whose term rose in a failed election answers only with its own
   * term, while a forger's claim contradicts the real follower's steady answers.
   */
  protected higherTermRefusal(msg: Message): string | null {
    if (!this.mayLead(msg.from)) return `term ${msg.term} from ${msg.from}, which is not a voter`;
    if (msg.term - this.currentTerm > MAX_TERM_JUMP) return `term ${msg.term} is implausibly far ahead of ${this.currentTerm}`;
    const voteTraffic = msg.type === 'PreVote' || msg.type === 'Vote' || msg.type === 'PreVoteResponse' || msg.type === 'VoteResponse';
    const answer = msg.type === 'AppendEntriesResponse' || msg.type === 'InstallSnapshotResponse';
    const silentFollower = answer && this.leader !== null && !this.leader.answeredSince(msg.from, this.now - this.options.electionTimeoutMinMs);
    if (!voteTraffic && !silentFollower && this.inLease()) {
      const leader = this.currentRole === 'leader' ? 'this node leads' : `this node hears from leader ${this.currentLeader}`;
      return `${msg.type} of term ${msg.term} from ${msg.from} ignored: ${leader} in term ${this.currentTerm}`;
    }
    return null;
  }

  /** Drops the message being stepped: step returns `reason`. */
  protected refuse(reason: string): void {
    this.refusal = reason;
  }

  /** A message from a later term. Returns whether to go on and handle it. */
  protected onHigherTerm(msg: Message): boolean {
    if ((msg.type === 'PreVote' || msg.type === 'Vote') && this.inLease()) {
      // Leader stickiness (Raft thesis §4.2.3): while we hear from a live leader, a node that
      // wants an election — one that was partitioned away, say — gets no vote and cannot make
      // us move to its term, so it cannot depose a healthy leader.
      return false;
    }
    if (msg.type === 'PreVote') return true; // a pre-vote never changes anyone's term
    if (msg.type === 'PreVoteResponse' && msg.granted) return true; // granted at our term + 1
    const leader = msg.type === 'AppendEntries' || msg.type === 'InstallSnapshot' ? msg.from : null;
    this.becomeFollower(msg.term, leader);
    return true;
  }

  /** A message from an earlier term. */
  protected onLowerTerm(msg: Message): void {
    if (msg.type === 'AppendEntries' || msg.type === 'InstallSnapshot') {
      // A leader of an older term: answer with our term so that it steps down. This is how a
      // node whose term rose in a failed election rejoins: with stickiness its vote requests are
      // ignored, so only this answer can carry its term to the leader (as in etcd-io/raft).
      this.send({
        type: 'AppendEntriesResponse',
        to: msg.from,
        term: this.currentTerm,
        success: false,
        matchIndex: 0,
        rejectedIndex: 0,
        conflictIndex: 0,
        conflictTerm: toTerm(0),
      });
    } else if (msg.type === 'PreVote') {
      this.send({ type: 'PreVoteResponse', to: msg.from, term: this.currentTerm, granted: false });
    }
  }

  protected dispatch(msg: Message): void {
    switch (msg.type) {
      case 'PreVote':
      case 'Vote':
        this.handleVoteRequest(msg);
        return;
      case 'PreVoteResponse':
      case 'VoteResponse':
        this.handleVoteResponse(msg);
        return;
      case 'AppendEntries':
        this.handleAppendEntries(msg);
        return;
      case 'InstallSnapshot':
        this.handleInstallSnapshot(msg);
        return;
      case 'AppendEntriesResponse':
        this.handleAppendEntriesResponse(msg);
        return;
      case 'InstallSnapshotResponse':
        this.handleInstallSnapshotResponse(msg);
        return;
    }
  }

  protected handleVoteRequest(msg: VoteRequest): void {
    const pre = msg.type === 'PreVote';
    const granted = this.canGrantVote(msg);
    if (granted && !pre) {
      this.votedFor = msg.from;
      this.resetElectionTimer();
    }
    this.send({
      type: pre ? 'PreVoteResponse' : 'VoteResponse',
      to: msg.from,
      term: granted ? msg.term : this.currentTerm,
      granted,
    });
  }

  protected canGrantVote(msg: VoteRequest): boolean {
    // A learner of the bootstrap membership never votes. Any other node answers whatever its own
    // membership says (Raft thesis §4.1): it may hold a change that never committed — its own
    // removal or demotion, say — while the candidate's membership needs its vote; refusing would
    // leave such a quorum unable to elect. A vote is persisted like any other, so it is cast once.
    if (this.isBootstrapLearner || !this.mayLead(msg.from)) return false;
    const free = this.votedFor === msg.from || (this.votedFor === null && this.currentLeader === null) || (msg.type === 'PreVote' && msg.term > this.currentTerm);
    // Election restriction (Raft §5.4.1): only a log at least as up to date as ours gets our vote.
    return free && this.log.isUpToDate(msg.lastLogIndex, msg.lastLogTerm);
  }

  protected handleVoteResponse(msg: VoteResponse): void {
    if (msg.type === 'PreVoteResponse') {
      if (this.currentRole !== 'precandidate') return;
      if (msg.granted && msg.term !== this.currentTerm + 1) return;
    } else if (this.currentRole !== 'candidate') {
      return;
    }
    this.votes.set(msg.from, msg.granted);
    const outcome = tallyVotes(this.voters, this.votes);
    if (outcome === 'won') {
      if (this.currentRole === 'precandidate') this.becomeCandidate();
      else this.becomeLeader();
    } else if (outcome === 'lost') {
      this.becomeFollower(this.currentTerm, null);
    }
  }

  protected handleAppendEntries(msg: AppendEntries): void {
    if (!this.followLeader(msg.from)) return;
    const outcome = acceptAppend(this.log, this.commit, msg);
    if ('refused' in outcome) {
      this.refuse(outcome.refused);
      return;
    }
    this.commit = outcome.commitIndex;
    this.syncMembership();
    this.send({
      type: 'AppendEntriesResponse',
      to: msg.from,
      term: this.currentTerm,
      success: outcome.success,
      matchIndex: outcome.matchIndex,
      rejectedIndex: outcome.success ? 0 : msg.prevLogIndex,
      conflictIndex: outcome.conflictIndex,
      conflictTerm: outcome.conflictTerm,
    });
  }

  protected handleInstallSnapshot(msg: InstallSnapshot): void {
    if (!this.followLeader(msg.from)) return;
    const s = msg.snapshot;
    const outcome = classifySnapshot(this.log, this.commit, s);
    if (outcome.kind === 'fast-forward') {
      this.commit = s.lastIndex;
    } else if (outcome.kind === 'restore') {
      this.log.restore(s);
      this.snapshot = s;
      this.commit = s.lastIndex;
      this.applied = s.lastIndex;
      this.snapshotToSave = s;
      this.snapshotToApply = s;
      this.syncMembership();
    }
    this.send({ type: 'InstallSnapshotResponse', to: msg.from, term: this.currentTerm, matchIndex: outcome.matchIndex });
  }

  protected handleAppendEntriesResponse(msg: AppendEntriesResponse): void {
    if (!this.leader) return;
    if (msg.success && msg.matchIndex > this.log.lastIndex()) {
      this.refuse(`${msg.from} acknowledges index ${msg.matchIndex}, beyond the last entry ${this.log.lastIndex()}`);
      return;
    }
    if (this.leader.onAppendResponse(msg, this.now) && this.maybeCommit()) this.commitAdvanced();
  }

  protected handleInstallSnapshotResponse(msg: InstallSnapshotResponse): void {
    if (!this.leader) return;
    if (msg.matchIndex > this.log.lastIndex()) {
      this.refuse(`${msg.from} acknowledges index ${msg.matchIndex}, beyond the last entry ${this.log.lastIndex()}`);
      return;
    }
    if (this.leader.onSnapshotResponse(msg, this.now) && this.maybeCommit()) this.commitAdvanced();
  }

  /** Leader: moves the commit index to the highest index stored on a majority, if allowed. */
  protected maybeCommit(): boolean {
    if (!this.leader) return false;
    const index = this.leader.quorumMatchIndex(this.voters, this.log.stableIndex);
    // Only entries of the current term are committed by counting replicas (Raft §5.4.2); older
    // entries commit indirectly once a current-term entry above them commits (Figure 8).
    if (index <= this.commit || this.log.termAt(index) !== this.currentTerm) return false;
    this.commit = index;
    return true;
  }

  // ---- role changes ----

  protected becomeFollower(term: Term, leader: NodeId | null): void {
    invariant(term >= this.currentTerm, 'term went backwards', { id: this.id, term, currentTerm: this.currentTerm });
    if (term > this.currentTerm) {
      this.currentTerm = term;
      this.votedFor = null;
    }
    this.currentRole = 'follower';
    this.currentLeader = leader;
    this.leader = null;
    this.votes.clear();
    this.resetElectionTimer();
  }

  /** PreVote (Raft thesis §9.6): ask first whether we could win, without touching any term. */
  protected becomePreCandidate(): void {
    invariant(!this.isLearner, 'a learner never campaigns', { id: this.id });
    if (this.currentTerm + 1 > MAX_WIRE_VALUE) {
      // No node would accept the next term (messages.ts): stay a follower rather than campaign in vain.
      this.resetElectionTimer();
      return;
    }
    this.currentRole = 'precandidate';
    this.currentLeader = null;
    this.leader = null;
    this.startCampaign('PreVote', toTerm(this.currentTerm + 1));
  }

  protected becomeCandidate(): void {
    invariant(!this.isLearner, 'a learner never campaigns', { id: this.id });
    this.currentTerm = toTerm(this.currentTerm + 1);
    this.votedFor = this.id;
    this.currentRole = 'candidate';
    this.currentLeader = null;
    this.leader = null;
    this.startCampaign('Vote', this.currentTerm);
  }

  protected becomeLeader(): void {
    invariant(this.currentRole === 'candidate', 'only a candidate becomes leader', { id: this.id, role: this.currentRole });
    this.currentRole = 'leader';
    this.currentLeader = this.id;
    this.votes.clear();
    const peers = this.peers();
    const leaderTerm = this.currentTerm;
    this.leader = new LeaderState(
      {
        id: this.id,
        term: leaderTerm,
        log: this.log,
        commitIndex: () => this.commit,
        snapshot: () => this.snapshot,
        send: (m) => this.outbox.push(m),
      },
      peers,
      this.timing,
      this.now,
    );
    // Raft §8: a no-op of our own term lets the entries of earlier terms commit (§5.4.2).
    this.log.append({ index: this.log.lastIndex() + 1, term: leaderTerm, kind: 'noop', data: EMPTY });
    this.leader.replicateAll(this.now);
  }

  private startCampaign(type: 'PreVote' | 'Vote', campaignTerm: Term): void {
    this.votes.clear();
    this.votes.set(this.id, true);
    this.resetElectionTimer();
    if (tallyVotes(this.voters, this.votes) === 'won') {
      if (type === 'PreVote') this.becomeCandidate();
      else this.becomeLeader();
      return;
    }
    for (const v of this.voters) {
      if (v === this.id) continue;
      this.send({ type, to: v, term: campaignTerm, lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm() });
    }
  }

  // ---- helpers ----

  /**
   * An AppendEntries or InstallSnapshot of our term arrived: its sender leads this term. A term
   * has one leader, so a second claimant — or a non-voter claiming at all — can only be a forgery
   * (or a bug): it is refused (returns false) and changes nothing.
   */
  private followLeader(from: NodeId): boolean {
    const known = this.currentRole === 'leader' ? this.id : this.currentLeader;
    if (!this.mayLead(from) || (known !== null && known !== from)) {
      this.refuse(`${from} claims to lead term ${this.currentTerm}, which ${known === null ? 'only a voter can lead' : `${known} leads`}`);
      return false;
    }
    if (this.currentRole !== 'follower') this.becomeFollower(this.currentTerm, from);
    this.currentLeader = from;
    this.leaderContactMs = this.now;
    this.resetElectionTimer();
    return true;
  }

  protected inLease(): boolean {
    if (this.currentRole === 'leader') return true;
    return this.currentLeader !== null && this.now - this.leaderContactMs < this.options.electionTimeoutMinMs;
  }
}
