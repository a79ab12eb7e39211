import { CairnError, ErrorCode } from '../common';
import type { CommittedOffsetInfo, DeleteGroupsResponse, DescribedGroup, DescribeGroupsResponse, ListGroupsResponse, MetadataResponse, OffsetCommitResponse, OffsetFetchResponse } from '../protocol';
import type { ClientOptions, Cluster } from './cluster';
import { Consumer } from './consumer';
import { askForCoordinator, offsetFetchRequest } from './group-membership';

export interface GroupOffsetLag {
  topic: string;
  partition: number;
  /** -1: nothing committed. */
  committed: number;
  logEndOffset: number;
  /** Log end − committed (the whole log end when nothing is committed). */
  lag: number;
}

/** Where `resetOffsets` moves a group's offsets of one topic (Kafka's kafka-consumer-groups --reset-offsets). */
export type OffsetReset = { to: 'earliest' } | { to: 'latest' } | { to: 'datetime'; timestampMs: number } | { shiftBy: number };

/** Group administration over the coordinator's RPCs (docs/groups.md): list, describe with lag, delete, reset offsets. */
export class GroupAdmin {
  constructor(
    private readonly cluster: Cluster,
    /** How the lag probes connect: the admin's own client options. */
    private readonly options: ClientOptions,
  ) {}

  /** A call at the group's coordinator, found again and retried while it moves or loads. */
  private atCoordinator<Res>(groupId: string, method: string, req: unknown, failed: (res: Res) => CairnError | null): Promise<Res> {
    return this.cluster.retrying(`${method} for group "${groupId}"`, async (attempt) => {
      const coordinator = await askForCoordinator(this.cluster, groupId, attempt, this.cluster.requestTimeoutMs);
      const res = await this.cluster.connection(coordinator).rpc.unary<unknown, Res>(method, req, this.cluster.requestTimeoutMs);
      const err = failed(res);
      if (err) throw err;
      return res;
    });
  }

