/**
 * TypeScript shapes of the messages in proto/*.proto, in protobufjs's camelCase. Decoded messages
 * have every scalar set (proto3 defaults) and `optional` fields null when absent. 64-bit fields are
 * numbers (see rpc.ts). test/unit/protocol checks the enums against the .proto; the integration
 * tests exercise every message.
 */
import type { ErrorCode } from '../common';

export interface RecordHeaderMsg {
  key: string;
  value?: Buffer | null;
}

export interface RecordMsg {
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: RecordHeaderMsg[];
  timestampMs?: number;
  offset?: number;
}

export interface LeaderHint {
  leaderId: number;
  leaderEpoch: number;
}

export interface ProduceRequest {
  correlationId: number;
  acks: number;
  timeoutMs?: number;
  partitions: PartitionProduceData[];
  transactionalId?: string;
}

export interface PartitionProduceData {
  topic: string;
  partition: number;
  batches?: Buffer;
  records?: RecordMsg[];
}

export interface ProduceResponse {
  correlationId: number;
  /** How long the broker held the answer back for a quota (0: none). */
  throttleTimeMs?: number;
  results: PartitionProduceResult[];
}

export interface PartitionProduceResult {
  topic: string;
  partition: number;
  errorCode: ErrorCode;
  errorMessage?: string;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  currentLeader?: LeaderHint | null;
}

export interface InitProducerIdRequest {
  transactionalId?: string;
  transactionTimeoutMs?: number;
}

export interface InitProducerIdResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  producerId: number;
  producerEpoch: number;
}

export enum IsolationLevel {
  READ_UNCOMMITTED = 0,
  READ_COMMITTED = 1,
}

export interface FetchRequest {
  correlationId: number;
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  isolationLevel?: IsolationLevel;
  partitions: FetchPartition[];
  decodeRecords?: boolean;
}

export interface FetchPartition {
  topic: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  /** Absent (null) or -1: not checked. */
  currentLeaderEpoch?: number | null;
}

export interface FetchResponse {
  correlationId: number;
  results: FetchPartitionResult[];
  /** How long the broker held the answer back for a quota (0: none). */
  throttleTimeMs?: number;
}

/** A partition's `fetchOffset` on a FetchStream: go on where the stream's previous answer for it ended (a fetch session). */
export const CONTINUE_FETCH = -1;

export interface FetchPartitionResult {
  topic: string;
  partition: number;
  errorCode: ErrorCode;
  errorMessage?: string;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  batches?: Buffer;
  records?: RecordMsg[];
  currentLeader?: LeaderHint | null;
  nextFetchOffset?: number;
  /** read_committed: the aborted transactions whose records may be in `batches`. */
  abortedTransactions?: AbortedTransaction[];
}

export interface AbortedTransaction {
  producerId: number;
  firstOffset: number;
}

export interface ListOffsetsRequest {
  partitions: { topic: string; partition: number; timestampMs: number; currentLeaderEpoch?: number | null }[];
  isolationLevel?: IsolationLevel;
}

export interface ListOffsetsResult {
  topic: string;
  partition: number;
  errorCode: ErrorCode;
  errorMessage?: string;
  offset: number;
  timestampMs: number;
  leaderEpoch: number;
}

export interface ListOffsetsResponse {
  results: ListOffsetsResult[];
}

export interface MetadataRequest {
  topics: string[];
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string;
}

export interface PartitionMetadata {
  partition: number;
  errorCode: ErrorCode;
  leaderId: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
}

export interface TopicMetadata {
  name: string;
  topicId: string;
  errorCode: ErrorCode;
  errorMessage?: string;
  partitions: PartitionMetadata[];
  internal: boolean;
}

export interface MetadataResponse {
  clusterId: string;
  controllerId: number;
  brokers: BrokerInfo[];
  topics: TopicMetadata[];
}

export interface CreatableTopic {
  name: string;
  numPartitions: number;
  replicationFactor: number;
  configs?: Record<string, string>;
  assignments?: { partition: number; brokerIds: number[] }[];
}

export interface CreateTopicsRequest {
  topics: CreatableTopic[];
  timeoutMs?: number;
  validateOnly?: boolean;
}

export interface CreateTopicResult {
  name: string;
  errorCode: ErrorCode;
  errorMessage?: string;
  topicId: string;
  numPartitions: number;
  replicationFactor: number;
}

export interface CreateTopicsResponse {
  results: CreateTopicResult[];
}

export interface DeleteTopicsRequest {
  names: string[];
  timeoutMs?: number;
}

export interface DeleteTopicsResponse {
  results: { name: string; errorCode: ErrorCode; errorMessage?: string }[];
}

export interface ListTopicsRequest {
  includeInternal?: boolean;
}

export interface ListTopicsResponse {
  topics: { name: string; topicId: string; numPartitions: number; internal: boolean }[];
}

export interface DescribeTopicsRequest {
  names: string[];
}

