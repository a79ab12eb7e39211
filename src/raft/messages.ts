/**
 * The messages Raft nodes exchange. Plain objects of numbers, booleans and Uint8Arrays, so that a
 * transport can carry them over gRPC/protobuf without translation tables.
 *
 * Every message carries the sender's term; see RaftCore.step for how terms are compared.
 */
import type { NodeId, Term } from '../common';
import { decodeMembership, membershipProblem } from './membership';
import { type Entry, ENTRY_KINDS, type Snapshot } from './types';
import { MAX_WIRE_VALUE } from './limits';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/**
 * `PreVote` asks "would you vote for me at `term`?" without anyone changing term (Raft thesis
 * §9.6); its `term` is the sender's term + 1. `Vote` is the real RequestVote RPC.
 */
export interface VoteRequest extends Envelope {
  readonly type: 'PreVote' | 'Vote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: Term;
}

/** A granted response carries the request's term; a rejection carries the responder's term. */
export interface VoteResponse extends Envelope {
  readonly type: 'PreVoteResponse' | 'VoteResponse';
  readonly granted: boolean;
}

/** Also the heartbeat: an empty `entries` still carries `leaderCommit` and keeps followers quiet. */
export interface AppendEntries extends Envelope {
  readonly type: 'AppendEntries';
  readonly prevLogIndex: number;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
}

/**
 * On success `matchIndex` is the highest index known to equal the leader's log. On rejection
 * `rejectedIndex` is the refused `prevLogIndex`, and (`conflictIndex`, `conflictTerm`) is the
 * follower's hint: the largest index at or below it whose term is at most the refused
 * `prevLogTerm` (etcd-io/raft's `findConflictByTerm`), so the leader skips a whole term per round.
 */
export interface AppendEntriesResponse extends Envelope {
  readonly type: 'AppendEntriesResponse';
  readonly success: boolean;
  readonly matchIndex: number;
  readonly rejectedIndex: number;
  readonly conflictIndex: number;
  readonly conflictTerm: Term;
}

/** The whole snapshot in one message: metadata snapshots are small (see docs/raft.md). */
export interface InstallSnapshot extends Envelope {
  readonly type: 'InstallSnapshot';
  readonly snapshot: Snapshot;
}

export interface InstallSnapshotResponse extends Envelope {
  readonly type: 'InstallSnapshotResponse';
  readonly matchIndex: number;
}

export type Message = VoteRequest | VoteResponse | AppendEntries | AppendEntriesResponse | InstallSnapshot | InstallSnapshotResponse;

export type MessageType = Message['type'];

export const MESSAGE_TYPES: readonly MessageType[] = ['PreVote', 'PreVoteResponse', 'Vote', 'VoteResponse', 'AppendEntries', 'AppendEntriesResponse', 'InstallSnapshot', 'InstallSnapshotResponse'];

/** A term or an index: a non-negative integer that leaves room to grow (limits.ts MAX_WIRE_VALUE). */
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_WIRE_VALUE;
const NUMBER_RULE = `a non-negative integer at most 2^52`;

function entryProblem(e: unknown, at: string): string | null {
  if (typeof e !== 'object' || e === null) return `${at} is not an object`;
  const entry = e as Record<string, unknown>;
  if (!isIndex(entry.index) || entry.index === 0) return `${at}.index must be positive and at most 2^52`;
  if (!isIndex(entry.term)) return `${at}.term must be ${NUMBER_RULE}`;
  if (!ENTRY_KINDS.includes(entry.kind as never)) return `${at}.kind must be 'data', 'noop' or 'config'`;
  if (!(entry.data instanceof Uint8Array)) return `${at}.data must be a Uint8Array`;
  if (entry.kind === 'config') {
    const decoded = decodeMembership(entry.data);
    if ('problem' in decoded) return `${at} is a config entry whose ${decoded.problem}`;
  }
  return null;
}

/**
 * Checks the shape of a message that arrived from the network, so that a transport can refuse a
 * malformed one with a message a person can act on instead of feeding it to the core (brief §9).
 * Returns null when the message is well formed.
 */
