import type * as grpc from '@grpc/grpc-js';
import { ErrorCode, type Logger } from '../common';
import { type MetadataImage, NO_LEADER } from '../metadata';
import type {
  AlterConfigsRequest,
  AlterConfigsResponse,
  AlterReassignmentsRequest,
  AlterReassignmentsResponse,
  CreateTopicsRequest,
  CreateTopicsResponse,
  DeleteTopicsRequest,
  DeleteTopicsResponse,
  DescribeTopicsRequest,
  DescribeTopicsResponse,
  ListTopicsRequest,
  AlterClientQuotasRequest,
  AlterClientQuotasResponse,
  DescribeClientQuotasResponse,
  AlterUserScramCredentialsRequest,
  AlterUserScramCredentialsResponse,
  CreateAclsRequest,
  CreateAclsResponse,
  DeleteAclsRequest,
  DeleteAclsResponse,
  DescribeAclsRequest,
  DescribeAclsResponse,
  DescribeUserScramCredentialsResponse,
} from '../protocol';
import { bindingMessage } from '../controller';
import { filterMatches } from '../security';
import { FORWARDED_KEY } from './controller-client';
import { unary } from './grpc-util';

/** Where metadata-changing admin requests go: the local active controller, or forwarded to it. */
export interface ControllerChannel {
  createTopics(req: CreateTopicsRequest): Promise<CreateTopicsResponse>;
  deleteTopics(req: DeleteTopicsRequest): Promise<DeleteTopicsResponse>;
  alterConfigs(req: AlterConfigsRequest): Promise<AlterConfigsResponse>;
  alterReassignments(req: AlterReassignmentsRequest): Promise<AlterReassignmentsResponse>;
  electLeaders(req: ElectLeadersRequest): Promise<ElectLeadersResponse>;
  createAcls(req: CreateAclsRequest): Promise<CreateAclsResponse>;
  deleteAcls(req: DeleteAclsRequest): Promise<DeleteAclsResponse>;
  alterUserScramCredentials(req: AlterUserScramCredentialsRequest): Promise<AlterUserScramCredentialsResponse>;
  alterClientQuotas(req: AlterClientQuotasRequest): Promise<AlterClientQuotasResponse>;
}

export interface QuorumChangeRequest {
  nodeId: number;
  /** add: the new voter's controller endpoint, host:port; empty: the internal address it registered as a broker. */
  endpoint: string;
  timeoutMs: number;
}

export interface QuorumChangeResponse {
  errorCode: number;
  errorMessage: string;
  leaderHint: number;
}

/** Controller voters added and removed at run time (KIP-853), at the active controller. */
export interface QuorumChannel {
  addController(req: QuorumChangeRequest): Promise<QuorumChangeResponse>;
  removeController(req: QuorumChangeRequest): Promise<QuorumChangeResponse>;
}

/** Every client quota in the image. */
export function describeQuotas(image: MetadataImage): DescribeClientQuotasResponse {
  return {
    entries: [...image.quotas.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, { entity, values }]) => ({
        entity: { user: entity.user ?? '', defaultUser: entity.user === null, clientId: entity.clientId ?? '', defaultClientId: entity.clientId === null },
        values: Object.fromEntries(values),
      })),
  };
}

/** DescribeAcls, answered from this node's image (Kafka answers it on any broker too). */
export function describeAcls(image: MetadataImage, req: DescribeAclsRequest): DescribeAclsResponse {
  const acls = [...image.acls.values()].filter((b) => filterMatches(req.filter ?? {}, b)).map(bindingMessage);
  acls.sort((a, b) => `${a.resourceType}:${a.resourceName}:${a.principal}:${a.operation}`.localeCompare(`${b.resourceType}:${b.resourceName}:${b.principal}:${b.operation}`));
  return { errorCode: ErrorCode.NONE, errorMessage: '', acls };
}

/** The users with SCRAM credentials and their mechanisms and iteration counts; never a key. */
export function describeUsers(image: MetadataImage, names: readonly string[]): DescribeUserScramCredentialsResponse {
  const users: DescribeUserScramCredentialsResponse['users'] = [];
  for (const [name, byMechanism] of [...image.scramCredentials].sort(([a], [b]) => a.localeCompare(b))) {
    if (names.length > 0 && !names.includes(name)) continue;
    for (const c of byMechanism.values()) users.push({ name, mechanism: c.mechanism, iterations: c.iterations });
  }
  return { users };
}

