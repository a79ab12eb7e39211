/**
 * One error-code enum for server and client (design brief §9). The numbers are the wire values of
 * `cairn.v1.ErrorCode` in proto/cairn.proto; a test keeps the two in step.
 *
 * A code is retriable when the same request may succeed later without the caller changing it
 * (possibly after a metadata refresh). Unknown codes are not retriable: a client that retried
 * them would loop forever on a permanent failure.
 */
export enum ErrorCode {
  NONE = 0,
  UNKNOWN_SERVER_ERROR = 1,
  OFFSET_OUT_OF_RANGE = 2,
  CORRUPT_MESSAGE = 3,
  UNKNOWN_TOPIC_OR_PARTITION = 4,
  INVALID_FETCH_SIZE = 5,
  LEADER_NOT_AVAILABLE = 6,
  NOT_LEADER = 7,
  REQUEST_TIMED_OUT = 8,
  REPLICA_NOT_AVAILABLE = 9,
  MESSAGE_TOO_LARGE = 10,
  NETWORK_EXCEPTION = 13,
  NOT_CONTROLLER = 14,
  INVALID_TOPIC = 17,
  RECORD_LIST_TOO_LARGE = 18,
  NOT_ENOUGH_REPLICAS = 19,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
  INVALID_REQUIRED_ACKS = 21,
  INVALID_TIMESTAMP = 32,
  TOPIC_ALREADY_EXISTS = 36,
  INVALID_PARTITIONS = 37,
  INVALID_REPLICATION_FACTOR = 38,
  INVALID_REPLICA_ASSIGNMENT = 39,
  INVALID_CONFIG = 40,
  INVALID_REQUEST = 42,
  DUPLICATE_SEQUENCE = 46,
  OUT_OF_ORDER_SEQUENCE = 45,
  INVALID_PRODUCER_EPOCH = 47,
  KAFKA_STORAGE_ERROR = 56,
  LOG_DIR_NOT_FOUND = 57,
  UNKNOWN_PRODUCER_ID = 59,
  REASSIGNMENT_IN_PROGRESS = 60,
  FENCED_LEADER_EPOCH = 74,
  UNSUPPORTED_COMPRESSION_TYPE = 76,
  UNKNOWN_LEADER_EPOCH = 75,
  OFFSET_NOT_AVAILABLE = 78,
  PREFERRED_LEADER_NOT_AVAILABLE = 80,
  ELECTION_NOT_NEEDED = 84,
  NO_REASSIGNMENT_IN_PROGRESS = 85,
  INVALID_RECORD = 87,
  THROTTLING_QUOTA_EXCEEDED = 89,
  UNKNOWN_TOPIC_ID = 100,
  INCONSISTENT_TOPIC_ID = 103,
  FENCED_INSTANCE_ID = 82,
  INELIGIBLE_REPLICA = 107,
  NEW_LEADER_ELECTED = 108,
  OFFLINE_PARTITION = 109,
  STALE_BROKER_EPOCH = 77,
  BROKER_NOT_REGISTERED = 110,
  DUPLICATE_BROKER_REGISTRATION = 101,
  INVALID_UPDATE_VERSION = 95,
  SHUTTING_DOWN = 111,
}

export interface ErrorInfo {
  readonly retriable: boolean;
  /** One sentence a person can act on. */
  readonly meaning: string;
}

