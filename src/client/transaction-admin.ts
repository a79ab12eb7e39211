import { CairnError, ErrorCode } from '../common';
import {
  type DescribeProducersResponse,
  type DescribeTransactionsResponse,
  type ListTransactionsResponse,
  type MetadataResponse,
  partitionsFromWire,
  type TransactionDescription,
  type TransactionListing,
  type TxnErrorResponse,
  type WriteTxnMarkersResponse,
  CoordinatorType,
} from '../protocol';
import type { Cluster } from './cluster';
import { askForCoordinator } from './group-membership';

/** An open transaction of one partition, as its leader sees it (DescribeProducers). */
export interface OpenTransaction {
  topic: string;
  partition: number;
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  startOffset: number;
  startTimeMs: number;
  lastStableOffset: number;
  highWatermark: number;
}

/** A transaction that holds a partition's last stable offset back while its coordinator has no transaction open there (KIP-664's "hanging"). */
export type HangingTransaction = Omit<OpenTransaction, 'startTimeMs' | 'lastStableOffset' | 'highWatermark'> & {
  /** How long it has been open, by the leader's clock at its first write. */
  ageMs: number;
};

/**
 * Transaction administration (what Kafka's kafka-transactions.sh offers; docs/transactions.md):
 * list and describe transactions at their coordinators, see the open transactions of partitions
 * at their leaders, find hanging ones, and abort a transaction — through its coordinator, or,
 * for one hanging in a partition, with a marker written there directly.
 */
export class TransactionAdmin {
  constructor(private readonly cluster: Cluster) {}

  /** Brokers, and `topics` (every topic when empty), from a known broker. */
  private async metadata(topics: string[] = []): Promise<MetadataResponse> {
    return this.cluster.retrying('Metadata', () =>
      this.cluster.connection(this.cluster.brokerCandidates()[0]!).rpc.unary<{ topics: string[] }, MetadataResponse>('Metadata', { topics }, this.cluster.requestTimeoutMs),
    );
  }