export interface PartitionDescription {
  partition: number;
  leaderId: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
  underReplicated: boolean;
  offline: boolean;
  addingReplicas: number[];
  removingReplicas: number[];
}

export interface TopicDescription {
  name: string;
  topicId: string;
  errorCode: ErrorCode;
  errorMessage?: string;
  configs: Record<string, string>;
  partitions: PartitionDescription[];
  internal: boolean;
}

export interface DescribeTopicsResponse {
  topics: TopicDescription[];
}

export interface AlterConfigsRequest {
  topic: string;
  set?: Record<string, string>;
  delete?: string[];
  validateOnly?: boolean;
}

export interface AlterConfigsResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
}

export interface AlterReassignmentsRequest {
  reassignments: { topic: string; partition: number; replicas: number[] }[];
}

export interface AlterReassignmentsResponse {
  results: { topic: string; partition: number; errorCode: ErrorCode; errorMessage?: string }[];
}

/** internal.proto Replica.Fetch: a follower's pull from the partition leaders on one broker. */
export interface ReplicaFetchPartition {
  topic: string;
  partition: number;
  fetchOffset: number;
  durableOffset: number;
  currentLeaderEpoch: number;
  lastFetchedEpoch: number;
  maxBytes: number;
}

export interface ReplicaFetchRequest {
  correlationId: number;
  replicaId: number;
  brokerEpoch: number;
  incarnationId: string;
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  partitions: ReplicaFetchPartition[];
}

export interface ReplicaFetchResult {
  topic: string;
  partition: number;
  errorCode: ErrorCode;
  errorMessage?: string;
  highWatermark: number;
  logStartOffset: number;
  logEndOffset: number;
  batches?: Buffer;
  divergingEpoch?: { epoch: number; endOffset: number } | null;
}

export interface ReplicaFetchResponse {
  correlationId: number;
  results: ReplicaFetchResult[];
}

// ---- consumer groups (cairn.proto Broker.FindCoordinator … DeleteGroups) ----

/** Partitions by topic on the wire; a field of this type that is null was absent ("unchanged" or "all"). */
export interface PartitionSet {
  topics: { topic: string; partitions: number[] }[];
}

export enum CoordinatorType {
  GROUP = 0,
  TRANSACTION = 1,
}

export interface FindCoordinatorRequest {
  key: string;
  keyType?: CoordinatorType;
}

export interface FindCoordinatorResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  nodeId: number;
  host: string;
  port: number;
}

export interface ConsumerGroupHeartbeatRequest {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  instanceId: string;
  rebalanceTimeoutMs: number;
  subscribedTopicNames: { names: string[] } | null;
  serverAssignor: string;
  owned: PartitionSet | null;
  clientId: string;
}

export interface ConsumerGroupHeartbeatResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  assignment: PartitionSet | null;
}

export interface OffsetCommitRequest {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  offsets: { topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string }[];
}

export interface GroupPartitionResult {
  topic: string;
  partition: number;
  errorCode: ErrorCode;
  errorMessage?: string;
}

export interface OffsetCommitResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  results: GroupPartitionResult[];
}

export interface OffsetFetchRequest {
  groupId: string;
  partitions: PartitionSet | null;
  requireStable?: boolean;
}

export interface CommittedOffsetInfo {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string;
}

export interface OffsetFetchResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  offsets: CommittedOffsetInfo[];
}

export interface ListGroupsResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  groups: { groupId: string; state: string; members: number }[];
}

export interface GroupMemberDescription {
  memberId: string;
  instanceId: string;
  clientId: string;
  clientHost: string;
  memberEpoch: number;
  state: string;
  subscribedTopics: string[];
  assigned: PartitionSet;
  pendingRevocation: PartitionSet;
  target: PartitionSet;
}

export interface DescribedGroup {
  groupId: string;
  errorCode: ErrorCode;
  errorMessage?: string;
  state: string;
  groupEpoch: number;
  assignmentEpoch: number;
  members: GroupMemberDescription[];
  offsets: CommittedOffsetInfo[];
}

export interface DescribeGroupsResponse {
  groups: DescribedGroup[];
}

export interface DeleteGroupsResponse {
  results: { groupId: string; errorCode: ErrorCode; errorMessage?: string }[];
}

// ---- transactions ----

export interface AddPartitionsToTxnRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  partitions: PartitionSet | null;
  verifyOnly: boolean;
}

export interface TxnErrorResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
}

export interface AddOffsetsToTxnRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  groupId: string;
}

export interface TxnOffsetCommitRequest {
  transactionalId: string;
  groupId: string;
  producerId: number;
  producerEpoch: number;
  memberId: string;
  memberEpoch: number;
  offsets: { topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string }[];
}

export interface TxnOffsetCommitResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  results: GroupPartitionResult[];
}

export interface EndTxnRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  commit: boolean;
}

