import { CairnError, ErrorCode, isRetriable } from '../common/errors';
import type {
  AlterConfigsResponse,
  AlterReassignmentsResponse,
  CreateTopicResult,
  CreateTopicsResponse,
  DeleteTopicsResponse,
  DescribeTopicsResponse,
  ListTopicsResponse,
  MetadataResponse,
  TopicDescription,
} from '../protocol/messages';
import { Cluster, type ClientOptions } from './cluster';

export interface NewTopic {
  name: string;
  /** Default: the broker's num.partitions. */
  partitions?: number;
  /** Default: the broker's default.replication.factor (min(3, live brokers) unless configured). */
  replicationFactor?: number;
  /** Kafka topic config names: retention.ms, cleanup.policy, min.insync.replicas, ... */
  configs?: Record<string, string>;
  /** Explicit placement: partition → broker ids (first is the preferred leader). */
  assignments?: number[][];
}

/** Topic administration. Calls go to the active controller when known, else to any broker (which forwards). */
export class Admin {
  readonly cluster: Cluster;

  constructor(opts: ClientOptions = {}) {
    this.cluster = new Cluster(opts);
  }

  /** Tries the controller, then each known node, for calls that change metadata. */
  private async call<Res>(method: string, req: unknown): Promise<Res> {
    try {
      await this.cluster.refresh();
    } catch {
      // Fall back to the bootstrap list.
    }
    let last: unknown;
    for (const client of this.cluster.admin()) {
      try {
        return await client.unary<unknown, Res>(method, req, this.cluster.requestTimeoutMs);
      } catch (err) {
        last = err;
        if (!(err instanceof CairnError) || !isRetriable(err.code)) throw err;
      }
    }
    throw last;
  }

  /** Creates topics; resolves with one result per topic (check errorCode), or throws if no node answered. */
  async createTopics(topics: NewTopic[], options: { validateOnly?: boolean } = {}): Promise<CreateTopicResult[]> {
    const res = await this.call<CreateTopicsResponse>('CreateTopics', {
      topics: topics.map((t) => ({
        name: t.name,
        numPartitions: t.partitions ?? -1,
        replicationFactor: t.replicationFactor ?? -1,
        configs: t.configs ?? {},
        assignments: (t.assignments ?? []).map((brokerIds, partition) => ({ partition, brokerIds })),
      })),
      validateOnly: options.validateOnly ?? false,
    });
    return res.results;
  }

  /** Creates one topic, throwing a CairnError on failure. */
  async createTopic(topic: NewTopic): Promise<CreateTopicResult> {
    const [r] = await this.createTopics([topic]);
    if (!r || r.errorCode !== ErrorCode.NONE) throw new CairnError(r?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, r?.errorMessage);
    return r;
  }

  async deleteTopics(names: string[]): Promise<DeleteTopicsResponse['results']> {
    return (await this.call<DeleteTopicsResponse>('DeleteTopics', { names })).results;
  }

  async listTopics(includeInternal = false): Promise<ListTopicsResponse['topics']> {
    return (await this.call<ListTopicsResponse>('ListTopics', { includeInternal })).topics;
  }

  async describeTopics(names: string[] = []): Promise<TopicDescription[]> {
    return (await this.call<DescribeTopicsResponse>('DescribeTopics', { names })).topics;
  }

  async alterConfigs(topic: string, set: Record<string, string>, remove: string[] = []): Promise<void> {
    const res = await this.call<AlterConfigsResponse>('AlterConfigs', { topic, set, delete: remove });
    if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage);
  }

  /**
   * Moves partitions to new replica lists (empty list: cancel a move in progress). Resolves once
   * the move has started; `describeTopics` shows adding/removing replicas until it completes.
   */
  async reassignPartitions(moves: { topic: string; partition: number; replicas: number[] }[]): Promise<AlterReassignmentsResponse['results']> {
    return (await this.call<AlterReassignmentsResponse>('AlterPartitionReassignments', { reassignments: moves })).results;
  }

  /** Brokers, controller and topics as a broker sees them. */
  describeCluster(): Promise<MetadataResponse> {
    return this.cluster.refresh(true);
  }

  close(): void {
    this.cluster.close();
  }
}
