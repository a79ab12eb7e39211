import { CairnError, ErrorCode, isRetriable } from '../common';
import { randomBytes } from 'node:crypto';
import { parseMechanism, saltedPassword } from '../security';
import type {
  AclBindingMessage,
  AclFilterMessage,
  AlterUserScramCredentialsResponse,
  AlterClientQuotasResponse,
  DescribeClientQuotasResponse,
  QuotaEntityMessage,
  CreateAclsResponse,
  DeleteAclsResponse,
  DescribeAclsResponse,
  DescribeLogDirsResponse,
  DescribeUserScramCredentialsResponse,
  AlterConfigsResponse,
  AlterReassignmentsResponse,
  CreateTopicResult,
  CreateTopicsResponse,
  DeleteTopicsResponse,
  DescribeTopicsResponse,
  ListTopicsResponse,
  MetadataResponse,
  TopicDescription,
} from '../protocol';
import { Cluster, type ClientOptions } from './cluster';
import { TransactionAdmin } from './transaction-admin';
import { GroupAdmin } from './group-admin';

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

/**
 * Whether an item of an admin answer (one topic's result) is worth asking again: retriable codes
 * from the error table, except that a topic the cluster says does not exist is an answer, not a
 * passing state — as Kafka's AdminClient does, it is returned at once.
 */
function retriedInAnswer(code: number): boolean {
  return code !== ErrorCode.UNKNOWN_TOPIC_OR_PARTITION && isRetriable(code);
}

type ItemResult = { errorCode: number; errorMessage?: string };

/** The first item of an answer that should be asked again, as an error to retry on. */
function transientItem(items: readonly ItemResult[]): CairnError | null {
  const r = items.find((x) => retriedInAnswer(x.errorCode));
  return r ? new CairnError(r.errorCode, r.errorMessage || undefined) : null;
}

/** Throws the first item of an answer that failed (after retries), named when it has a name. */
function throwFirstFailure(items: readonly (ItemResult & { name?: string })[]): void {
  const bad = items.find((r) => r.errorCode !== ErrorCode.NONE);
  if (bad) throw new CairnError(bad.errorCode, bad.name ? `${bad.name}: ${bad.errorMessage}` : bad.errorMessage);
}

/**
 * Topic administration. Calls go to the active controller when known, else to any broker (which
 * forwards). Every call retries retriable failures — no controller elected yet, brokers still
 * registering, a node restarting — with backoff until `defaultApiTimeoutMs` (60 s by default).
 */
export class Admin {
  readonly cluster: Cluster;
  /** Consumer groups: list, describe with lag, delete, reset offsets. */
  readonly groups: GroupAdmin;
  /** Transactions: list, describe, open and hanging ones, abort. */
  readonly transactions: TransactionAdmin;

  constructor(opts: ClientOptions = {}) {
    this.cluster = new Cluster(opts);
    this.groups = new GroupAdmin(this.cluster, opts);
    this.transactions = new TransactionAdmin(this.cluster);
  }

  /**
   * One call, at the controller when known, else at each known node in turn; `makeRequest` builds
   * each attempt's request and `check` turns an answer that holds retriable item errors into an
   * error, so that the attempt is retried.
   */
  private call<Res>(method: string, makeRequest: () => unknown, check: (res: Res) => CairnError | null = () => null): Promise<Res> {
    return this.cluster.retrying(`Admin ${method}`, async (attempt) => {
      if (attempt === 1) await this.cluster.refresh().catch(() => undefined); // else the bootstrap list
      let last: unknown;
      for (const client of this.cluster.admin()) {
        try {
          const res = await client.unary<unknown, Res>(method, makeRequest(), this.cluster.requestTimeoutMs);
          const transient = check(res);
          if (transient) throw transient;
          return res;
        } catch (err) {
          last = err;
          if (!(err instanceof CairnError) || !isRetriable(err.code)) throw err;
        }
      }
      throw last;
    });
  }

