import { ErrorCode } from '../common';
import type { AclOperation, AclResourceType } from '../metadata';
import { CoordinatorType, type PartitionSet } from '../protocol';
import { CLUSTER_RESOURCE, type Requirement } from '../security';

/**
 * What each client request needs, in Kafka's terms (its "Operations and resources on protocols"
 * table): a list of requirements that must all hold, each either one operation on one resource
 * or a choice (Create on the cluster or on the topic). Requests that list what they see
 * (Metadata, ListTopics, ListGroups, ListTransactions, DescribeTopics) are not refused: their
 * answers leave out, or mark TOPIC_AUTHORIZATION_FAILED, what the principal may not Describe.
 */
export type Need = Requirement | { anyOf: Requirement[] };

type Req = Record<string, unknown>;
type Res = Record<string, unknown>;

export interface RequestRule {
  needs?: (req: Req) => Need[];
  /** Rewrites the response to what the principal may see; `audit` logs a refusal of something asked for by name. */
  filter?: (res: Res, may: (r: Requirement, audit: boolean) => boolean, req: Req) => Res;
}

const need = (type: AclResourceType, name: string, operation: AclOperation): Requirement => ({ resource: { type, name }, operation });
const topic = (name: string, operation: AclOperation) => need('topic', name, operation);
const group = (name: string, operation: AclOperation) => need('group', name, operation);
const txn = (name: string, operation: AclOperation) => need('transactional-id', name, operation);
const cluster = (operation: AclOperation) => need('cluster', CLUSTER_RESOURCE, operation);

const names = (list: unknown): string[] => [...new Set(((list as { topic?: string }[] | undefined) ?? []).map((x) => x.topic ?? ''))];
const setTopics = (s: unknown): string[] => ((s as PartitionSet | null | undefined)?.topics ?? []).map((t) => t.topic);
const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The error a refused requirement is answered with. */
export function deniedCode(type: AclResourceType): ErrorCode {
  switch (type) {
    case 'topic':
      return ErrorCode.TOPIC_AUTHORIZATION_FAILED;
    case 'group':
      return ErrorCode.GROUP_AUTHORIZATION_FAILED;
    case 'transactional-id':
      return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    case 'cluster':
      return ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
  }
}

const produce: RequestRule = { needs: (r) => [...names(r.partitions).map((t) => topic(t, 'Write')), ...(str(r.transactionalId) ? [txn(str(r.transactionalId), 'Write')] : [])] };
const fetch: RequestRule = { needs: (r) => names(r.partitions).map((t) => topic(t, 'Read')) };

function topicList(res: Res, may: (r: Requirement, audit: boolean) => boolean, req: Req, key: 'names' | 'topics'): Res {
  const asked = ((req[key] as string[] | undefined) ?? []).length > 0;
  const topics = (res.topics as { name: string }[] | undefined) ?? [];
  return {
    ...res,
    topics: asked
      ? topics.map((t) =>
          may(topic(t.name, 'Describe'), true)
            ? t
            : { ...t, topicId: '', errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, errorMessage: `not authorized to describe topic "${t.name}"`, partitions: [], configs: {} },
        )
      : topics.filter((t) => may(topic(t.name, 'Describe'), false)),
  };
}

