import { type NodeId, type Term } from '../common';
import { type Message, messageProblem } from './messages';
import { decodeMembership, encodeMembership, type Membership } from './membership';
import type { Entry } from './types';

/** The flat protobuf shape of a Raft message (proto/internal.proto RaftMessage). */
export interface RaftMessageWire {
  type: string;
  from: number;
  to: number;
  term: number;
  lastLogIndex?: number;
  lastLogTerm?: number;
  granted?: boolean;
  prevLogIndex?: number;
  prevLogTerm?: number;
  entries?: { index: number; term: number; kind: string; data: Uint8Array }[];
  leaderCommit?: number;
  success?: boolean;
  matchIndex?: number;
  rejectedIndex?: number;
  conflictIndex?: number;
  conflictTerm?: number;
  /** `membership` is membership.ts's encoding; empty when the bootstrap voters hold. */
  snapshot?: { lastIndex: number; lastTerm: number; data: Uint8Array; membership?: Uint8Array } | null;
}

export function toWire(m: Message): RaftMessageWire {
  if (m.type === 'InstallSnapshot' && m.snapshot.membership) {
    return { ...m, snapshot: { ...m.snapshot, membership: encodeMembership(m.snapshot.membership) } } as unknown as RaftMessageWire;
  }
  return m as unknown as RaftMessageWire;
}

/** Rebuilds a core Message from a decoded protobuf one, keeping only the fields its type has; null if malformed. */
export function fromWire(w: RaftMessageWire): { message: Message } | { problem: string } {
  const base = { from: w.from as NodeId, to: w.to as NodeId, term: w.term as Term };
  let m: unknown;
  switch (w.type) {
    case 'PreVote':
    case 'Vote':
      m = { ...base, type: w.type, lastLogIndex: w.lastLogIndex ?? 0, lastLogTerm: (w.lastLogTerm ?? 0) as Term };
      break;
    case 'PreVoteResponse':
    case 'VoteResponse':
      m = { ...base, type: w.type, granted: w.granted === true };
      break;
    case 'AppendEntries':
      m = {
        ...base,
        type: w.type,
        prevLogIndex: w.prevLogIndex ?? 0,
        prevLogTerm: (w.prevLogTerm ?? 0) as Term,
        entries: (w.entries ?? []).map((e): Entry => ({ index: e.index, term: e.term as Term, kind: e.kind as Entry['kind'], data: e.data })),
        leaderCommit: w.leaderCommit ?? 0,
      };
      break;
    case 'AppendEntriesResponse':
      m = {
        ...base,
        type: w.type,
        success: w.success === true,
        matchIndex: w.matchIndex ?? 0,
        rejectedIndex: w.rejectedIndex ?? 0,
        conflictIndex: w.conflictIndex ?? 0,
        conflictTerm: (w.conflictTerm ?? 0) as Term,
      };
      break;
    case 'InstallSnapshot': {
      let membership: Membership | undefined;
      if (w.snapshot?.membership && w.snapshot.membership.byteLength > 0) {
        const decoded = decodeMembership(w.snapshot.membership);
        if ('problem' in decoded) return { problem: `InstallSnapshot.snapshot.membership: ${decoded.problem}` };
        membership = decoded.membership;
      }
      m = {
        ...base,
        type: w.type,
        snapshot: w.snapshot ? { lastIndex: w.snapshot.lastIndex, lastTerm: w.snapshot.lastTerm as Term, data: w.snapshot.data, ...(membership ? { membership } : {}) } : null,
      };
      break;
    }
    case 'InstallSnapshotResponse':
      m = { ...base, type: w.type, matchIndex: w.matchIndex ?? 0 };
      break;
    default:
      return { problem: `unknown Raft message type "${String(w.type)}"` };
  }
  const problem = messageProblem(m);
  return problem === null ? { message: m as Message } : { problem };
}
