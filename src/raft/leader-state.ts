/**
 * What a node keeps only while it leads one term (the name follows Kafka's raft `LeaderState`):
 * per-follower progress, the AppendEntries / InstallSnapshot messages it sends, the answers it
 * reads back, the quorum match index and the CheckQuorum round.
 */
import { invariant, type NodeId, type Term, term as toTerm } from '../common';
import { MAX_APPEND_BYTES, MAX_APPEND_ENTRIES } from './limits';
import type { AppendEntriesResponse, InstallSnapshotResponse, Message } from './messages';
import { Progress } from './progress';
import { quorumIndex, quorumSize } from './quorum';
import type { RaftLog } from './raft-log';
import type { Snapshot } from './types';

/** What the leader reads from and does through its node. */
export interface LeaderContext {
  readonly id: NodeId;
  readonly term: Term;
  readonly log: RaftLog;
  commitIndex(): number;
  /** The snapshot covering log.snapshotIndex; present whenever that index is above 0. */
  snapshot(): Snapshot | null;
  send(msg: Message): void;
}

export interface LeaderTiming {
  readonly heartbeatIntervalMs: number;
  /** A pipelined append unanswered this long is presumed lost; the follower is probed again. */
  readonly appendRetryMs: number;
  /** An unanswered InstallSnapshot is sent again after this long. */
  readonly snapshotResendMs: number;
  /** CheckQuorum round length: the minimum election timeout. */
  readonly checkQuorumIntervalMs: number;
}

export interface Peer {
  readonly id: NodeId;
  readonly isLearner: boolean;
}

export class LeaderState {
  readonly progress = new Map<NodeId, Progress>();
  heartbeatDeadlineMs: number;
  checkQuorumDeadlineMs: number;

  constructor(
    private readonly ctx: LeaderContext,
    peers: readonly Peer[],
    private readonly timing: LeaderTiming,
    nowMs: number,
  ) {
    for (const p of peers) this.addPeer(p, nowMs);
    this.heartbeatDeadlineMs = nowMs + timing.heartbeatIntervalMs;
    this.checkQuorumDeadlineMs = nowMs + timing.checkQuorumIntervalMs;
  }

  /**
   * The membership changed (a config entry was appended, or truncated away): followers that
   * joined get progress and a probe, those that left are forgotten, a promoted one now counts.
   */
  setPeers(peers: readonly Peer[], nowMs: number): void {
    const ids = new Set(peers.map((p) => p.id));
    for (const id of [...this.progress.keys()]) if (!ids.has(id)) this.progress.delete(id);
    for (const p of peers) {
      const pr = this.progress.get(p.id);
      if (pr) pr.isLearner = p.isLearner;
      else this.replicate(this.addPeer(p, nowMs), nowMs);
    }
  }

  private addPeer(p: Peer, nowMs: number): Progress {
    const pr = new Progress(p.id, p.isLearner, this.ctx.log.lastIndex() + 1);
    pr.lastAnswerMs = nowMs;
    this.progress.set(p.id, pr);
    return pr;
  }

  /** Sends each follower whatever its flow control allows (after a proposal, at the start of the term). */
  replicateAll(nowMs: number): void {
    for (const pr of this.progress.values()) this.replicate(pr, nowMs);
  }

  /** Every heartbeat interval: keeps followers quiet, spreads the commit index, retries lost sends. */
  heartbeat(nowMs: number): void {
    for (const pr of this.progress.values()) {
      switch (pr.state) {
        case 'probe':
          pr.probeSent = false;
          this.replicate(pr, nowMs);
          break;
        case 'replicate':
          // Answers to heartbeats do not count here: a follower can answer every heartbeat while
          // the append carrying the last entries was lost, and nothing else would resend them.
          if (pr.appendOverdue(nowMs, this.timing.appendRetryMs)) {
            pr.becomeProbe();
            this.replicate(pr, nowMs);
          } else {
            this.sendEmpty(pr);
          }
          break;
        case 'snapshot':
          if (nowMs - pr.snapshotSentMs >= this.timing.snapshotResendMs) this.sendSnapshot(pr, nowMs);
          else this.sendEmpty(pr);
          break;
      }
    }
    this.heartbeatDeadlineMs = nowMs + this.timing.heartbeatIntervalMs;
  }

  /** The commit index moved: tell the followers that could learn it and have nothing else coming. */
  commitAdvanced(): void {
    for (const pr of this.progress.values()) this.maybeSendCommit(pr);
  }

  /** Returns whether the follower's matchIndex moved (so the commit index may move). */
  onAppendResponse(msg: AppendEntriesResponse, nowMs: number): boolean {
    const pr = this.answered(msg.from, nowMs);
    if (!pr) return false;
    if (!msg.success) {
      const log = this.ctx.log;
      const probeFrom = msg.conflictTerm > 0 ? log.findConflictByTerm(msg.conflictIndex, msg.conflictTerm) : msg.conflictIndex;
      if (pr.maybeDecrease(msg.rejectedIndex, probeFrom)) this.replicate(pr, nowMs);
      return false;
    }
    const advanced = pr.maybeUpdate(msg.matchIndex);
    if (pr.state === 'probe' || (pr.state === 'snapshot' && pr.matchIndex >= this.ctx.log.snapshotIndex)) {
      pr.becomeReplicate();
    }
    this.replicate(pr, nowMs);
    // The commit may have moved before this follower's acknowledgement came in; without this it
    // would learn the commit only at the next heartbeat.
    this.maybeSendCommit(pr);
    return advanced;
  }

