/**
 * One error-code enum for server and client (design brief §9), and the one source of truth for
 * error codes: the `cairn.v1.ErrorCode` enum in proto/cairn.proto and the table in docs/errors.md
 * are generated from this file (`npm run gen:errors`; a test fails when they drift).
 *
 * Numbers and names are Kafka's (org.apache.kafka.common.protocol.Errors) for every error Kafka
 * has, so a Kafka user reading a code or a log line knows it. Errors Kafka does not have are
 * numbered from CAIRN_CODES_START up, far above Kafka's range.
 *
 * A code is retriable when the same request may succeed later without the caller changing it
 * (possibly after a metadata refresh). Unknown codes are not retriable: a client that retried
 * them would loop forever on a permanent failure.
 */
export enum ErrorCode {
  UNKNOWN_SERVER_ERROR = -1,
  NONE = 0,
  OFFSET_OUT_OF_RANGE = 1,
  CORRUPT_MESSAGE = 2,
  UNKNOWN_TOPIC_OR_PARTITION = 3,
  INVALID_FETCH_SIZE = 4,
  LEADER_NOT_AVAILABLE = 5,
  NOT_LEADER_OR_FOLLOWER = 6,
  REQUEST_TIMED_OUT = 7,
  BROKER_NOT_AVAILABLE = 8,
  REPLICA_NOT_AVAILABLE = 9,
  MESSAGE_TOO_LARGE = 10,
  OFFSET_METADATA_TOO_LARGE = 12,
  NETWORK_EXCEPTION = 13,
  COORDINATOR_LOAD_IN_PROGRESS = 14,
  COORDINATOR_NOT_AVAILABLE = 15,
  NOT_COORDINATOR = 16,
  INVALID_TOPIC_EXCEPTION = 17,
  RECORD_LIST_TOO_LARGE = 18,
  NOT_ENOUGH_REPLICAS = 19,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
  INVALID_REQUIRED_ACKS = 21,
  INVALID_GROUP_ID = 24,
  UNKNOWN_MEMBER_ID = 25,
  TOPIC_AUTHORIZATION_FAILED = 29,
  GROUP_AUTHORIZATION_FAILED = 30,
  CLUSTER_AUTHORIZATION_FAILED = 31,
  INVALID_TIMESTAMP = 32,
  UNSUPPORTED_SASL_MECHANISM = 33,
  ILLEGAL_SASL_STATE = 34,
  TOPIC_ALREADY_EXISTS = 36,
  INVALID_PARTITIONS = 37,
  INVALID_REPLICATION_FACTOR = 38,
  INVALID_REPLICA_ASSIGNMENT = 39,
  INVALID_CONFIG = 40,
  NOT_CONTROLLER = 41,
  INVALID_REQUEST = 42,
  POLICY_VIOLATION = 44,
  OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
  DUPLICATE_SEQUENCE_NUMBER = 46,
  INVALID_PRODUCER_EPOCH = 47,
  INVALID_TXN_STATE = 48,
  INVALID_PRODUCER_ID_MAPPING = 49,
  INVALID_TRANSACTION_TIMEOUT = 50,
  CONCURRENT_TRANSACTIONS = 51,
  TRANSACTION_COORDINATOR_FENCED = 52,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
  KAFKA_STORAGE_ERROR = 56,
  LOG_DIR_NOT_FOUND = 57,
  SASL_AUTHENTICATION_FAILED = 58,
  UNKNOWN_PRODUCER_ID = 59,
  REASSIGNMENT_IN_PROGRESS = 60,
  NON_EMPTY_GROUP = 68,
  GROUP_ID_NOT_FOUND = 69,
  FETCH_SESSION_ID_NOT_FOUND = 70,
  FENCED_LEADER_EPOCH = 74,
  UNKNOWN_LEADER_EPOCH = 75,
  UNSUPPORTED_COMPRESSION_TYPE = 76,
  STALE_BROKER_EPOCH = 77,
  OFFSET_NOT_AVAILABLE = 78,
  PREFERRED_LEADER_NOT_AVAILABLE = 80,
  GROUP_MAX_SIZE_REACHED = 81,
  FENCED_INSTANCE_ID = 82,
  ELECTION_NOT_NEEDED = 84,
  NO_REASSIGNMENT_IN_PROGRESS = 85,
  INVALID_RECORD = 87,
  UNSTABLE_OFFSET_COMMIT = 88,
  THROTTLING_QUOTA_EXCEEDED = 89,
  PRODUCER_FENCED = 90,
  RESOURCE_NOT_FOUND = 91,
  INVALID_UPDATE_VERSION = 95,
  UNKNOWN_TOPIC_ID = 100,
  DUPLICATE_BROKER_REGISTRATION = 101,
  BROKER_ID_NOT_REGISTERED = 102,
  INCONSISTENT_TOPIC_ID = 103,
  TRANSACTIONAL_ID_NOT_FOUND = 105,
  INELIGIBLE_REPLICA = 107,
  NEW_LEADER_ELECTED = 108,
  FENCED_MEMBER_EPOCH = 110,
  UNRELEASED_INSTANCE_ID = 111,
  UNSUPPORTED_ASSIGNOR = 112,
  STALE_MEMBER_EPOCH = 113,
  TRANSACTION_ABORTABLE = 120,
  DUPLICATE_VOTER = 126,
  VOTER_NOT_FOUND = 127,
  // Cairn's own, from CAIRN_CODES_START.
  SHUTTING_DOWN = 10000,
  AUTHORIZER_NOT_READY = 10001,
  REAUTHENTICATION_REQUIRED = 10002,
}