  /**
   * Creates topics; resolves with one result per topic (check errorCode), or throws if no node
   * answered in time. Topics whose creation failed for a retriable reason (no active controller
   * yet, too few brokers registered yet for the default replication factor) are asked for again,
   * alone, until the deadline; then their result carries the last error.
   */
  async createTopics(topics: NewTopic[], options: { validateOnly?: boolean } = {}): Promise<CreateTopicResult[]> {
    const settled = new Map<string, CreateTopicResult>();
    const request = () => ({
      topics: topics
        .filter((t) => !settled.has(t.name))
        .map((t) => ({
          name: t.name,
          numPartitions: t.partitions ?? -1,
          replicationFactor: t.replicationFactor ?? -1,
          configs: t.configs ?? {},
          assignments: (t.assignments ?? []).map((brokerIds, partition) => ({ partition, brokerIds })),
        })),
      validateOnly: options.validateOnly ?? false,
    });
    let answered = false;
    let final: CairnError | null = null;
    try {
      await this.call<CreateTopicsResponse>('CreateTopics', request, (res) => {
        answered = true;
        for (const r of res.results) if (!retriedInAnswer(r.errorCode)) settled.set(r.name, r);
        return transientItem(res.results);
      });
    } catch (err) {
      if (!(err instanceof CairnError) || !answered) throw err;
      final = err;
    }
    return topics.map((t) => settled.get(t.name) ?? { name: t.name, errorCode: final!.code, errorMessage: final!.message, topicId: '', numPartitions: -1, replicationFactor: -1 });
  }

  /** Creates one topic, throwing a CairnError on failure. */
  async createTopic(topic: NewTopic): Promise<CreateTopicResult> {
    const [r] = await this.createTopics([topic]);
    if (!r || r.errorCode !== ErrorCode.NONE) throw new CairnError(r?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, r?.errorMessage);
    return r;
  }

  async deleteTopics(names: string[]): Promise<DeleteTopicsResponse['results']> {
    return (
      await this.call<DeleteTopicsResponse>(
        'DeleteTopics',
        () => ({ names }),
        (res) => transientItem(res.results),
      )
    ).results;
  }

  async listTopics(includeInternal = false): Promise<ListTopicsResponse['topics']> {
    return (await this.call<ListTopicsResponse>('ListTopics', () => ({ includeInternal }))).topics;
  }

  async describeTopics(names: string[] = []): Promise<TopicDescription[]> {
    return (
      await this.call<DescribeTopicsResponse>(
        'DescribeTopics',
        () => ({ names }),
        (res) => transientItem(res.topics),
      )
    ).topics;
  }