  onSnapshotResponse(msg: InstallSnapshotResponse, nowMs: number): boolean {
    const pr = this.answered(msg.from, nowMs);
    if (!pr) return false;
    const advanced = pr.maybeUpdate(msg.matchIndex);
    if (pr.state === 'snapshot' && pr.matchIndex >= pr.pendingSnapshotIndex) pr.becomeReplicate();
    this.replicate(pr, nowMs);
    return advanced;
  }

  /** The highest index stored by a majority of voters; `selfMatch` is what the leader has made durable. */
  quorumMatchIndex(voters: readonly NodeId[], selfMatch: number): number {
    return quorumIndex(voters.map((v) => (v === this.ctx.id ? selfMatch : this.progress.get(v)!.matchIndex)));
  }

  /** CheckQuorum: did a majority of voters answer during the round now ending? Starts the next round. */
  checkQuorum(voters: readonly NodeId[], nowMs: number): boolean {
    let active = 0;
    for (const v of voters) {
      if (v === this.ctx.id || this.progress.get(v)!.recentlyActive) active++;
    }
    for (const pr of this.progress.values()) pr.recentlyActive = false;
    this.checkQuorumDeadlineMs = nowMs + this.timing.checkQuorumIntervalMs;
    return active >= quorumSize(voters.length);
  }

  private answered(from: NodeId, nowMs: number): Progress | undefined {
    const pr = this.progress.get(from);
    if (pr) {
      pr.recentlyActive = true;
      pr.lastAnswerMs = nowMs;
    }
    return pr;
  }

  /** Whether `id` answered at this term since `sinceMs` (since the term began, for a new leader). */
  answeredSince(id: NodeId, sinceMs: number): boolean {
    const pr = this.progress.get(id);
    return pr !== undefined && pr.lastAnswerMs >= sinceMs;
  }

  private maybeSendCommit(pr: Progress): void {
    const learnable = Math.min(this.ctx.commitIndex(), pr.matchIndex);
    if (pr.state === 'replicate' && pr.nextIndex > this.ctx.log.lastIndex() && learnable > pr.sentCommit) this.sendEmpty(pr);
  }

  private replicate(pr: Progress, nowMs: number): void {
    const log = this.ctx.log;
    switch (pr.state) {
      case 'probe':
        if (pr.probeSent) return;
        if (pr.nextIndex <= log.snapshotIndex) {
          this.sendSnapshot(pr, nowMs);
          return;
        }
        this.sendAppend(pr);
        pr.probeSent = true;
        return;
      case 'replicate':
        while (!pr.windowFull() && pr.nextIndex <= log.lastIndex()) {
          if (pr.nextIndex <= log.snapshotIndex) {
            this.sendSnapshot(pr, nowMs);
            return;
          }
          pr.sentAppend(this.sendAppend(pr), nowMs);
        }
        return;
      case 'snapshot':
        return;
    }
  }

  /** Sends entries from pr.nextIndex (possibly none); returns the last index sent. */
  private sendAppend(pr: Progress): number {
    const log = this.ctx.log;
    const prevLogIndex = pr.nextIndex - 1;
    const prevLogTerm = log.termAt(prevLogIndex);
    invariant(prevLogTerm !== undefined, 'append from a compacted index', { to: pr.id, prevLogIndex, snapshotIndex: log.snapshotIndex });
    const entries = log.slice(pr.nextIndex, log.lastIndex(), MAX_APPEND_BYTES, MAX_APPEND_ENTRIES);
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(this.ctx.commitIndex(), prevLogIndex + entries.length));
    this.ctx.send({
      type: 'AppendEntries',
      from: this.ctx.id,
      to: pr.id,
      term: this.ctx.term,
      prevLogIndex,
      prevLogTerm,
      entries,
      leaderCommit: this.ctx.commitIndex(),
    });
    return prevLogIndex + entries.length;
  }

  /**
   * A heartbeat: no entries, checked against an index the follower is known to hold (its match
   * index, or our snapshot when that is higher), so that pipelined appends still on the way
   * cannot make it fail.
   */
  private sendEmpty(pr: Progress): void {
    const log = this.ctx.log;
    const prevLogIndex = Math.max(pr.matchIndex, log.snapshotIndex);
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(this.ctx.commitIndex(), prevLogIndex));
    this.ctx.send({
      type: 'AppendEntries',
      from: this.ctx.id,
      to: pr.id,
      term: this.ctx.term,
      prevLogIndex,
      prevLogTerm: log.termAt(prevLogIndex) ?? toTerm(0),
      entries: [],
      leaderCommit: this.ctx.commitIndex(),
    });
  }

  private sendSnapshot(pr: Progress, nowMs: number): void {
    const snapshot = this.ctx.snapshot();
    invariant(snapshot !== null && snapshot.lastIndex === this.ctx.log.snapshotIndex, 'no snapshot for the compacted prefix', {
      to: pr.id,
      snapshotIndex: this.ctx.log.snapshotIndex,
    });
    this.ctx.send({ type: 'InstallSnapshot', from: this.ctx.id, to: pr.id, term: this.ctx.term, snapshot });
    pr.becomeSnapshot(snapshot.lastIndex, nowMs);
  }
}