export function messageProblem(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null) return 'message is not an object';
  const m = raw as Record<string, unknown>;
  if (!MESSAGE_TYPES.includes(m.type as MessageType)) return `unknown message type ${String(m.type)}`;
  for (const field of ['from', 'to', 'term'] as const) {
    if (!isIndex(m[field])) return `${field} must be ${NUMBER_RULE}`;
  }
  const needIndex = (...fields: string[]): string | null => {
    for (const f of fields) if (!isIndex(m[f])) return `${String(m.type)}.${f} must be ${NUMBER_RULE}`;
    return null;
  };
  const needBool = (f: string): string | null => (typeof m[f] === 'boolean' ? null : `${String(m.type)}.${f} must be a boolean`);
  switch (m.type as MessageType) {
    case 'PreVote':
    case 'Vote':
      return needIndex('lastLogIndex', 'lastLogTerm') ?? ((m.lastLogTerm as number) > (m.term as number) ? `${String(m.type)}.lastLogTerm is above the message term` : null);
    case 'PreVoteResponse':
    case 'VoteResponse':
      return needBool('granted');
    case 'AppendEntries': {
      const p = needIndex('prevLogIndex', 'prevLogTerm', 'leaderCommit');
      if (p) return p;
      if (!Array.isArray(m.entries)) return 'AppendEntries.entries must be an array';
      const prev = m.prevLogIndex as number;
      // A leader's log never holds a term above its own, and terms never fall along a log.
      if ((m.prevLogTerm as number) > (m.term as number)) return 'AppendEntries.prevLogTerm is above the message term';
      let lastTerm = m.prevLogTerm as number;
      for (let i = 0; i < m.entries.length; i++) {
        const problem = entryProblem(m.entries[i], `AppendEntries.entries[${i}]`);
        if (problem) return problem;
        const e = m.entries[i] as Entry;
        if (e.index !== prev + 1 + i) return 'AppendEntries.entries must be contiguous after prevLogIndex';
        if (e.term < lastTerm || e.term > (m.term as number)) return 'AppendEntries.entries terms must not fall and not exceed the message term';
        lastTerm = e.term;
      }
      return null;
    }
    case 'AppendEntriesResponse':
      return needBool('success') ?? needIndex('matchIndex', 'rejectedIndex', 'conflictIndex', 'conflictTerm');
    case 'InstallSnapshot': {
      const s = m.snapshot as Record<string, unknown> | null | undefined;
      if (typeof s !== 'object' || s === null) return 'InstallSnapshot.snapshot must be an object';
      if (!isIndex(s.lastIndex) || !isIndex(s.lastTerm)) return `InstallSnapshot.snapshot lastIndex/lastTerm must be ${NUMBER_RULE}`;
      if ((s.lastTerm as number) > (m.term as number)) return 'InstallSnapshot.snapshot.lastTerm is above the message term';
      if (!(s.data instanceof Uint8Array)) return 'InstallSnapshot.snapshot.data must be a Uint8Array';
      if (s.membership !== undefined) {
        const problem = membershipProblem(s.membership);
        if (problem !== null) return `InstallSnapshot.snapshot.membership: ${problem}`;
      }
      return null;
    }
    case 'InstallSnapshotResponse':
      return needIndex('matchIndex');
  }
}

/** One line for logs and test transcripts; the same message always reads the same. */
export function describeMessage(m: Message): string {
  const head = `${m.type} ${m.from}->${m.to} term=${m.term}`;
  switch (m.type) {
    case 'PreVote':
    case 'Vote':
      return `${head} last=${m.lastLogIndex}@${m.lastLogTerm}`;
    case 'PreVoteResponse':
    case 'VoteResponse':
      return `${head} ${m.granted ? 'granted' : 'rejected'}`;
    case 'AppendEntries': {
      const span = m.entries.length > 0 ? ` entries=${m.entries[0]!.index}..${m.entries[m.entries.length - 1]!.index}` : ' entries=none';
      return `${head} prev=${m.prevLogIndex}@${m.prevLogTerm}${span} commit=${m.leaderCommit}`;
    }
    case 'AppendEntriesResponse':
      return m.success ? `${head} ok match=${m.matchIndex}` : `${head} reject prev=${m.rejectedIndex} hint=${m.conflictIndex}@${m.conflictTerm}`;
    case 'InstallSnapshot':
      return `${head} snapshot=${m.snapshot.lastIndex}@${m.snapshot.lastTerm} bytes=${m.snapshot.data.byteLength}`;
    case 'InstallSnapshotResponse':
      return `${head} match=${m.matchIndex}`;
  }
}