/** Codes at or above this are Cairn's own; below it they are Kafka's, with Kafka's meaning. */
export const CAIRN_CODES_START = 10_000;

export interface ErrorInfo {
  readonly retriable: boolean;
  /**
   * The client's view of where partitions live may be wrong: refresh metadata before retrying
   * (Kafka's InvalidMetadataException family).
   */
  readonly refreshMetadata: boolean;
  /** One sentence a person can act on. */
  readonly meaning: string;
}

const fatal = (meaning: string): ErrorInfo => ({ retriable: false, refreshMetadata: false, meaning });
const retry = (meaning: string): ErrorInfo => ({ retriable: true, refreshMetadata: false, meaning });
const refreshAndRetry = (meaning: string): ErrorInfo => ({ retriable: true, refreshMetadata: true, meaning });

const INFO: Record<ErrorCode, ErrorInfo> = {
  [ErrorCode.UNKNOWN_SERVER_ERROR]: fatal('The server hit an unexpected error; its log has the details.'),
  [ErrorCode.NONE]: fatal('No error.'),
  [ErrorCode.OFFSET_OUT_OF_RANGE]: fatal('The requested offset is below the log start offset or above the log end offset.'),
  [ErrorCode.CORRUPT_MESSAGE]: fatal('A record batch failed its CRC or structure check.'),
  [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]: refreshAndRetry('This broker does not host that topic-partition (it may not exist, or metadata is still propagating).'),
  [ErrorCode.INVALID_FETCH_SIZE]: fatal('The fetch size limits are invalid.'),
  [ErrorCode.LEADER_NOT_AVAILABLE]: refreshAndRetry('The partition has no leader right now (an election is in progress).'),
  [ErrorCode.NOT_LEADER_OR_FOLLOWER]: refreshAndRetry('This broker is not the leader of the partition; refresh metadata and retry at the leader.'),
  [ErrorCode.REQUEST_TIMED_OUT]: retry('The request did not complete within its timeout; its outcome is unknown.'),
  [ErrorCode.BROKER_NOT_AVAILABLE]: refreshAndRetry('Too few brokers have registered yet to place the replicas asked for by default; they may still be starting.'),
  [ErrorCode.REPLICA_NOT_AVAILABLE]: refreshAndRetry('The replica is not available on this broker.'),
  [ErrorCode.MESSAGE_TOO_LARGE]: fatal("A batch is larger than the topic's max.message.bytes as sent or, for gzip, once inflated (Fetch with decode_records: a stored batch inflates past 64 MiB)."),
  [ErrorCode.NETWORK_EXCEPTION]: refreshAndRetry('The connection failed before a response arrived; the outcome is unknown.'),
  [ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]: retry('The coordinator is loading its state; retry shortly.'),
  [ErrorCode.COORDINATOR_NOT_AVAILABLE]: refreshAndRetry('The coordinator is not available.'),
  [ErrorCode.NOT_COORDINATOR]: refreshAndRetry('This broker is not the coordinator; find the coordinator again and retry there.'),
  [ErrorCode.INVALID_TOPIC_EXCEPTION]: fatal('The topic name is invalid: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".'),
  [ErrorCode.RECORD_LIST_TOO_LARGE]: fatal('The request carries more bytes than the broker accepts in one request.'),
  [ErrorCode.NOT_ENOUGH_REPLICAS]: retry('The in-sync replica set is smaller than min.insync.replicas; the write was not appended.'),
  [ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND]: retry('The write was appended but the in-sync replica set shrank below min.insync.replicas before it was replicated.'),
  [ErrorCode.INVALID_REQUIRED_ACKS]: fatal('acks must be 0, 1 or -1 (all).'),
  [ErrorCode.TOPIC_AUTHORIZATION_FAILED]: fatal('The principal is not allowed this operation on the topic (docs/security.md: cairn acls).'),
  [ErrorCode.GROUP_AUTHORIZATION_FAILED]: fatal('The principal is not allowed this operation on the consumer group (docs/security.md: cairn acls).'),
  [ErrorCode.CLUSTER_AUTHORIZATION_FAILED]: fatal('The principal is not allowed this cluster operation; the node-to-node services answer only cluster members (docs/security.md).'),
  [ErrorCode.UNSUPPORTED_SASL_MECHANISM]: fatal('The SASL mechanism is not one this broker offers (SCRAM-SHA-512, SCRAM-SHA-256).'),
  [ErrorCode.ILLEGAL_SASL_STATE]: fatal('A SASL message arrived out of order (no exchange with this session id is waiting for it); start the exchange again.'),
  [ErrorCode.INVALID_TIMESTAMP]: fatal("A record or batch timestamp of a CreateTime topic lies outside the topic's message.timestamp.before.max.ms / after.max.ms window around the broker's clock."),
  [ErrorCode.TOPIC_ALREADY_EXISTS]: fatal('A topic with this name already exists.'),
  [ErrorCode.INVALID_PARTITIONS]: fatal('The partition count is not -1 (the broker default) or 1..10000, or the explicit assignment lists more partitions than that.'),
  [ErrorCode.INVALID_REPLICATION_FACTOR]: fatal('The replication factor is not -1 (the broker default) or 1..16, or is larger than every broker the cluster is known to have.'),
  [ErrorCode.INVALID_REPLICA_ASSIGNMENT]: fatal('The replica assignment is invalid.'),
  [ErrorCode.INVALID_CONFIG]: fatal('A configuration name or value is invalid.'),
  [ErrorCode.NOT_CONTROLLER]: refreshAndRetry('This node is not the active controller (an election may be in progress).'),
  [ErrorCode.INVALID_REQUEST]: fatal('The request is malformed.'),
  [ErrorCode.POLICY_VIOLATION]: fatal('Creating the topic would take the cluster past max.partitions; nothing was created.'),
  [ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER]: fatal(
    "An idempotent batch's sequence number is neither the next one the leader expects from this producer nor one of its last 5 batches; nothing was written. The producer resends in order when an earlier batch is still unacknowledged, else it bumps its epoch.",
  ),
  [ErrorCode.DUPLICATE_SEQUENCE_NUMBER]: fatal('The batch is a duplicate of one already written.'),
  [ErrorCode.INVALID_PRODUCER_EPOCH]: fatal('The producer epoch is older than the one the partition last saw for this producer id: this producer has been fenced; nothing was written.'),
  [ErrorCode.INVALID_TXN_STATE]: fatal(
    'The request does not fit the state of the transaction (a transactional write to a partition not added to an ongoing transaction, a plain write while one is open, or a commit of an aborting transaction); nothing was changed.',
  ),
  [ErrorCode.INVALID_PRODUCER_ID_MAPPING]: fatal('The producer id or epoch does not belong to this transactional id (another producer took it over, or it was never initialized).'),
  [ErrorCode.INVALID_TRANSACTION_TIMEOUT]: fatal('The transaction timeout is not positive or is above transaction.max.timeout.ms.'),
  [ErrorCode.CONCURRENT_TRANSACTIONS]: retry('The previous transaction of this transactional id is still being completed (its markers are being written); retry shortly.'),
  [ErrorCode.TRANSACTION_COORDINATOR_FENCED]: fatal('A transaction marker came from a coordinator older than the one this partition already heard from; it was not written.'),
  [ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED]: fatal('The principal is not allowed this operation on the transactional id (docs/security.md: cairn acls).'),
  [ErrorCode.SASL_AUTHENTICATION_FAILED]: fatal('Authentication failed: an unknown user, a wrong password, or a session token that expired or whose credential changed (authenticate again).'),
  [ErrorCode.KAFKA_STORAGE_ERROR]: refreshAndRetry("The replica's log is offline or failed a write (disk full or I/O error)."),
  [ErrorCode.LOG_DIR_NOT_FOUND]: fatal('The log directory does not exist.'),
  [ErrorCode.UNKNOWN_PRODUCER_ID]: fatal(
    'The partition has no state for this producer id (it expired after producer.id.expiration.ms) and the batch does not start a sequence at 0; nothing was written. The producer bumps its epoch (KIP-360).',
  ),
  [ErrorCode.OFFSET_METADATA_TOO_LARGE]: fatal('The metadata of an offset commit is longer than offset.metadata.max.bytes.'),
  [ErrorCode.INVALID_GROUP_ID]: fatal('The group id is empty or invalid.'),
  [ErrorCode.UNKNOWN_MEMBER_ID]: fatal('The coordinator does not know this member (it left, or its session expired); rejoin with member epoch 0.'),
  [ErrorCode.NON_EMPTY_GROUP]: fatal('The group still has members; it can be deleted only when empty.'),
  [ErrorCode.GROUP_ID_NOT_FOUND]: fatal('No group with this id exists.'),
  [ErrorCode.FETCH_SESSION_ID_NOT_FOUND]: retry('This fetch stream has no position for the partition (fetch offset -1 continues one): fetch it by offset.'),
  [ErrorCode.GROUP_MAX_SIZE_REACHED]: fatal('The group has group.consumer.max.size members already.'),
  [ErrorCode.FENCED_MEMBER_EPOCH]: fatal('The member epoch is fenced by the group coordinator; the member must give up all its partitions and rejoin with epoch 0.'),
  [ErrorCode.UNRELEASED_INSTANCE_ID]: fatal('Another member still uses this group.instance.id; it must leave first.'),
  [ErrorCode.UNSUPPORTED_ASSIGNOR]: fatal('The group coordinator has no assignor of this name (it has uniform and range).'),
  [ErrorCode.STALE_MEMBER_EPOCH]: fatal("The member epoch in the offset commit is not the member's current one; heartbeat for the new epoch, then commit again with it."),
  [ErrorCode.REASSIGNMENT_IN_PROGRESS]: fatal('A reassignment of this partition is already in progress.'),
  [ErrorCode.FENCED_LEADER_EPOCH]: refreshAndRetry("The request carries a leader epoch older than the broker's; refresh metadata."),
  [ErrorCode.UNKNOWN_LEADER_EPOCH]: refreshAndRetry('The request carries a leader epoch newer than the broker knows; it will catch up.'),
  [ErrorCode.UNSUPPORTED_COMPRESSION_TYPE]: fatal('The batch uses a compression codec this broker does not support (supported: none, gzip).'),
  [ErrorCode.STALE_BROKER_EPOCH]: fatal('The broker epoch is stale; the broker must re-register.'),
  [ErrorCode.OFFSET_NOT_AVAILABLE]: retry('The leader cannot answer the offset lookup yet (high watermark not caught up).'),
  [ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE]: retry('The preferred leader is not in the ISR or not alive.'),
  [ErrorCode.FENCED_INSTANCE_ID]: fatal('The instance id is fenced.'),
  [ErrorCode.ELECTION_NOT_NEEDED]: fatal('The preferred replica already leads.'),
  [ErrorCode.NO_REASSIGNMENT_IN_PROGRESS]: fatal('No reassignment is in progress for this partition.'),
  [ErrorCode.INVALID_RECORD]: fatal('A record failed validation.'),
  [ErrorCode.UNSTABLE_OFFSET_COMMIT]: retry('A transaction that commits offsets of these partitions is not decided yet; fetch the committed offsets again shortly.'),
  [ErrorCode.THROTTLING_QUOTA_EXCEEDED]: retry(
    "A bounded server queue was full (the controller's operations, Raft's uncommitted entries, or a partition's writes waiting for fsync); nothing was done, retry after a backoff.",
  ),
  [ErrorCode.PRODUCER_FENCED]: fatal('A newer producer with the same transactional id has started (initTransactions): this one is fenced and must close.'),
  [ErrorCode.RESOURCE_NOT_FOUND]: fatal('The named resource (a user, an ACL) does not exist.'),
  [ErrorCode.INVALID_UPDATE_VERSION]: fatal('The partition epoch in the request is stale.'),
  [ErrorCode.UNKNOWN_TOPIC_ID]: refreshAndRetry('This broker does not know the topic id.'),
  [ErrorCode.DUPLICATE_BROKER_REGISTRATION]: retry('Another live process registered with this broker id.'),
  [ErrorCode.BROKER_ID_NOT_REGISTERED]: retry('The broker is not registered with the controller (or not this incarnation of it).'),
  [ErrorCode.INCONSISTENT_TOPIC_ID]: refreshAndRetry('The topic id does not match the one this broker has (the topic was recreated).'),
  [ErrorCode.TRANSACTIONAL_ID_NOT_FOUND]: fatal('No transactional id of this name is known to its coordinator.'),
  [ErrorCode.INELIGIBLE_REPLICA]: fatal('The replica is not eligible to join the ISR (fenced or shutting down).'),
  [ErrorCode.NEW_LEADER_ELECTED]: retry('The partition elected a new leader while the request was pending.'),
  [ErrorCode.TRANSACTION_ABORTABLE]: fatal('The transaction cannot commit (a write or offset commit of it failed, or it timed out); abort it and start again.'),
  [ErrorCode.DUPLICATE_VOTER]: fatal('The node is already a member of the controller quorum in that role.'),
  [ErrorCode.VOTER_NOT_FOUND]: fatal('The node is not a member of the controller quorum (or not a learner, for a promotion).'),
  [ErrorCode.SHUTTING_DOWN]: refreshAndRetry('The broker is shutting down; retry at another broker.'),
  [ErrorCode.AUTHORIZER_NOT_READY]: refreshAndRetry(
    'The broker is still catching up with the metadata log, so the ACLs it knows may be old: it refuses nothing on their word yet; retry (at another broker).',
  ),
  [ErrorCode.REAUTHENTICATION_REQUIRED]: retry(
    "The SCRAM session token is not known to this broker (it restarted, or the token expired) or its user's credential changed: the client authenticates again and retries; a changed password then fails with SASL_AUTHENTICATION_FAILED.",
  ),
};

