/**
 * A follower's side of log replication: the consistency check and append of AppendEntries (Raft
 * §5.3, Figure 2) and InstallSnapshot (Raft §7). Pure functions over the node's log.
 */
import { invariant, type Term, term as toTerm } from '../common';
import type { AppendEntries } from './messages';
import type { RaftLog } from './raft-log';
import type { Snapshot } from './types';

export interface AppendOutcome {
  readonly success: boolean;
  /** success: highest index known to equal the leader's log. */
  readonly matchIndex: number;
  /** rejection: the hint (see AppendEntriesResponse). */
  readonly conflictIndex: number;
  readonly conflictTerm: Term;
  readonly commitIndex: number;
}

/** A message no correct leader sends: it disagrees with an entry this node knows is committed. */
export interface AppendRefused {
  readonly refused: string;
}

export function acceptAppend(log: RaftLog, commitIndex: number, msg: AppendEntries): AppendOutcome | AppendRefused {
  let prevLogIndex = msg.prevLogIndex;
  let prevLogTerm = msg.prevLogTerm;
  let entries = msg.entries;

  if (prevLogIndex < commitIndex) {
    // Our entries up to commitIndex are committed, so every leader of this or a later term holds
    // them unchanged (Leader Completeness, Raft §5.4.3). Skip that prefix instead of checking it:
    // part of it may already be compacted into our snapshot.
    const skip = commitIndex - prevLogIndex;
    if (skip >= entries.length) {
      return { success: true, matchIndex: commitIndex, conflictIndex: 0, conflictTerm: toTerm(0), commitIndex };
    }
    prevLogTerm = entries[skip - 1]!.term;
    prevLogIndex = commitIndex;
    entries = entries.slice(skip);
    // Leader Completeness makes this impossible for a real leader; only a forgery gets here.
    const ours = log.termAt(prevLogIndex);
    if (ours !== undefined && ours !== prevLogTerm) {
      return { refused: `AppendEntries gives committed entry ${prevLogIndex} term ${prevLogTerm}, not ${ours}` };
    }
  }

  if (!log.matchTerm(prevLogIndex, prevLogTerm)) {
    const conflictIndex = log.findConflictByTerm(Math.min(prevLogIndex, log.lastIndex()), prevLogTerm);
    return {
      success: false,
      matchIndex: 0,
      conflictIndex,
      conflictTerm: log.termAt(conflictIndex) ?? toTerm(0),
      commitIndex,
    };
  }

  const truncatedFrom = log.appendFromLeader(entries);
  invariant(truncatedFrom === null || truncatedFrom > commitIndex, 'truncating a committed entry', { truncatedFrom, commitIndex });
  const lastNewIndex = prevLogIndex + entries.length;
  return {
    success: true,
    matchIndex: lastNewIndex,
    conflictIndex: 0,
    conflictTerm: toTerm(0),
    // Raft Figure 2: commit up to the leader's commit, but never past what this message proved matches.
    commitIndex: Math.max(commitIndex, Math.min(msg.leaderCommit, lastNewIndex)),
  };
}

export type SnapshotOutcome =
  /** Already covered by our commit index: nothing to do. */
  | { readonly kind: 'stale'; readonly matchIndex: number }
  /** Our log holds the snapshot's last entry: commit up to it and keep the entries (Raft §7). */
  | { readonly kind: 'fast-forward'; readonly matchIndex: number }
  /** Our log is behind or diverges: replace it with the snapshot. */
  | { readonly kind: 'restore'; readonly matchIndex: number };

export function classifySnapshot(log: RaftLog, commitIndex: number, snapshot: Snapshot): SnapshotOutcome {
  if (snapshot.lastIndex <= commitIndex) return { kind: 'stale', matchIndex: commitIndex };
  if (log.matchTerm(snapshot.lastIndex, snapshot.lastTerm)) return { kind: 'fast-forward', matchIndex: snapshot.lastIndex };
  return { kind: 'restore', matchIndex: snapshot.lastIndex };
}
