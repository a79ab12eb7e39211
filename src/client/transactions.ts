import { CairnError, ErrorCode } from '../common';
import {
  type AddOffsetsToTxnRequest,
  CoordinatorType,
  type EndTxnRequest,
  type EndTxnResponse,
  type FindCoordinatorResponse,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
  type TxnErrorResponse,
  type TxnOffsetCommitRequest,
  type TxnOffsetCommitResponse,
} from '../protocol';
import type { Cluster } from './cluster';
import type { ConsumerGroupMetadata } from './group-membership';
import type { ProducerIdAndEpoch } from './idempotence';

/**
 * Where a transactional producer is (Kafka's TransactionManager states, fewer of them):
 * - uninitialized: initTransactions() not called yet;
 * - ready: between transactions;
 * - inTransaction: beginTransaction() was called; send() and sendOffsetsToTransaction() work;
 * - committing / aborting: commitTransaction() / abortTransaction() is under way (a failed one may be called again);
 * - abortable: a send or an offset commit of the transaction failed: only abortTransaction() works;
 * - fenced: another producer took the transactional id over (or the coordinator lost it): every call fails.
 */
export type TransactionState = 'uninitialized' | 'ready' | 'inTransaction' | 'committing' | 'aborting' | 'abortable' | 'fenced';

/** The codes after which this producer may never write again under its transactional id. */
const FATAL = new Set<number>([ErrorCode.PRODUCER_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.INVALID_PRODUCER_ID_MAPPING, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND]);

export const isFatalTxnError = (code: number): boolean => FATAL.has(code);

/**
 * A transactional producer's conversations with its coordinators (KIP-98, KIP-447, KIP-890):
 * InitProducerId, AddOffsetsToTxn and EndTxn at the transaction coordinator, TxnOffsetCommit at
 * the group's, each found with FindCoordinator and retried while the answer is retriable (a
 * coordinator moving or loading, the previous transaction still completing). A retried EndTxn
 * is safe: the coordinator answers a repeat of the end it already decided as it did the first
 * time. The state machine is TransactionStateMachine (transaction-state.ts); this only talks.
 */
export class TransactionCoordinatorClient {
  private txnCoordinator: string | null = null;
  private readonly groupCoordinators = new Map<string, string>();

  constructor(
    private readonly cluster: Cluster,
    readonly transactionalId: string,
    readonly transactionTimeoutMs: number,
    /** How long one call keeps retrying (Kafka's max.block.ms for initTransactions and the ends). */
    private readonly timeoutMs: number,
  ) {}

  /** InitProducerId with the transactional id: fences any previous producer of it and aborts what it left open. */
  initProducerId(): Promise<ProducerIdAndEpoch> {
    return this.atTxnCoordinator<InitProducerIdRequest, InitProducerIdResponse, ProducerIdAndEpoch>(
      'InitProducerId',
      { transactionalId: this.transactionalId, transactionTimeoutMs: this.transactionTimeoutMs },
      (res) => ({ producerId: res.producerId, producerEpoch: res.producerEpoch }),
    );
  }

  /** Finds the group's coordinator first (which makes `__consumer_offsets` if no group made it yet), then adds the group's offsets partition to the transaction. */
  async addOffsets(id: ProducerIdAndEpoch, groupId: string): Promise<void> {
    await this.cluster.retrying(
      `FindCoordinator ${groupId}`,
      (attempt) => this.forgettingOnFailure(CoordinatorType.GROUP, groupId, () => this.coordinator(CoordinatorType.GROUP, groupId, attempt)),
      this.timeoutMs,
    );
    return this.addOffsetsPartition(id, groupId);
  }

  private addOffsetsPartition(id: ProducerIdAndEpoch, groupId: string): Promise<void> {
    return this.atTxnCoordinator<AddOffsetsToTxnRequest, TxnErrorResponse, void>('AddOffsetsToTxn', { transactionalId: this.transactionalId, ...id, groupId }, () => undefined);
  }

