/**
 * The safety properties the Raft simulation checks after every step (Raft §5.2–§5.4, Figure 3):
 *
 * - Election Safety: at most one leader per term.
 * - Log Matching: two logs holding an entry with the same index and term hold the same entry and
 *   agree on the term before it (checked on every append, so by induction on whole prefixes).
 * - Committed entries are never lost or changed: every node's entries up to its commit index equal
 *   the first committed entry ever seen at that index; no truncation reaches a commit index.
 * - Leader Completeness: a new leader holds every entry committed so far.
 * - State Machine Safety: every node applies the same entry at each index, in order, without gaps
 *   (compared through a running digest that snapshots carry along).
 * - Commit index never decreases on a node unless it restarted from persisted state.
 * - Learners never campaign, lead or grant votes.
 * - Each client value commits at most once, and at the (index, term) its proposal returned.
 */
import type { NodeId, Term } from '../../src/common/types';
import type { Membership } from '../../src/raft/membership';
import type { RaftCore } from '../../src/raft/raft-core';
import type { Entry, Ready } from '../../src/raft/types';

export class SimViolation extends Error {}

function fail(message: string): never {
  throw new SimViolation(message);
}

const decoder = new TextDecoder();

/** A short printable identity of an entry's content. */
export function entryKey(e: Entry): string {
  return e.kind === 'noop' ? 'noop' : decoder.decode(e.data);
}

/** Running 32-bit digest of an applied sequence (FNV-1a over index, term and content). */
export function chainDigest(previous: number, e: Entry): number {
  let h = previous ^ 0x811c9dc5;
  const mix = (n: number) => {
    h ^= n & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (n >>> 8) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (n >>> 16) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (n >>> 24) & 0xff;
    h = Math.imul(h, 0x01000193);
  };
  mix(e.index);
  mix(e.term);
  const key = entryKey(e);
  for (let i = 0; i < key.length; i++) mix(key.charCodeAt(i));
  return h >>> 0;
}

/** What the checker keeps per node and incarnation. */
export interface NodeWatch {
  readonly id: NodeId;
  readonly isLearner: boolean;
  /** Highest commit index seen in this incarnation. */
  lastCommit: number;
  /** The commit index when the node last handed out a ready(). */
  commitAtLastReady: number;
  /** Entries up to here were compared with the committed record (and can change only by a reported truncation). */
  verifiedCommit: number;
  wasLeader: boolean;
}

interface Recorded {
  readonly term: Term;
  readonly key: string;
  /** The term of the node that first saw it committed: at least the term it was committed in. */
  readonly seenInTerm: Term;
}