/** Every code with its facts, in numeric order (what the generated proto enum and docs table list). */
export function errorTable(): { code: ErrorCode; name: string; info: ErrorInfo }[] {
  return (Object.keys(INFO) as unknown as string[])
    .map((k) => Number(k) as ErrorCode)
    .sort((a, b) => a - b)
    .map((code) => ({ code, name: ErrorCode[code]!, info: INFO[code] }));
}

export function errorInfo(code: number): ErrorInfo {
  return (INFO as Record<number, ErrorInfo | undefined>)[code] ?? fatal(`Unknown error code ${code}.`);
}

/** Whether a client should refresh its metadata before retrying a request that failed with `code`. */
export function needsMetadataRefresh(code: number): boolean {
  return errorInfo(code).refreshMetadata;
}

export function isRetriable(code: number): boolean {
  return errorInfo(code).retriable;
}

export function errorName(code: number): string {
  return ErrorCode[code] ?? `UNKNOWN_CODE_${code}`;
}

/** An error with a code from the shared enum. Thrown across layers, mapped to the wire at the edge. */
export class CairnError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? errorInfo(code).meaning);
    this.name = `CairnError(${errorName(code)})`;
    this.code = code;
  }
  get retriable(): boolean {
    return isRetriable(this.code);
  }
}

/** A violated internal invariant: a bug. Fails loudly with the values that broke it. */
export function invariant(condition: unknown, message: string, details?: Record<string, unknown>): asserts condition {
  if (!condition) {
    const suffix = details ? ` ${JSON.stringify(details, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}` : '';
    throw new Error(`invariant violated: ${message}${suffix}`);
  }
}