const INFO: Record<ErrorCode, ErrorInfo> = {
  [ErrorCode.NONE]: { retriable: false, meaning: 'No error.' },
  [ErrorCode.UNKNOWN_SERVER_ERROR]: { retriable: false, meaning: 'The server hit an unexpected error; its log has the details.' },
  [ErrorCode.OFFSET_OUT_OF_RANGE]: { retriable: false, meaning: 'The requested offset is below the log start offset or above the log end offset.' },
  [ErrorCode.CORRUPT_MESSAGE]: { retriable: false, meaning: 'A record batch failed its CRC or structure check.' },
  [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]: { retriable: true, meaning: 'This broker does not host that topic-partition (it may not exist, or metadata is still propagating).' },
  [ErrorCode.INVALID_FETCH_SIZE]: { retriable: false, meaning: 'The fetch size limits are invalid.' },
  [ErrorCode.LEADER_NOT_AVAILABLE]: { retriable: true, meaning: 'The partition has no leader right now (an election is in progress).' },
  [ErrorCode.NOT_LEADER]: { retriable: true, meaning: 'This broker is not the leader of the partition; refresh metadata and retry at the leader.' },
  [ErrorCode.REQUEST_TIMED_OUT]: { retriable: true, meaning: 'The request did not complete within its timeout; its outcome is unknown.' },
  [ErrorCode.REPLICA_NOT_AVAILABLE]: { retriable: true, meaning: 'The replica is not available on this broker.' },
  [ErrorCode.MESSAGE_TOO_LARGE]: { retriable: false, meaning: 'The batch is larger than the topic\'s max.message.bytes.' },
  [ErrorCode.NETWORK_EXCEPTION]: { retriable: true, meaning: 'The connection failed before a response arrived; the outcome is unknown.' },
  [ErrorCode.NOT_CONTROLLER]: { retriable: true, meaning: 'This node is not the active controller.' },
  [ErrorCode.INVALID_TOPIC]: { retriable: false, meaning: 'The topic name is invalid: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".' },
  [ErrorCode.RECORD_LIST_TOO_LARGE]: { retriable: false, meaning: 'The request carries more bytes than the broker accepts in one request.' },
  [ErrorCode.NOT_ENOUGH_REPLICAS]: { retriable: true, meaning: 'The in-sync replica set is smaller than min.insync.replicas; the write was not appended.' },
  [ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND]: { retriable: true, meaning: 'The write was appended but the in-sync replica set shrank below min.insync.replicas before it was replicated.' },
  [ErrorCode.INVALID_REQUIRED_ACKS]: { retriable: false, meaning: 'acks must be 0, 1 or -1 (all).' },
  [ErrorCode.INVALID_TIMESTAMP]: { retriable: false, meaning: 'A record timestamp is invalid.' },
  [ErrorCode.TOPIC_ALREADY_EXISTS]: { retriable: false, meaning: 'A topic with this name already exists.' },
  [ErrorCode.INVALID_PARTITIONS]: { retriable: false, meaning: 'The partition count is invalid.' },
  [ErrorCode.INVALID_REPLICATION_FACTOR]: { retriable: false, meaning: 'The replication factor is invalid or larger than the number of available brokers.' },
  [ErrorCode.INVALID_REPLICA_ASSIGNMENT]: { retriable: false, meaning: 'The replica assignment is invalid.' },
  [ErrorCode.INVALID_CONFIG]: { retriable: false, meaning: 'A configuration name or value is invalid.' },
  [ErrorCode.INVALID_REQUEST]: { retriable: false, meaning: 'The request is malformed.' },
  [ErrorCode.DUPLICATE_SEQUENCE]: { retriable: false, meaning: 'The batch is a duplicate of one already written.' },
  [ErrorCode.OUT_OF_ORDER_SEQUENCE]: { retriable: false, meaning: 'The batch sequence number is not the next expected one for this producer.' },
  [ErrorCode.INVALID_PRODUCER_EPOCH]: { retriable: false, meaning: 'The producer epoch is older than the current one; this producer has been fenced.' },
  [ErrorCode.KAFKA_STORAGE_ERROR]: { retriable: true, meaning: 'The replica\'s log is offline or failed a write (disk full or I/O error).' },
  [ErrorCode.LOG_DIR_NOT_FOUND]: { retriable: false, meaning: 'The log directory does not exist.' },
  [ErrorCode.UNKNOWN_PRODUCER_ID]: { retriable: false, meaning: 'The broker has no state for this producer id.' },
  [ErrorCode.REASSIGNMENT_IN_PROGRESS]: { retriable: false, meaning: 'A reassignment of this partition is already in progress.' },
  [ErrorCode.FENCED_LEADER_EPOCH]: { retriable: true, meaning: 'The request carries a leader epoch older than the broker\'s; refresh metadata.' },
  [ErrorCode.UNSUPPORTED_COMPRESSION_TYPE]: { retriable: false, meaning: 'The batch uses a compression codec this broker does not support (supported: none, gzip).' },
  [ErrorCode.UNKNOWN_LEADER_EPOCH]: { retriable: true, meaning: 'The request carries a leader epoch newer than the broker knows; it will catch up.' },
  [ErrorCode.OFFSET_NOT_AVAILABLE]: { retriable: true, meaning: 'The leader cannot answer the offset lookup yet (high watermark not caught up).' },
  [ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE]: { retriable: true, meaning: 'The preferred leader is not in the ISR or not alive.' },
  [ErrorCode.ELECTION_NOT_NEEDED]: { retriable: false, meaning: 'The preferred replica already leads.' },
  [ErrorCode.NO_REASSIGNMENT_IN_PROGRESS]: { retriable: false, meaning: 'No reassignment is in progress for this partition.' },
  [ErrorCode.INVALID_RECORD]: { retriable: false, meaning: 'A record failed validation.' },
  [ErrorCode.THROTTLING_QUOTA_EXCEEDED]: { retriable: true, meaning: 'The request was throttled.' },
  [ErrorCode.UNKNOWN_TOPIC_ID]: { retriable: true, meaning: 'This broker does not know the topic id.' },
  [ErrorCode.INCONSISTENT_TOPIC_ID]: { retriable: true, meaning: 'The topic id does not match the one this broker has (the topic was recreated).' },
  [ErrorCode.FENCED_INSTANCE_ID]: { retriable: false, meaning: 'The instance id is fenced.' },
  [ErrorCode.INELIGIBLE_REPLICA]: { retriable: false, meaning: 'The replica is not eligible to join the ISR (fenced or shutting down).' },
  [ErrorCode.NEW_LEADER_ELECTED]: { retriable: true, meaning: 'The partition elected a new leader while the request was pending.' },
  [ErrorCode.OFFLINE_PARTITION]: { retriable: true, meaning: 'The partition has no live in-sync replica to lead it.' },
  [ErrorCode.STALE_BROKER_EPOCH]: { retriable: false, meaning: 'The broker epoch is stale; the broker must re-register.' },
  [ErrorCode.BROKER_NOT_REGISTERED]: { retriable: true, meaning: 'The broker is not registered with the controller.' },
  [ErrorCode.DUPLICATE_BROKER_REGISTRATION]: { retriable: true, meaning: 'Another live process registered with this broker id.' },
  [ErrorCode.INVALID_UPDATE_VERSION]: { retriable: false, meaning: 'The partition epoch in the request is stale.' },
  [ErrorCode.SHUTTING_DOWN]: { retriable: true, meaning: 'The broker is shutting down.' },
};

export function errorInfo(code: number): ErrorInfo {
  return (INFO as Record<number, ErrorInfo | undefined>)[code] ?? { retriable: false, meaning: `Unknown error code ${code}.` };
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