export class RaftChecker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly committed = new Map<number, Recorded>();
  private maxCommitted = 0;
  /** `${index}:${term}` → content and the term before it. */
  private readonly seen = new Map<string, { key: string; prevTerm: Term | undefined }>();
  private readonly digests = new Map<number, number>();
  private readonly committedValues = new Map<string, number>();
  private readonly proposals = new Map<string, string>();

  get maxCommittedIndex(): number {
    return this.maxCommitted;
  }

  committedAt(index: number): Recorded | undefined {
    return this.committed.get(index);
  }

  /** After every step that touched `core`. */
  checkNode(w: NodeWatch, core: RaftCore): void {
    if (w.isLearner && core.role !== 'follower') fail(`learner ${w.id} became ${core.role} in term ${core.term}`);
    if (core.role === 'leader') {
      const other = this.leaders.get(core.term);
      if (other !== undefined && other !== w.id) fail(`two leaders in term ${core.term}: ${other} and ${w.id}`);
      this.leaders.set(core.term, w.id);
    }
    if (core.commitIndex < w.lastCommit) fail(`node ${w.id} commit index went back from ${w.lastCommit} to ${core.commitIndex}`);
    if (core.commitIndex > core.lastIndex) fail(`node ${w.id} commit index ${core.commitIndex} beyond its last index ${core.lastIndex}`);
    w.lastCommit = core.commitIndex;
    this.checkCommittedPrefix(w, core, Math.max(w.verifiedCommit, core.snapshotIndex) + 1, core.commitIndex);
    w.verifiedCommit = core.commitIndex;
    if (core.role === 'leader' && !w.wasLeader) this.checkLeaderCompleteness(w, core);
    if (core.role === 'leader') this.checkOneChangeInFlight(w, core);
    w.wasLeader = core.role === 'leader';
  }

  /**
   * A membership change made through `core.changeMembership`: the membership in force must
   * differ from the one before by one node (Raft thesis §4.1), or not at all.
   */
  onMembershipChange(w: NodeWatch, before: Membership, after: Membership): void {
    const voters = (m: Membership) => new Set(m.voters.map((v) => v.id));
    const a = voters(before);
    const b = voters(after);
    const moved = [...a].filter((v) => !b.has(v)).length + [...b].filter((v) => !a.has(v)).length;
    if (moved > 1) fail(`membership change on leader ${w.id} moves ${moved} voters at once: [${[...a].join(',')}] -> [${[...b].join(',')}]`);
  }

  /**
   * A leader's log holds at most one config entry that no node has seen committed (one change at
   * a time). Its own commit index may lag: a new leader can hold an earlier leader's change
   * that committed before it learnt so.
   */
  private checkOneChangeInFlight(w: NodeWatch, core: RaftCore): void {
    let inFlight = 0;
    for (let i = Math.max(core.commitIndex, core.snapshotIndex) + 1; i <= core.lastIndex; i++) {
      if (core.entryAt(i)?.kind !== 'config' || this.committed.has(i)) continue;
      if (++inFlight > 1) fail(`leader ${w.id} of term ${core.term} holds two uncommitted membership changes (the second at ${i})`);
    }
  }

  /** The whole retained committed prefix of a node, not just what moved (run periodically and at the end). */
  fullCheck(w: NodeWatch, core: RaftCore): void {
    this.checkCommittedPrefix(w, core, core.snapshotIndex + 1, core.commitIndex);
    if (core.role === 'leader') this.checkLeaderCompleteness(w, core);
  }

  /** Every ready() a node produces, before the driver acts on it. */
  checkReady(w: NodeWatch, core: RaftCore, rd: Ready): void {
    // The truncation happened after the previous ready(), when the commit index was at least what
    // it was then. (Not the current one: with asynchronous writes a ready can be taken steps after
    // the truncation, and the commit index may since have passed it over new entries.)
    if (rd.truncateFrom !== undefined && rd.truncateFrom <= w.commitAtLastReady) {
      fail(`node ${w.id} truncates from ${rd.truncateFrom}, at or below its commit index ${w.commitAtLastReady}`);
    }
    w.commitAtLastReady = core.commitIndex;
    for (const e of rd.entriesToAppend) {
      const prevTerm = core.termAt(e.index - 1);
      const id = `${e.index}:${e.term}`;
      const key = entryKey(e);
      const known = this.seen.get(id);
      if (!known) {
        this.seen.set(id, { key, prevTerm });
      } else {
        if (known.key !== key) fail(`log matching: entry ${id} is "${known.key}" elsewhere but "${key}" on node ${w.id}`);
        if (known.prevTerm !== undefined && prevTerm !== undefined && known.prevTerm !== prevTerm) {
          fail(`log matching: before entry ${id} node ${w.id} has term ${prevTerm}, another log has ${known.prevTerm}`);
        }
        if (known.prevTerm === undefined) known.prevTerm = prevTerm;
      }
    }
    if (w.isLearner) {
      for (const m of rd.messages) {
        if (m.type === 'PreVote' || m.type === 'Vote') fail(`learner ${w.id} sent ${m.type}`);
        if ((m.type === 'PreVoteResponse' || m.type === 'VoteResponse') && m.granted) fail(`learner ${w.id} granted a ${m.type}`);
        if (m.type === 'AppendEntries' || m.type === 'InstallSnapshot') fail(`learner ${w.id} sent ${m.type}`);
      }
    }
  }

  /** A node's state machine applied `e`; returns the new digest. */
  onApply(w: NodeWatch, observerTerm: Term, appliedIndex: number, digest: number, e: Entry): number {
    if (e.index !== appliedIndex + 1) fail(`node ${w.id} applied index ${e.index} after ${appliedIndex}`);
    this.recordCommitted(w, observerTerm, e.index, e.term, entryKey(e));
    const next = chainDigest(digest, e);
    const known = this.digests.get(e.index);
    if (known === undefined) this.digests.set(e.index, next);
    else if (known !== next) fail(`state machine safety: node ${w.id} reached a different state at index ${e.index}`);
    if (e.kind === 'data') {
      const value = entryKey(e);
      const at = this.committedValues.get(value);
      if (at === undefined) this.committedValues.set(value, e.index);
      else if (at !== e.index) fail(`value "${value}" committed twice, at ${at} and ${e.index}`);
    }
    return next;
  }

  /** A node replaced its state machine with a snapshot. */
  onSnapshotApplied(w: NodeWatch, appliedIndex: number, snapshotIndex: number, digest: number): void {
    if (snapshotIndex <= appliedIndex) fail(`node ${w.id} installed snapshot ${snapshotIndex} at or below its applied index ${appliedIndex}`);
    const known = this.digests.get(snapshotIndex);
    if (known === undefined) this.digests.set(snapshotIndex, digest);
    else if (known !== digest) fail(`state machine safety: node ${w.id} installed a snapshot at ${snapshotIndex} with a different state`);
  }

  onProposal(index: number, term: Term, value: string): void {
    const id = `${index}:${term}`;
    if (this.proposals.has(id)) fail(`two proposals were both given (index ${index}, term ${term})`);
    this.proposals.set(id, value);
    const c = this.committed.get(index);
    if (c && c.term === term && c.key !== value) fail(`proposal "${value}" at ${id} but "${c.key}" committed there`);
  }

  private recordCommitted(w: NodeWatch, observerTerm: Term, index: number, t: Term, key: string): void {
    const known = this.committed.get(index);
    if (!known) {
      this.committed.set(index, { term: t, key, seenInTerm: observerTerm });
      this.maxCommitted = Math.max(this.maxCommitted, index);
      const proposed = this.proposals.get(`${index}:${t}`);
      if (proposed !== undefined && proposed !== key) fail(`proposal "${proposed}" at ${index}:${t} but "${key}" committed there`);
    } else if (known.term !== t || known.key !== key) {
      fail(`committed entry ${index} changed: was term ${known.term} "${known.key}", node ${w.id} has term ${t} "${key}"`);
    }
  }

  private checkCommittedPrefix(w: NodeWatch, core: RaftCore, from: number, to: number): void {
    for (let i = from; i <= to; i++) {
      const e = core.entryAt(i);
      if (!e) fail(`node ${w.id} lost committed entry ${i} (snapshot ${core.snapshotIndex}, last ${core.lastIndex})`);
      this.recordCommitted(w, core.term, i, e.term, entryKey(e));
    }
  }

  private checkLeaderCompleteness(w: NodeWatch, core: RaftCore): void {
    for (let i = core.snapshotIndex + 1; i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      // Raft §5.4.3 speaks of leaders of later terms: a candidate of an older term may still
      // collect delayed votes and lead that old term without the entry (it can commit nothing).
      if (!c || c.seenInTerm >= core.term) continue;
      const e = core.entryAt(i);
      if (!e || e.term !== c.term || entryKey(e) !== c.key) {
        fail(`leader completeness: leader ${w.id} of term ${core.term} lacks committed entry ${i} (term ${c.term} "${c.key}")`);
      }
    }
  }
}