export interface ElectLeadersRequest {
  /** Empty: every topic. */
  topics: string[];
}

export interface ElectLeadersResponse {
  errorCode: number;
  errorMessage: string;
  moved: number;
}

export function describeTopics(image: MetadataImage, names: readonly string[]): DescribeTopicsResponse {
  const wanted = names.length > 0 ? names : [...image.topicsByName.keys()].sort();
  return {
    topics: wanted.map((name) => {
      const t = image.topicsByName.get(name);
      if (!t) return { name, topicId: '', errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `unknown topic "${name}"`, configs: {}, partitions: [], internal: false };
      return {
        name,
        topicId: t.id,
        errorCode: ErrorCode.NONE,
        internal: name.startsWith('__'),
        configs: Object.fromEntries(image.topicConfigs(name)),
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          leaderId: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: [...p.replicas],
          isr: [...p.isr],
          offlineReplicas: p.replicas.filter((r) => !image.isBrokerAlive(r)),
          underReplicated: p.isr.length < p.replicas.length,
          offline: p.leader === NO_LEADER,
          addingReplicas: [...p.addingReplicas],
          removingReplicas: [...p.removingReplicas],
        })),
      };
    }),
  };
}

/** What only the node asked can answer: its view of the quorum, its own data directory. */
export interface LocalDescriptions {
  describeQuorum(): unknown;
  describeLogDirs(topics: string[]): unknown;
}

export function adminService(
  logger: Logger,
  controllerFor: (forwarded: boolean) => ControllerChannel,
  quorumFor: (forwarded: boolean) => QuorumChannel,
  image: () => MetadataImage,
  local: LocalDescriptions,
): grpc.UntypedServiceImplementation {
  const forwarded = (call: { metadata: grpc.Metadata }) => call.metadata.get(FORWARDED_KEY).length > 0;
  return {
    CreateTopics: unary(logger, (req: CreateTopicsRequest, call) => controllerFor(forwarded(call)).createTopics(req)),
    DeleteTopics: unary(logger, (req: DeleteTopicsRequest, call) => controllerFor(forwarded(call)).deleteTopics(req)),
    AlterConfigs: unary(logger, (req: AlterConfigsRequest, call) => controllerFor(forwarded(call)).alterConfigs(req)),
    AlterPartitionReassignments: unary(logger, (req: AlterReassignmentsRequest, call) => controllerFor(forwarded(call)).alterReassignments(req)),
    ElectLeaders: unary(logger, (req: ElectLeadersRequest, call) => controllerFor(forwarded(call)).electLeaders(req)),
    CreateAcls: unary(logger, (req: CreateAclsRequest, call) => controllerFor(forwarded(call)).createAcls(req)),
    DeleteAcls: unary(logger, (req: DeleteAclsRequest, call) => controllerFor(forwarded(call)).deleteAcls(req)),
    DescribeAcls: unary(logger, (req: DescribeAclsRequest) => describeAcls(image(), req)),
    AlterUserScramCredentials: unary(logger, (req: AlterUserScramCredentialsRequest, call) => controllerFor(forwarded(call)).alterUserScramCredentials(req)),
    DescribeUserScramCredentials: unary(logger, (req: { names?: string[] }) => describeUsers(image(), req.names ?? [])),
    AlterClientQuotas: unary(logger, (req: AlterClientQuotasRequest, call) => controllerFor(forwarded(call)).alterClientQuotas(req)),
    DescribeClientQuotas: unary(logger, () => describeQuotas(image())),
    DescribeQuorum: unary(logger, () => local.describeQuorum()),
    AddController: unary(logger, (req: QuorumChangeRequest, call) => quorumFor(forwarded(call)).addController(req)),
    RemoveController: unary(logger, (req: QuorumChangeRequest, call) => quorumFor(forwarded(call)).removeController(req)),
    DescribeLogDirs: unary(logger, (req: { topics?: string[] }) => local.describeLogDirs(req.topics ?? [])),
    DescribeTopics: unary(logger, (req: DescribeTopicsRequest) => describeTopics(image(), req.names)),
    ListTopics: unary(logger, (req: ListTopicsRequest) => ({
      topics: [...image().topicsByName.values()]
        .filter((t) => req.includeInternal || !t.name.startsWith('__'))
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((t) => ({ name: t.name, topicId: t.id, numPartitions: t.partitions.length, internal: t.name.startsWith('__') })),
    })),
  };
}