  /** EndTxn: the identity of the producer's next transaction (the epoch bumped). */
  endTxn(id: ProducerIdAndEpoch, commit: boolean): Promise<ProducerIdAndEpoch> {
    return this.atTxnCoordinator<EndTxnRequest, EndTxnResponse, ProducerIdAndEpoch>('EndTxn', { transactionalId: this.transactionalId, ...id, commit }, (res) => ({
      producerId: res.producerId,
      producerEpoch: res.producerEpoch,
    }));
  }

  /** TxnOffsetCommit at the group's coordinator: the offsets commit with the transaction. */
  txnOffsetCommit(
    id: ProducerIdAndEpoch,
    group: ConsumerGroupMetadata,
    offsets: readonly { topic: string; partition: number; offset: number; leaderEpoch?: number; metadata?: string }[],
  ): Promise<void> {
    const req: TxnOffsetCommitRequest = {
      transactionalId: this.transactionalId,
      groupId: group.groupId,
      ...id,
      memberId: group.memberId,
      memberEpoch: group.memberEpoch,
      offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: o.leaderEpoch ?? -1, metadata: o.metadata ?? '' })),
    };
    return this.cluster.retrying(
      `TxnOffsetCommit ${group.groupId}`,
      (attempt) =>
        this.forgettingOnFailure(CoordinatorType.GROUP, group.groupId, async () => {
          const address = await this.coordinator(CoordinatorType.GROUP, group.groupId, attempt);
          const res = await this.cluster.connection(address).rpc.unary<TxnOffsetCommitRequest, TxnOffsetCommitResponse>('TxnOffsetCommit', req, this.cluster.requestTimeoutMs);
          const failed = res.errorCode !== ErrorCode.NONE ? res : res.results.find((r) => r.errorCode !== ErrorCode.NONE);
          if (failed) throw new CairnError(failed.errorCode, failed.errorMessage || undefined);
        }),
      this.timeoutMs,
    );
  }

  private atTxnCoordinator<Req, Res extends { errorCode: ErrorCode; errorMessage?: string }, T>(method: string, req: Req, ok: (res: Res) => T): Promise<T> {
    return this.cluster.retrying(
      `${method} ${this.transactionalId}`,
      (attempt) =>
        this.forgettingOnFailure(CoordinatorType.TRANSACTION, this.transactionalId, async () => {
          const address = await this.coordinator(CoordinatorType.TRANSACTION, this.transactionalId, attempt);
          const res = await this.cluster.connection(address).rpc.unary<Req, Res>(method, req, this.cluster.requestTimeoutMs);
          if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage || undefined);
          return ok(res);
        }),
      this.timeoutMs,
    );
  }

  /** The coordinator's address for `key`, asked of the known brokers in turn when not known. */
  private async coordinator(keyType: CoordinatorType, key: string, attempt: number): Promise<string> {
    const known = keyType === CoordinatorType.TRANSACTION ? this.txnCoordinator : this.groupCoordinators.get(key);
    if (known) return known;
    const candidates = this.cluster.brokerCandidates();
    const res = await this.cluster
      .connection(candidates[(attempt - 1) % candidates.length]!)
      .rpc.unary<{ key: string; keyType: CoordinatorType }, FindCoordinatorResponse>('FindCoordinator', { key, keyType }, this.cluster.requestTimeoutMs);
    if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage || undefined);
    const address = `${res.host}:${res.port}`;
    if (keyType === CoordinatorType.TRANSACTION) this.txnCoordinator = address;
    else this.groupCoordinators.set(key, address);
    return address;
  }

  /** Runs one attempt; a coordinator that moved, or a connection that failed, is looked up again on the next. */
  private async forgettingOnFailure<T>(keyType: CoordinatorType, key: string, attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      const code = err instanceof CairnError ? err.code : ErrorCode.NETWORK_EXCEPTION;
      if (code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE || code === ErrorCode.NETWORK_EXCEPTION || code === ErrorCode.REQUEST_TIMED_OUT) {
        if (keyType === CoordinatorType.TRANSACTION) this.txnCoordinator = null;
        else this.groupCoordinators.delete(key);
      }
      throw err;
    }
  }
}