  /** Every group, from every broker (each lists those it coordinates). */
  async listGroups(): Promise<ListGroupsResponse['groups']> {
    const md = await this.cluster.retrying('Metadata', () =>
      this.cluster.connection(this.cluster.brokerCandidates()[0]!).rpc.unary<{ topics: string[] }, MetadataResponse>('Metadata', { topics: [] }, this.cluster.requestTimeoutMs),
    );
    const lists = await Promise.all(md.brokers.map((b) => this.cluster.connection(`${b.host}:${b.port}`).rpc.unary<object, ListGroupsResponse>('ListGroups', {}, this.cluster.requestTimeoutMs)));
    const all = new Map<string, ListGroupsResponse['groups'][number]>();
    for (const l of lists) for (const g of l.groups) all.set(g.groupId, g);
    return [...all.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  /**
   * Members, assignment and committed offsets, with each partition's lag against its log end now:
   * the high watermark, or for a group that reads `read_committed` the last stable offset (what
   * such a consumer can reach; an open transaction holds it back). The partitions' leaders
   * answer, so every node gives the same figure.
   */
  async describeGroup(groupId: string, isolationLevel: 'read_committed' | 'read_uncommitted' = 'read_uncommitted'): Promise<DescribedGroup & { lag: GroupOffsetLag[] }> {
    const res = await this.atCoordinator<DescribeGroupsResponse>(groupId, 'DescribeGroups', { groupIds: [groupId] }, (r) => retriable(r.groups[0]));
    const g = res.groups[0]!;
    if (g.errorCode !== ErrorCode.NONE) throw new CairnError(g.errorCode, g.errorMessage || undefined);
    const ends = await this.logEnds(
      g.offsets.map((o) => ({ topic: o.topic, partition: o.partition })),
      isolationLevel,
    );
    const lag = g.offsets.map((o, i) => ({ topic: o.topic, partition: o.partition, committed: o.offset, logEndOffset: ends[i]!, lag: Math.max(0, ends[i]! - Math.max(0, o.offset)) }));
    return { ...g, lag };
  }

  /** The group's committed offsets (every one, or of these partitions: -1 where none), as Kafka's listConsumerGroupOffsets. */
  async fetchOffsets(groupId: string, partitions?: { topic: string; partition: number }[]): Promise<CommittedOffsetInfo[]> {
    const res = await this.atCoordinator<OffsetFetchResponse>(groupId, 'OffsetFetch', offsetFetchRequest(groupId, partitions), (r) => retriable(r));
    if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage || undefined);
    return res.offsets;
  }

  async deleteGroup(groupId: string): Promise<void> {
    const res = await this.atCoordinator<DeleteGroupsResponse>(groupId, 'DeleteGroups', { groupIds: [groupId] }, (r) => retriable(r.results[0]));
    const r = res.results[0]!;
    if (r.errorCode !== ErrorCode.NONE) throw new CairnError(r.errorCode, r.errorMessage || undefined);
  }

  /**
   * Moves the group's offsets of every partition of `topic` (the group must have no members:
   * NON_EMPTY_GROUP-like UNKNOWN_MEMBER_ID otherwise). Returns the new offsets.
   */
  async resetOffsets(groupId: string, topic: string, reset: OffsetReset): Promise<{ partition: number; offset: number }[]> {
    const probe = new Consumer({ ...this.options });
    let targets: { partition: number; offset: number }[];
    try {
      const t = await probe.cluster.waitForTopic(topic);
      const partitions = t.partitions.map((p) => p.partition);
      probe.assign(partitions.map((partition) => ({ topic, partition })));
      if ('shiftBy' in reset) {
        const current = await this.fetchOffsets(
          groupId,
          partitions.map((partition) => ({ topic, partition })),
        );
        await probe.seekToBeginning();
        const starts = partitions.map((p) => probe.position(topic, p) ?? 0);
        await probe.seekToEnd();
        targets = partitions.map((partition, i) => {
          const end = probe.position(topic, partition) ?? 0;
          const from = current.find((o) => o.partition === partition)?.offset ?? -1;
          return { partition, offset: Math.min(end, Math.max(starts[i]!, (from < 0 ? starts[i]! : from) + reset.shiftBy)) };
        });
      } else {
        if (reset.to === 'earliest') await probe.seekToBeginning();
        else if (reset.to === 'latest') await probe.seekToEnd();
        else await probe.seekToTimestamp(reset.timestampMs);
        targets = partitions.map((partition) => ({ partition, offset: probe.position(topic, partition) ?? 0 }));
      }
    } finally {
      await probe.close();
    }
    const res = await this.atCoordinator<OffsetCommitResponse>(
      groupId,
      'OffsetCommit',
      { groupId, memberId: '', memberEpoch: -1, offsets: targets.map((t) => ({ topic, partition: t.partition, offset: t.offset, leaderEpoch: -1, metadata: '' })) },
      (r) => retriable(r),
    );
    const failed = res.errorCode !== ErrorCode.NONE ? res : res.results.find((r) => r.errorCode !== ErrorCode.NONE);
    if (failed) throw new CairnError(failed.errorCode, failed.errorMessage || undefined);
    return targets;
  }

  private async logEnds(partitions: { topic: string; partition: number }[], isolationLevel: 'read_committed' | 'read_uncommitted'): Promise<number[]> {
    if (partitions.length === 0) return [];
    const probe = new Consumer({ ...this.options, isolationLevel });
    try {
      probe.assign(partitions);
      await probe.seekToEnd();
      return partitions.map((p) => probe.position(p.topic, p.partition) ?? 0);
    } finally {
      await probe.close();
    }
  }
}

/** A coordinator that moved or is loading is asked again; anything else is the answer. */
function retriable(r: { errorCode: ErrorCode; errorMessage?: string } | undefined): CairnError | null {
  if (!r) return null;
  const again = r.errorCode === ErrorCode.NOT_COORDINATOR || r.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || r.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE;
  return again ? new CairnError(r.errorCode, r.errorMessage || undefined) : null;
}
