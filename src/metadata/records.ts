/**
 * The metadata log's records (design brief §5), modeled on KRaft's. Every change to cluster state
 * is one of these, appended to the metadata log by the active controller in atomic batches and
 * replayed by every node into a MetadataImage. Serialized as JSON: metadata is low-volume, and a
 * person reading a dump of the log should be able to follow it.
 */

export interface RegisterBrokerRecord {
  type: 'RegisterBroker';
  brokerId: number;
  /** Increases with every registration of any broker; fences requests from older incarnations. */
  brokerEpoch: number;
  /** Random per process start: tells a restart from a duplicate process with the same id. */
  incarnationId: string;
  host: string;
  port: number;
  /** Where other brokers fetch from it, when it has an internal listener apart from clients. */
  internalHost?: string;
  internalPort?: number;
  /** Where its Prometheus endpoint answers, when it serves one (metrics.listener). */
  metricsHost?: string;
  metricsPort?: number;
  rack: string | null;
  /** A newly registered broker stays fenced until it has caught up with the metadata log. */
  fenced: boolean;
}

export interface UnregisterBrokerRecord {
  type: 'UnregisterBroker';
  brokerId: number;
  brokerEpoch: number;
}

export interface BrokerRegistrationChangeRecord {
  type: 'BrokerRegistrationChange';
  brokerId: number;
  brokerEpoch: number;
  fenced?: boolean;
  inControlledShutdown?: boolean;
}

export interface TopicRecord {
  type: 'Topic';
  name: string;
  topicId: string;
}

export interface PartitionRecord {
  type: 'Partition';
  topicId: string;
  partition: number;
  replicas: number[];
  isr: number[];
  /** -1: no leader (offline). */
  leader: number;
  leaderEpoch: number;
  partitionEpoch: number;
  addingReplicas: number[];
  removingReplicas: number[];
  /** Eligible leader replicas (KIP-966); absent means none. */
  elr?: number[];
}

/**
 * A change to one partition. Replay bumps the partition epoch on every change and the leader
 * epoch whenever the leader changes (KIP-595/KIP-631), so stale requests are fenced by epoch.
 */
export interface PartitionChangeRecord {
  type: 'PartitionChange';
  topicId: string;
  partition: number;
  leader?: number;
  isr?: number[];
  replicas?: number[];
  addingReplicas?: number[];
  removingReplicas?: number[];
  elr?: number[];
}

export interface RemoveTopicRecord {
  type: 'RemoveTopic';
  topicId: string;
}

export interface ConfigRecord {
  type: 'Config';
  resourceType: 'topic' | 'broker' | 'cluster';
  resourceName: string;
  name: string;
  /** null removes the override. */
  value: string | null;
}

/** A block of producer ids handed to a broker (for idempotent producers). */
export interface ProducerIdsRecord {
  type: 'ProducerIds';
  brokerId: number;
  brokerEpoch: number;
  nextProducerId: number;
}

/** Written once, by the first controller, to name the cluster. */
export interface ClusterIdRecord {
  type: 'ClusterId';
  clusterId: string;
}

export type AclResourceType = 'topic' | 'group' | 'transactional-id' | 'cluster';
export type AclPatternType = 'literal' | 'prefixed';
export type AclOperation = 'All' | 'Read' | 'Write' | 'Create' | 'Delete' | 'Alter' | 'Describe' | 'ClusterAction' | 'DescribeConfigs' | 'AlterConfigs' | 'IdempotentWrite';
export type AclPermission = 'allow' | 'deny';

/** One ACL (Kafka's AclBinding): who may or may not do what to which resources. */
export interface AclBinding {
  resourceType: AclResourceType;
  /** '*' (literal) matches every name; the cluster resource is named 'kafka-cluster'. */
  resourceName: string;
  patternType: AclPatternType;
  /** 'User:NAME', or 'User:*' for every principal. */
  principal: string;
  /** '*' or one IP address. */
  host: string;
  operation: AclOperation;
  permission: AclPermission;
}

