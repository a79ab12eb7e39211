/** The Raft layer's public surface: the pure core, its messages and types. Its shell (driver, file storage, gRPC transport) is raft/io. */
export { RaftCore } from './raft-core';
export type { RaftCoreOptions } from './options';
export type { Entry, EntryKind, FollowerProgress, HardState, MembershipChangeResult, ProposeResult, RaftInitialState, RaftRole, Ready, Snapshot } from './types';
export type { AppendEntries, AppendEntriesResponse, InstallSnapshot, InstallSnapshotResponse, Message, MessageType, VoteRequest, VoteResponse } from './messages';
export { MESSAGE_TYPES, describeMessage, messageProblem } from './messages';
export * from './limits';
export * from './raft-storage-format';
export * from './raft-wire';
export * from './membership';
export { configEntryMembership } from './raft-state';