  async alterConfigs(topic: string, set: Record<string, string>, remove: string[] = []): Promise<void> {
    const res = await this.call<AlterConfigsResponse>(
      'AlterConfigs',
      () => ({ topic, set, delete: remove }),
      (r) => transientItem([r]),
    );
    if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage);
  }

  /** Adds ACLs (docs/security.md); adding one that exists is not an error. Throws on the first binding refused. */
  async createAcls(acls: AclBindingMessage[]): Promise<void> {
    const res = await this.call<CreateAclsResponse>(
      'CreateAcls',
      () => ({ acls }),
      (r) => transientItem(r.results),
    );
    throwFirstFailure(res.results);
  }

  /** The ACLs a filter matches (empty fields match anything; patternType 'match' finds those covering a name). */
  async describeAcls(filter: AclFilterMessage = {}): Promise<AclBindingMessage[]> {
    const res = await this.call<DescribeAclsResponse>('DescribeAcls', () => ({ filter }));
    if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage);
    return res.acls;
  }

  /** Removes every ACL each filter matches; resolves with the removed ones. */
  async deleteAcls(filters: AclFilterMessage[]): Promise<AclBindingMessage[]> {
    const res = await this.call<DeleteAclsResponse>(
      'DeleteAcls',
      () => ({ filters }),
      (r) => transientItem(r.results),
    );
    return res.results.flatMap((r) => r.deleted);
  }

  /**
   * Creates a user or changes its password (Kafka's alterUserScramCredentials): the password is
   * salted and hashed here (PBKDF2, `iterations` rounds) and only the result is sent.
   */
  async upsertUser(name: string, password: string, options: { mechanism?: string; iterations?: number } = {}): Promise<void> {
    const mechanism = parseMechanism(options.mechanism ?? 'SCRAM-SHA-512');
    const iterations = options.iterations ?? 4096;
    const salt = randomBytes(32);
    const upsertion = { name, mechanism, iterations, salt, saltedPassword: saltedPassword(mechanism, password, salt, iterations) };
    await this.alterUsers({ upsertions: [upsertion] });
  }

  /** Deletes a user's credential: its sessions end at their next request. */
  async deleteUser(name: string, mechanism = 'SCRAM-SHA-512'): Promise<void> {
    await this.alterUsers({ deletions: [{ name, mechanism: parseMechanism(mechanism) }] });
  }

  private async alterUsers(req: object): Promise<void> {
    const res = await this.call<AlterUserScramCredentialsResponse>(
      'AlterUserScramCredentials',
      () => req,
      (r) => transientItem(r.results),
    );
    throwFirstFailure(res.results);
  }

  /**
   * Sets and removes client quotas of one entity (Kafka's alterClientQuotas): producer_byte_rate,
   * consumer_byte_rate (bytes/s), request_rate (requests/s); `entity` names a user, a client id
   * or both, or their defaults.
   */
  async alterClientQuotas(entity: Partial<QuotaEntityMessage>, set: Record<string, number>, remove: string[] = []): Promise<void> {
    const res = await this.call<AlterClientQuotasResponse>(
      'AlterClientQuotas',
      () => ({ alterations: [{ entity, set, remove }] }),
      (r) => transientItem(r.results),
    );
    throwFirstFailure(res.results);
  }

  async describeClientQuotas(): Promise<DescribeClientQuotasResponse['entries']> {
    return (await this.call<DescribeClientQuotasResponse>('DescribeClientQuotas', () => ({}))).entries;
  }

  /** Users with SCRAM credentials (names, mechanisms, iterations; never a key). */
  async describeUsers(names: string[] = []): Promise<DescribeUserScramCredentialsResponse['users']> {
    return (await this.call<DescribeUserScramCredentialsResponse>('DescribeUserScramCredentials', () => ({ names }))).users;
  }

  /**
   * Moves partitions to new replica lists (empty list: cancel a move in progress). Resolves once
   * the move has started; `describeTopics` shows adding/removing replicas until it completes.
   */
  async reassignPartitions(moves: { topic: string; partition: number; replicas: number[] }[]): Promise<AlterReassignmentsResponse['results']> {
    return (
      await this.call<AlterReassignmentsResponse>(
        'AlterPartitionReassignments',
        () => ({ reassignments: moves }),
        (res) => transientItem(res.results),
      )
    ).results;
  }

  /**
   * Each broker's data directory and the partition replicas in it (Kafka's describeLogDirs):
   * every broker in the metadata is asked (or those of `brokerIds`), in parallel. A broker that
   * does not answer is reported with its error instead of failing the whole call.
   */
  async describeLogDirs(options: { brokerIds?: number[]; topics?: string[] } = {}): Promise<DescribeLogDirsResponse[]> {
    const { brokers } = await this.describeCluster();
    const asked = brokers.filter((b) => !options.brokerIds?.length || options.brokerIds.includes(b.nodeId)).sort((a, b) => a.nodeId - b.nodeId);
    return Promise.all(
      asked.map(async (b) => {
        const client = this.cluster.rpcClient(`${b.host}:${b.port}`, 'cairn.v1.Admin');
        try {
          return plainLogDirs(await client.unary<unknown, DescribeLogDirsResponse>('DescribeLogDirs', { topics: options.topics ?? [] }, this.cluster.requestTimeoutMs));
        } catch (err) {
          const code = err instanceof CairnError ? err.code : ErrorCode.NETWORK_EXCEPTION;
          return { errorCode: code, errorMessage: (err as Error).message, brokerId: b.nodeId, logDir: '', totalBytes: -1, usableBytes: -1, partitions: [] };
        } finally {
          client.close();
        }
      }),
    );
  }

  /** Brokers, controller and topics as a broker sees them. */
  describeCluster(): Promise<MetadataResponse> {
    return this.cluster.retrying('Metadata', () => this.cluster.refresh(true));
  }

  close(): void {
    this.cluster.close();
  }
}

/**
 * A decoded answer as a plain object. A decoded protobufjs message carries protobufjs's `toJSON`,
 * which prints 64-bit fields as strings and enums by name; these answers are meant to be printed
 * (`cairn log-dirs describe --json`), so they are copied field by field.
 */
function plainLogDirs(d: DescribeLogDirsResponse): DescribeLogDirsResponse {
  return {
    errorCode: d.errorCode,
    errorMessage: d.errorMessage,
    brokerId: d.brokerId,
    logDir: d.logDir,
    totalBytes: d.totalBytes,
    usableBytes: d.usableBytes,
    partitions: d.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      sizeBytes: p.sizeBytes,
      logStartOffset: p.logStartOffset,
      logEndOffset: p.logEndOffset,
      highWatermark: p.highWatermark,
      offsetLag: p.offsetLag,
      role: p.role,
      segments: p.segments,
      offline: p.offline,
    })),
  };
}