  /** Every transactional id, from every broker (each lists those it coordinates). */
  async listTransactions(filter: { states?: string[]; producerIds?: number[]; minDurationMs?: number } = {}): Promise<TransactionListing[]> {
    const md = await this.metadata();
    const req = { stateFilters: filter.states ?? [], producerIdFilters: filter.producerIds ?? [], durationFilterMs: filter.minDurationMs ?? 0 };
    const lists = await Promise.all(
      md.brokers.map((b) => this.cluster.connection(`${b.host}:${b.port}`).rpc.unary<typeof req, ListTransactionsResponse>('ListTransactions', req, this.cluster.requestTimeoutMs)),
    );
    const all = new Map<string, TransactionListing>();
    for (const l of lists) for (const t of l.transactions) all.set(t.transactionalId, t);
    return [...all.values()].sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : 1));
  }

  /** One transactional id at its coordinator. */
  async describeTransaction(transactionalId: string): Promise<TransactionDescription & { partitionList: { topic: string; partition: number }[] }> {
    const d = await this.atCoordinator<DescribeTransactionsResponse>(transactionalId, 'DescribeTransactions', { transactionalIds: [transactionalId] }, (r) => r.transactions[0]);
    const t = d.transactions[0]!;
    if (t.errorCode !== ErrorCode.NONE) throw new CairnError(t.errorCode, t.errorMessage || undefined);
    const parts = t.partitions ? partitionsFromWire(t.partitions) : {};
    return { ...t, partitionList: Object.entries(parts).flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition }))) };
  }

  /** Aborts the open transaction of `transactionalId` at its coordinator (its producer is fenced). */
  async abortTransaction(transactionalId: string): Promise<void> {
    const r = await this.atCoordinator<TxnErrorResponse>(transactionalId, 'AbortTransaction', { transactionalId }, (x) => x);
    if (r.errorCode !== ErrorCode.NONE) throw new CairnError(r.errorCode, r.errorMessage || undefined);
  }

  /** The open transactions of every partition of `topics` (all topics when empty), at their leaders. */
  async openTransactions(topics: string[] = []): Promise<OpenTransaction[]> {
    const md = await this.metadata(topics);
    const out: OpenTransaction[] = [];
    for (const t of md.topics) {
      for (const p of t.partitions) {
        const leader = md.brokers.find((b) => b.nodeId === p.leaderId);
        if (!leader) continue;
        const res = await this.cluster
          .connection(`${leader.host}:${leader.port}`)
          .rpc.unary<{ topic: string; partition: number }, DescribeProducersResponse>('DescribeProducers', { topic: t.name, partition: p.partition }, this.cluster.requestTimeoutMs);
        if (res.errorCode !== ErrorCode.NONE) continue;
        for (const s of res.producers) {
          if (s.currentTxnStartOffset < 0) continue;
          out.push({
            topic: t.name,
            partition: p.partition,
            producerId: s.producerId,
            producerEpoch: s.producerEpoch,
            coordinatorEpoch: s.coordinatorEpoch,
            startOffset: s.currentTxnStartOffset,
            startTimeMs: s.currentTxnStartTimeMs,
            lastStableOffset: res.lastStableOffset,
            highWatermark: res.highWatermark,
          });
        }
      }
    }
    return out;
  }

  /**
   * Transactions open in a partition for at least `maxAgeMs` that no coordinator has open there
   * (Kafka's find-hanging): every other open transaction will be ended by its coordinator, at the
   * latest when it times out.
   */
  async findHanging(maxAgeMs: number, topics: string[] = [], nowMs = Date.now()): Promise<HangingTransaction[]> {
    const open = (await this.openTransactions(topics)).filter((t) => t.startTimeMs >= 0 && nowMs - t.startTimeMs >= maxAgeMs);
    if (open.length === 0) return [];
    const listings = await this.listTransactions({ states: ['Ongoing', 'PrepareCommit', 'PrepareAbort'], producerIds: [...new Set(open.map((t) => t.producerId))] });
    const known = new Set<string>();
    for (const l of listings) {
      const d = await this.describeTransaction(l.transactionalId).catch(() => null);
      for (const p of d?.partitionList ?? []) known.add(`${d!.producerId}/${p.topic}/${p.partition}`);
    }
    return open
      .filter((t) => !known.has(`${t.producerId}/${t.topic}/${t.partition}`))
      .map((t) => ({
        topic: t.topic,
        partition: t.partition,
        producerId: t.producerId,
        producerEpoch: t.producerEpoch,
        coordinatorEpoch: t.coordinatorEpoch,
        startOffset: t.startOffset,
        ageMs: nowMs - t.startTimeMs,
      }));
  }

  /**
   * Ends a hanging transaction in one partition by writing an abort marker there, as its
   * coordinator would (Kafka's `kafka-transactions.sh abort --topic --partition --start-offset`):
   * with the producer's epoch and coordinator epoch the leader knows, so it is not refused.
   */
  async abortHanging(topic: string, partition: number, producerId: number): Promise<void> {
    const open = (await this.openTransactions([topic])).find((t) => t.partition === partition && t.producerId === producerId);
    if (!open) throw new CairnError(ErrorCode.INVALID_TXN_STATE, `producer ${producerId} has no open transaction in ${topic}-${partition}`);
    const md = await this.metadata();
    const meta = await this.cluster.topic(topic);
    const leader = md.brokers.find((b) => b.nodeId === meta.partitions.find((p) => p.partition === partition)?.leaderId);
    if (!leader) throw new CairnError(ErrorCode.LEADER_NOT_AVAILABLE, `${topic}-${partition} has no leader`);
    // WriteTxnMarkers is a node-to-node call (the Replica service): served on the broker's port unless it has an internal listener.
    const rpc = this.cluster.rpcClient(`${leader.host}:${leader.port}`, 'cairn.v1.Replica');
    try {
      const res = await rpc.unary<object, WriteTxnMarkersResponse>(
        'WriteTxnMarkers',
        { producerId, producerEpoch: open.producerEpoch, commit: false, coordinatorEpoch: Math.max(0, open.coordinatorEpoch), partitions: [{ topic, partition }] },
        this.cluster.requestTimeoutMs,
      );
      const r = res.results[0];
      if (!r || r.errorCode !== ErrorCode.NONE) throw new CairnError(r?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, r?.errorMessage || 'marker not written');
    } finally {
      rpc.close();
    }
  }

  private atCoordinator<Res>(transactionalId: string, method: string, req: unknown, status: (res: Res) => { errorCode: ErrorCode; errorMessage?: string } | undefined): Promise<Res> {
    return this.cluster.retrying(`${method} for "${transactionalId}"`, async (attempt) => {
      const coordinator = await askForCoordinator(this.cluster, transactionalId, attempt, this.cluster.requestTimeoutMs, CoordinatorType.TRANSACTION);
      const res = await this.cluster.connection(coordinator).rpc.unary<unknown, Res>(method, req, this.cluster.requestTimeoutMs);
      const s = status(res);
      if (s && (s.errorCode === ErrorCode.NOT_COORDINATOR || s.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || s.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE)) {
        throw new CairnError(s.errorCode, s.errorMessage || undefined);
      }
      return res;
    });
  }
}