export const REQUEST_RULES: Record<string, RequestRule> = {
  'cairn.v1.Broker/Metadata': { filter: (res, may, req) => topicList(res, may, req, 'topics') },
  'cairn.v1.Broker/Produce': produce,
  'cairn.v1.Broker/ProduceStream': produce,
  'cairn.v1.Broker/Fetch': fetch,
  'cairn.v1.Broker/FetchStream': fetch,
  'cairn.v1.Broker/ListOffsets': { needs: (r) => names(r.partitions).map((t) => topic(t, 'Describe')) },
  // An idempotent producer needs Write on each topic it produces to, checked there (Kafka 3's rule).
  'cairn.v1.Broker/InitProducerId': { needs: (r) => (str(r.transactionalId) ? [txn(str(r.transactionalId), 'Write')] : []) },
  'cairn.v1.Broker/FindCoordinator': { needs: (r) => [r.keyType === CoordinatorType.TRANSACTION ? txn(str(r.key), 'Describe') : group(str(r.key), 'Describe')] },
  'cairn.v1.Broker/ConsumerGroupHeartbeat': { needs: (r) => [group(str(r.groupId), 'Read')] },
  'cairn.v1.Broker/OffsetCommit': { needs: (r) => [group(str(r.groupId), 'Read'), ...names(r.offsets).map((t) => topic(t, 'Read'))] },
  'cairn.v1.Broker/OffsetFetch': { needs: (r) => [group(str(r.groupId), 'Describe'), ...setTopics(r.partitions).map((t) => topic(t, 'Describe'))] },
  'cairn.v1.Broker/ListGroups': { filter: (res, may) => ({ ...res, groups: ((res.groups as { groupId: string }[] | undefined) ?? []).filter((g) => may(group(g.groupId, 'Describe'), false)) }) },
  'cairn.v1.Broker/DescribeGroups': { needs: (r) => ((r.groupIds as string[] | undefined) ?? []).map((g) => group(g, 'Describe')) },
  'cairn.v1.Broker/DeleteGroups': { needs: (r) => ((r.groupIds as string[] | undefined) ?? []).map((g) => group(g, 'Delete')) },
  'cairn.v1.Broker/AddPartitionsToTxn': { needs: (r) => [txn(str(r.transactionalId), 'Write'), ...setTopics(r.partitions).map((t) => topic(t, 'Write'))] },
  'cairn.v1.Broker/AddOffsetsToTxn': { needs: (r) => [txn(str(r.transactionalId), 'Write'), group(str(r.groupId), 'Read')] },
  'cairn.v1.Broker/TxnOffsetCommit': { needs: (r) => [txn(str(r.transactionalId), 'Write'), group(str(r.groupId), 'Read'), ...names(r.offsets).map((t) => topic(t, 'Read'))] },
  'cairn.v1.Broker/EndTxn': { needs: (r) => [txn(str(r.transactionalId), 'Write')] },
  'cairn.v1.Broker/ListTransactions': {
    filter: (res, may) => ({ ...res, transactions: ((res.transactions as { transactionalId: string }[] | undefined) ?? []).filter((t) => may(txn(t.transactionalId, 'Describe'), false)) }),
  },
  'cairn.v1.Broker/DescribeTransactions': { needs: (r) => ((r.transactionalIds as string[] | undefined) ?? []).map((t) => txn(t, 'Describe')) },
  // Ending someone else's transaction is an operator's act (Kafka's needs ClusterAction).
  'cairn.v1.Broker/AbortTransaction': { needs: () => [cluster('Alter')] },
  'cairn.v1.Broker/DescribeProducers': { needs: (r) => [topic(str(r.topic), 'Read')] },
  'cairn.v1.Broker/SaslAuthenticate': {},
  'cairn.v1.Admin/CreateTopics': { needs: (r) => ((r.topics as { name: string }[] | undefined) ?? []).map((t) => ({ anyOf: [cluster('Create'), topic(t.name, 'Create')] })) },
  'cairn.v1.Admin/DeleteTopics': { needs: (r) => ((r.names as string[] | undefined) ?? []).map((t) => topic(t, 'Delete')) },
  'cairn.v1.Admin/ListTopics': { filter: (res, may) => ({ ...res, topics: ((res.topics as { name: string }[] | undefined) ?? []).filter((t) => may(topic(t.name, 'Describe'), false)) }) },
  'cairn.v1.Admin/DescribeTopics': { filter: (res, may, req) => topicList(res, may, req, 'names') },
  'cairn.v1.Admin/AlterConfigs': { needs: (r) => [topic(str(r.topic), 'AlterConfigs')] },
  'cairn.v1.Admin/AlterPartitionReassignments': { needs: () => [cluster('Alter')] },
  'cairn.v1.Admin/ElectLeaders': { needs: () => [cluster('Alter')] },
  'cairn.v1.Admin/DescribeQuorum': { needs: () => [cluster('Describe')] },
  'cairn.v1.Admin/AddController': { needs: () => [cluster('Alter')] },
  'cairn.v1.Admin/RemoveController': { needs: () => [cluster('Alter')] },
  'cairn.v1.Admin/DescribeLogDirs': { needs: () => [cluster('Describe')] },
  'cairn.v1.Admin/CreateAcls': { needs: () => [cluster('Alter')] },
  'cairn.v1.Admin/DeleteAcls': { needs: () => [cluster('Alter')] },
  'cairn.v1.Admin/DescribeAcls': { needs: () => [cluster('Describe')] },
  'cairn.v1.Admin/AlterUserScramCredentials': { needs: () => [cluster('Alter')] },
  'cairn.v1.Admin/DescribeUserScramCredentials': { needs: () => [cluster('Describe')] },
  'cairn.v1.Admin/AlterClientQuotas': { needs: () => [cluster('AlterConfigs')] },
  'cairn.v1.Admin/DescribeClientQuotas': { needs: () => [cluster('DescribeConfigs')] },
};