/** An ACL added (KRaft's AccessControlEntryRecord); `id` names it for its removal. */
export interface AccessControlEntryRecord extends AclBinding {
  type: 'AccessControlEntry';
  id: string;
}

export interface RemoveAccessControlEntryRecord {
  type: 'RemoveAccessControlEntry';
  id: string;
}

export type ScramMechanism = 'SCRAM-SHA-512' | 'SCRAM-SHA-256';

/** A user's SCRAM credential (RFC 5802): never the password, only what verifies a proof of it. Byte fields are base64. */
export interface UserScramCredentialRecord {
  type: 'UserScramCredential';
  name: string;
  mechanism: ScramMechanism;
  iterations: number;
  salt: string;
  storedKey: string;
  serverKey: string;
}

export interface RemoveUserScramCredentialRecord {
  type: 'RemoveUserScramCredential';
  name: string;
  mechanism: ScramMechanism;
}

export type QuotaKey = 'producer_byte_rate' | 'consumer_byte_rate' | 'request_rate';

/**
 * A client quota set or removed (KRaft's ClientQuotaRecord). `user` and `clientId` name the entity:
 * absent means the entity has no such part, null means the default (every user / client id
 * without a quota of its own).
 */
export interface ClientQuotaRecord {
  type: 'ClientQuota';
  user?: string | null;
  clientId?: string | null;
  key: QuotaKey;
  /** null removes it. */
  value: number | null;
}

/**
 * The controller quorum's membership as of a committed config entry of the Raft log (KIP-853's
 * VotersRecord): the Raft driver hands it to the metadata listeners in place of the config
 * entry, so that every node — broker-only ones too, through FetchMetadata — knows the controllers
 * and where they listen. `endpoint` is '' for a voter of controller.quorum.voters.
 */
export interface QuorumMembershipRecord {
  type: 'QuorumMembership';
  voters: { id: number; endpoint: string }[];
  learners: { id: number; endpoint: string }[];
}

export type MetadataRecord =
  | QuorumMembershipRecord
  | RegisterBrokerRecord
  | UnregisterBrokerRecord
  | BrokerRegistrationChangeRecord
  | TopicRecord
  | PartitionRecord
  | PartitionChangeRecord
  | RemoveTopicRecord
  | ConfigRecord
  | ProducerIdsRecord
  | ClusterIdRecord
  | AccessControlEntryRecord
  | RemoveAccessControlEntryRecord
  | UserScramCredentialRecord
  | RemoveUserScramCredentialRecord
  | ClientQuotaRecord;

const TYPES = new Set<MetadataRecord['type']>([
  'QuorumMembership',
  'RegisterBroker',
  'UnregisterBroker',
  'BrokerRegistrationChange',
  'Topic',
  'Partition',
  'PartitionChange',
  'RemoveTopic',
  'Config',
  'ProducerIds',
  'ClusterId',
  'AccessControlEntry',
  'RemoveAccessControlEntry',
  'UserScramCredential',
  'RemoveUserScramCredential',
  'ClientQuota',
]);

/** One atomic batch of records as the bytes of one metadata-log entry. */
export function encodeRecords(records: readonly MetadataRecord[]): Buffer {
  return Buffer.from(JSON.stringify(records), 'utf8');
}

export class MetadataDecodeError extends Error {}

export function decodeRecords(data: Uint8Array): MetadataRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    throw new MetadataDecodeError(`metadata entry is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new MetadataDecodeError('metadata entry is not a list of records');
  for (const r of parsed) {
    if (typeof r !== 'object' || r === null || !TYPES.has((r as { type: MetadataRecord['type'] }).type)) {
      throw new MetadataDecodeError(`unknown metadata record ${JSON.stringify(r).slice(0, 200)}`);
    }
  }
  return parsed as MetadataRecord[];
}
