/**
 * Values shared by the Raft core, its storage and its drivers. Everything here is plain data
 * (numbers, strings, booleans, Uint8Array) so that it can cross gRPC and the disk unchanged.
 */
import type { ErrorCode, NodeId, Term } from '../common';
import type { Membership } from './membership';
import type { Message } from './messages';

/**
 * A `noop` entry is appended by every new leader (Raft §8); a `config` entry holds a membership
 * (membership.ts). State machines skip both but count their indexes.
 */
export type EntryKind = 'data' | 'noop' | 'config';

/** One log entry. Immutable once created: the core, the driver and the network share the same objects. */
export interface Entry {
  readonly index: number;
  readonly term: Term;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be durable before a node answers anyone (Raft Figure 2, "persistent state"). */
export interface HardState {
  readonly term: Term;
  readonly votedFor: NodeId | null;
}

/** A state-machine image covering every entry up to and including `lastIndex`. */
export interface Snapshot {
  readonly lastIndex: number;
  readonly lastTerm: Term;
  readonly data: Uint8Array;
  /** The membership in force at lastIndex; absent when no config entry preceded it (the bootstrap voters hold). */
  readonly membership?: Membership;
}

export type RaftRole = 'follower' | 'precandidate' | 'candidate' | 'leader';

/** What a node loads from its storage on start. `entries` start right after the snapshot (or at 1). */
export interface RaftInitialState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
}

/** A follower's replication state as the leader sees it, for status displays. */
export interface FollowerProgress {
  readonly id: NodeId;
  readonly isLearner: boolean;
  readonly matchIndex: number;
  readonly nextIndex: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  /** Whether the follower answered since the last CheckQuorum round. */
  readonly recentlyActive: boolean;
}

export const ENTRY_KINDS: readonly EntryKind[] = ['data', 'noop', 'config'];

/**
 * Everything the driver must do after an input, in this order: persist `hardState`,
 * `truncateFrom`, `snapshotToSave`, `entriesToAppend` (durably); then send `messages` (a vote or
 * an acknowledgement promises durability, so never before); then apply `snapshotToApply` and
 * `committed`; then call advance().
 */
export interface Ready {
  /** Present when the term or the vote changed. */
  readonly hardState?: HardState;
  /** Drop persisted entries at and after this index. */
  readonly truncateFrom?: number;
  /** Save atomically, then drop persisted entries at or below its lastIndex. */
  readonly snapshotToSave?: Snapshot;
  /** Append after the above; the first follows the last persisted entry (or the snapshot). */
  readonly entriesToAppend: Entry[];
  /** Send only once everything above is durable. */
  readonly messages: Message[];
  /** A snapshot received from the leader: replace the state machine with it, before `committed`. */
  readonly snapshotToApply?: Snapshot;
  /** Committed entries to apply, in index order; skip kind 'noop' but count its index. */
  readonly committed: Entry[];
  /** Call tick() no later than this. */
  readonly nextDeadlineMs: number;
}

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: Term }
  | {
      readonly ok: false;
      readonly code: ErrorCode.NOT_CONTROLLER | ErrorCode.MESSAGE_TOO_LARGE | ErrorCode.THROTTLING_QUOTA_EXCEEDED;
      /** The leader this node knows of, if any: where to send a NOT_CONTROLLER proposal. */
      readonly leaderHint: NodeId | null;
    };

export type MembershipChangeResult =
  | { readonly ok: true; readonly index: number; readonly term: Term; readonly membership: Membership }
  | {
      readonly ok: false;
      /** NOT_CONTROLLER: ask `leaderHint`; REQUEST_TIMED_OUT: try again soon; DUPLICATE_VOTER, VOTER_NOT_FOUND, INVALID_REQUEST: the change makes no sense. */
      readonly code: ErrorCode.NOT_CONTROLLER | ErrorCode.REQUEST_TIMED_OUT | ErrorCode.DUPLICATE_VOTER | ErrorCode.VOTER_NOT_FOUND | ErrorCode.INVALID_REQUEST;
      readonly reason: string;
      readonly leaderHint: NodeId | null;
    };