export interface EndTxnResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  producerId: number;
  producerEpoch: number;
}

export interface ListTransactionsRequest {
  stateFilters: string[];
  producerIdFilters: number[];
  durationFilterMs: number;
}

export interface TransactionListing {
  transactionalId: string;
  producerId: number;
  state: string;
}

export interface ListTransactionsResponse {
  errorCode: ErrorCode;
  transactions: TransactionListing[];
}

export interface TransactionDescription {
  errorCode: ErrorCode;
  errorMessage?: string;
  transactionalId: string;
  state: string;
  producerId: number;
  producerEpoch: number;
  transactionTimeoutMs: number;
  transactionStartTimeMs: number;
  partitions: PartitionSet | null;
  coordinatorId: number;
}

export interface DescribeTransactionsResponse {
  transactions: TransactionDescription[];
}

export interface ProducerStateMsg {
  producerId: number;
  producerEpoch: number;
  lastSequence: number;
  lastTimestampMs: number;
  coordinatorEpoch: number;
  currentTxnStartOffset: number;
  currentTxnStartTimeMs: number;
}

export interface DescribeProducersResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  lastStableOffset: number;
  highWatermark: number;
  producers: ProducerStateMsg[];
}

export interface WriteTxnMarkersRequest {
  producerId: number;
  producerEpoch: number;
  commit: boolean;
  coordinatorEpoch: number;
  partitions: { topic: string; partition: number }[];
}

export interface WriteTxnMarkersResponse {
  results: { topic: string; partition: number; errorCode: ErrorCode; errorMessage?: string }[];
}

// ---- Security: ACLs and SCRAM users (proto/cairn.proto; docs/security.md) ----

/** An ACL on the wire: the fields of metadata's AclBinding as strings (validated by the controller). */
export interface AclBindingMessage {
  resourceType: string;
  resourceName: string;
  patternType: string;
  principal: string;
  host: string;
  operation: string;
  permission: string;
}

export type AclFilterMessage = Partial<AclBindingMessage>;

export interface CreateAclsRequest {
  acls: AclBindingMessage[];
}

export interface AclResult {
  errorCode: ErrorCode;
  errorMessage: string;
}

export interface CreateAclsResponse {
  results: AclResult[];
}

export interface DescribeAclsRequest {
  filter?: AclFilterMessage;
}

export interface DescribeAclsResponse {
  errorCode: ErrorCode;
  errorMessage: string;
  acls: AclBindingMessage[];
}

export interface DeleteAclsRequest {
  filters: AclFilterMessage[];
}

export interface DeleteAclsResult {
  errorCode: ErrorCode;
  errorMessage: string;
  deleted: AclBindingMessage[];
}

export interface DeleteAclsResponse {
  results: DeleteAclsResult[];
}

export interface ScramCredentialUpsertion {
  name: string;
  mechanism: string;
  iterations: number;
  salt: Uint8Array;
  saltedPassword: Uint8Array;
}

export interface AlterUserScramCredentialsRequest {
  upsertions?: ScramCredentialUpsertion[];
  deletions?: { name: string; mechanism: string }[];
}

export interface UserResult {
  name: string;
  errorCode: ErrorCode;
  errorMessage: string;
}

export interface AlterUserScramCredentialsResponse {
  results: UserResult[];
}

export interface DescribeUserScramCredentialsResponse {
  users: { name: string; mechanism: string; iterations: number }[];
}

export interface SaslAuthenticateRequest {
  mechanism: string;
  authBytes: Uint8Array;
  sessionId?: string;
}

export interface SaslAuthenticateResponse {
  errorCode: ErrorCode;
  errorMessage: string;
  authBytes: Uint8Array;
  sessionId: string;
  token: string;
  sessionLifetimeMs: number;
}

// ---- Client quotas ----

export interface QuotaEntityMessage {
  user: string;
  defaultUser: boolean;
  clientId: string;
  defaultClientId: boolean;
}

export interface AlterClientQuotasRequest {
  alterations: { entity: Partial<QuotaEntityMessage>; set?: Record<string, number>; remove?: string[] }[];
}

export interface AlterClientQuotasResponse {
  results: { errorCode: ErrorCode; errorMessage: string }[];
}

export interface DescribeClientQuotasResponse {
  entries: { entity: QuotaEntityMessage; values: Record<string, number> }[];
}

/** The answer of Admin/DescribeLogDirs (proto/cairn.proto), from this broker's own disk. */
export interface DescribeLogDirsResponse {
  errorCode: number;
  errorMessage: string;
  brokerId: number;
  logDir: string;
  totalBytes: number;
  usableBytes: number;
  partitions: {
    topic: string;
    partition: number;
    sizeBytes: number;
    logStartOffset: number;
    logEndOffset: number;
    highWatermark: number;
    offsetLag: number;
    role: string;
    segments: number;
    offline: boolean;
  }[];
}
