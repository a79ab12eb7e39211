// What the group coordinator takes and answers (its requests, responses and settings), apart from its state machine.
import type { ErrorCode, TopicPartitions } from '../common';
import type { GroupRecord, MemberAssignment } from './group-state';

export interface GroupCoordinatorConfig {
  /** group.consumer.session.timeout.ms: a member not heard from for this long is removed. */
  sessionTimeoutMs: number;
  /** group.consumer.heartbeat.interval.ms: how often members are told to heartbeat. */
  heartbeatIntervalMs: number;
  /** group.consumer.max.size */
  maxGroupSize: number;
  /** offset.metadata.max.bytes */
  offsetMetadataMaxBytes: number;
}

export const DEFAULT_GROUP_COORDINATOR_CONFIG: GroupCoordinatorConfig = Object.freeze({
  sessionTimeoutMs: 45_000,
  heartbeatIntervalMs: 5_000,
  maxGroupSize: 1_000,
  offsetMetadataMaxBytes: 4_096,
});

/** What the coordinator needs of the cluster's metadata: the partition count of a topic, undefined if it does not exist. */
export interface TopicsView {
  partitionCount(topic: string): number | undefined;
}

/** ConsumerGroupHeartbeat (KIP-848): how a member joins, stays, learns its assignment and leaves. */
export interface ConsumerHeartbeatRequest {
  groupId: string;
  /** Empty on a first join: the coordinator names the member. */
  memberId: string;
  /** 0 to join, -1 to leave, -2 for a static member to leave for a while, else the member's current epoch. */
  memberEpoch: number;
  /** group.instance.id (KIP-345), or null for a dynamic member. */
  instanceId: string | null;
  /** How long the member may take to give up partitions; ≤ 0 keeps the previous value. Required on join. */
  rebalanceTimeoutMs: number;
  /** Null: unchanged since the last heartbeat. Required on join. */
  subscribedTopicNames: readonly string[] | null;
  /** Null: the group's default (uniform). */
  serverAssignor: string | null;
  /** What the member owns now; null: unchanged since the last heartbeat. */
  ownedPartitions: TopicPartitions | null;
  clientId: string;
  clientHost: string;
}

export interface ConsumerHeartbeatResponse {
  errorCode: ErrorCode;
  errorMessage: string;
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /**
   * The coordinator's session timeout (Cairn's addition to KIP-848's answer): the member must
   * drop its partitions once no heartbeat of its has been answered for this long (docs/groups.md).
   */
  sessionTimeoutMs: number;
  /** The partitions the member may own now; null when what it reported already is that. */
  assignment: TopicPartitions | null;
}

export interface OffsetCommitRequest {
  groupId: string;
  /** Empty, with memberEpoch -1: a commit from outside the group's membership (an admin tool, a consumer that assigns itself). */
  memberId: string;
  memberEpoch: number;
  offsets: readonly { topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string }[];
}

export interface PartitionResult {
  topic: string;
  partition: number;
  errorCode: ErrorCode;
  errorMessage: string;
}

export interface OffsetCommitResponse {
  errorCode: ErrorCode;
  errorMessage: string;
  results: PartitionResult[];
}

export interface FetchedOffset {
  topic: string;
  partition: number;
  /** -1: nothing committed. */
  offset: number;
  leaderEpoch: number;
  metadata: string;
}

/** Kafka's consumer group states, as `groups describe` shows them. */
export type GroupStateName = 'empty' | 'assigning' | 'reconciling' | 'stable';

export interface GroupDescription {
  groupId: string;
  state: GroupStateName;
  groupEpoch: number;
  assignmentEpoch: number;
  members: {
    memberId: string;
    instanceId: string | null;
    clientId: string;
    clientHost: string;
    memberEpoch: number;
    state: MemberAssignment['state'];
    subscribedTopics: readonly string[];
    assigned: TopicPartitions;
    pendingRevocation: TopicPartitions;
    target: TopicPartitions;
  }[];
  offsets: FetchedOffset[];
}

/** A handler's output: the records to append (already replayed into the state) and the answer to send once they are durable. */
export interface CoordinatorResult<T, R = GroupRecord> {
  records: R[];
  response: T;
}

export type ExpiryReason = 'session timeout' | 'rebalance timeout';
