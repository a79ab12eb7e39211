/**
 * The vocabulary between the pure replication core (replica-core.ts) and its shell
 * (replica-driver.ts): what the core may read of a log, the effects it asks for, and the ports the
 * shell talks through. Plain data only, so that the whole-cluster simulation can drive the core
 * and the shell over a simulated network and simulated time.
 */
import type { BrokerEpoch, ErrorCode, LeaderEpoch, PartitionEpoch } from '../common';
import type { ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResponse } from '../protocol';

/**
 * What the core reads of one partition's log, never writes: the shell applies the effects that
 * change it. `PartitionLog` answers through `logView` (replica-driver.ts); a simulation may pass
 * anything that keeps these consistent.
 */
export interface ReplicaLogView {
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  /** Everything below this is fsynced (under log.flush.policy=interval: written). */
  readonly durableEndOffset: number;
  readonly highWatermark: number;
  readonly isOffline: boolean;
  readonly offlineMessage: string | null;
  /** The epoch of the last batch (or of the last assigned epoch), -1 with none. */
  readonly latestEpoch: number;
  /** Where `epoch` ends in this log (KIP-101's OffsetsForLeaderEpoch answer). */
  endOffsetFor(epoch: number): { epoch: number; endOffset: number };
}

/** A partition's registration as far as replication needs it (a `PartitionRegistration` is one). */
export interface PartitionAssignment {
  readonly topic: string;
  readonly partition: number;
  readonly topicId: string;
  readonly leader: number;
  readonly leaderEpoch: LeaderEpoch;
  readonly partitionEpoch: PartitionEpoch;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

/** One ISR change the leader asks the controller for (KIP-497), guarded by the partition epoch. */
export interface AlterPartitionItem {
  topicId: string;
  partition: number;
  leaderEpoch: LeaderEpoch;
  partitionEpoch: PartitionEpoch;
  newIsr: number[];
}

export interface AlterPartitionRequest {
  brokerId: number;
  brokerEpoch: BrokerEpoch;
  partitions: AlterPartitionItem[];
}

export interface AlterPartitionResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  results?: { topicId: string; partition: number; errorCode: ErrorCode; errorMessage?: string; partitionEpoch: number }[];
}

/** The controller's answer to one AlterPartition, as the core needs it. */
export interface AlterPartitionOutcome {
  errorCode: ErrorCode;
  /** The partition epoch the controller reported with a refusal, null when it reported none. */
  partitionEpoch: number | null;
}

/** Port: the follower's fetch from one leader. Rejects when the outcome is unknown (no answer). */
export interface ReplicaFetchTransport {
  send(leaderId: number, request: ReplicaFetchRequest): Promise<ReplicaFetchResponse>;
  /** Drops connections (on stop). */
  close(): void;
}

/** Port: AlterPartition to the active controller. Rejects when the outcome is unknown. */
export interface AlterPartitionTransport {
  send(request: AlterPartitionRequest): Promise<AlterPartitionResponse>;
}

/** Why the core refused something a caller asked of a partition (the shell throws it as a CairnError). */
export interface ReplicaRefusal {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * What the core asks its shell to do, in order. Effects that write a follower's log carry the
 * fetch `requestId`, and the shell reports back: `followerWriteDone` after a `truncate`,
 * `resetToLeaderStart` or `append`, and `followerDurable` once an `awaitDurable` offset is fsynced
 * (or the fsync failed). The next fetch of those partitions waits for these reports.
 */
export type ReplicaEffect =
  /** This replica leads `tp` from now; record `leaderEpoch` as starting at `epochStartOffset` (null: the log is offline). */
  | { readonly kind: 'becameLeader'; readonly tp: string; readonly leaderEpoch: LeaderEpoch; readonly isr: readonly number[]; readonly epochStartOffset: number | null }
  /** This replica follows `leaderId` (or nobody, -1); `wasLeader`: it stopped leading. */
  | { readonly kind: 'becameFollower'; readonly tp: string; readonly leaderId: number; readonly leaderEpoch: LeaderEpoch; readonly wasLeader: boolean }
  /** Set the log's high watermark (leaders: every ISR member has it fsynced; followers: the leader's, within this log). */
  | { readonly kind: 'highWatermark'; readonly tp: string; readonly highWatermark: number }
  /** Send one fetch to `leaderId` (the shell adds replicaId, brokerEpoch, incarnationId) and report the answer with `fetchResponse`. */
  | { readonly kind: 'sendFetch'; readonly leaderId: number; readonly requestId: number; readonly partitions: ReplicaFetchPartition[]; readonly maxWaitMs: number; readonly maxBytes: number }
  | { readonly kind: 'truncate'; readonly tp: string; readonly requestId: number; readonly offset: number; readonly reason: 'diverged' | 'past-leader-end' }
  /** Empty the log and start it at `offset` (the leader's log start). */
  | { readonly kind: 'resetToLeaderStart'; readonly tp: string; readonly requestId: number; readonly offset: number; readonly reason: 'diverged' | 'behind-leader-start' }
  /** Append fetched batches as they are. */
  | { readonly kind: 'append'; readonly tp: string; readonly requestId: number; readonly batches: Buffer }
  /**
   * A new leader whose log holds records it has not fsynced yet (fetched as a follower just before
   * the election): call `localDurable` once everything below `offset` is. Without it, the high
   * watermark would wait for the next leader append to learn of that fsync.
   */
  | { readonly kind: 'awaitLocalDurable'; readonly tp: string; readonly offset: number }
  /** Report `followerDurable` once everything below `offset` is fsynced. */
  | { readonly kind: 'awaitDurable'; readonly tp: string; readonly requestId: number; readonly offset: number }
  /** Send an ISR change to the controller and report the outcome with `alterPartitionResponse`. */
  | {
      readonly kind: 'sendAlterPartition';
      readonly tp: string;
      readonly requestId: number;
      readonly item: AlterPartitionItem;
      readonly change: 'shrink' | 'expand';
      readonly isr: readonly number[];
      readonly retry: boolean;
    }
  /** An acks=all produce is answered: NONE, or why not. */
  | { readonly kind: 'completeProduce'; readonly id: number; readonly errorCode: ErrorCode; readonly message: string };

export interface ReplicaCoreOptions {
  nodeId: number;
  /** replica.lag.time.max.ms: an ISR member not caught up for longer is dropped. */
  replicaLagTimeMaxMs: number;
  /** replica.fetch.wait.max.ms: how long the leader may park a fetch with nothing new. */
  replicaFetchWaitMaxMs?: number;
  /** replica.fetch.max.bytes for one fetch, and per partition. */
  replicaFetchMaxBytes?: number;
  replicaFetchPartitionMaxBytes?: number;
  /** After a failed or refused fetch. */
  fetchBackoffMs?: number;
  /** After an AlterPartition whose outcome is unknown. */
  alterPartitionRetryMs?: number;
}
