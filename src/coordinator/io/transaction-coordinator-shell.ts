import { CairnError, type Clock, CONSUMER_OFFSETS_TOPIC, ErrorCode, type Logger, type TimerHandle, TopicPartitionSets, TRANSACTION_STATE_TOPIC, type Timers } from '../../common';
import { type MetadataImage, NO_LEADER } from '../../metadata';
import {
  type AddOffsetsToTxnRequest,
  type AddPartitionsToTxnRequest,
  type DescribeTransactionsResponse,
  type EndTxnRequest,
  type EndTxnResponse,
  type FindCoordinatorResponse,
  type InitProducerIdResponse,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
  partitionsFromWire,
  partitionsToWire,
  type TxnErrorResponse,
  type WriteTxnMarkersRequest,
  type WriteTxnMarkersResponse,
} from '../../protocol';
import { batchIsControl, decodeRecords, encodeBatch } from '../../record';
import type { ReplicaManager } from '../../replication/io';
import {
  type CoordinatorResult,
  decodeTxnRecord,
  encodeTxnRecord,
  offsetsPartitionFor,
  type PendingMarkers,
  TransactionCoordinator,
  type TransactionCoordinatorConfig,
  transactionPartitionFor,
  type TxnRecord,
} from '..';
import { CoordinatorPartitions, type LoadedPartition } from './coordinator-partitions';

/** How often a loaded coordinator looks for transactions past their timeout (Kafka: transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s). */
export const DEFAULT_TXN_ABORT_CHECK_INTERVAL_MS = 1_000;
/** How long an EndTxn answer waits for the transaction's markers before it goes anyway (the outcome is durable already). */
const END_TXN_COMPLETION_WAIT_MS = 1_000;
/** Backoff between attempts to write a marker that failed (a leader moving, a broker down), doubling up to the second. */
const MARKER_RETRY_MIN_MS = 50;
const MARKER_RETRY_MAX_MS = 1_000;
/**
 * How long a transaction's Complete record may wait to go out with the next record of its
 * partition (a producer's next transaction opening, typically), so that both take one append and
 * one fsync. Nothing waits for a Complete record: the transaction's outcome and markers are
 * durable already, and a coordinator that loads the partition without it writes the markers again.
 */
export const COMPLETE_RECORD_LINGER_MS = 20;

export interface TransactionCoordinatorShellOptions {
  nodeId: number;
  replicas: ReplicaManager;
  image: () => MetadataImage;
  /** Asks the controller for `__transaction_state` (partitions, compacted); TOPIC_ALREADY_EXISTS is fine. */
  createTransactionTopic: () => Promise<void>;
  /** A fresh producer id (from the blocks the controller hands out). */
  newProducerId: () => Promise<number>;
  /** WriteTxnMarkers at broker `to`, the leader of the partitions in the request. */
  writeMarkers: (to: number, req: WriteTxnMarkersRequest) => Promise<WriteTxnMarkersResponse>;
  config: TransactionCoordinatorConfig & { abortCheckIntervalMs?: number };
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

type Loaded = LoadedPartition<TransactionCoordinator>;

/**
 * The transaction coordinators of this broker (design brief §7): one TransactionCoordinator core
 * for each `__transaction_state` partition it leads, loaded by replaying the partition
 * (CoordinatorPartitions, as the group coordinators). A request runs on its transactional id's
 * core; its records are appended (acks=all) before the answer. Every decided transaction
 * (Prepare*) has its markers written to the leaders of its partitions — retried until they are,
 * and taken up again by the next coordinator after a failover — and is then completed.
 */
export class TransactionCoordinatorShell {
  private readonly partitions: CoordinatorPartitions<TransactionCoordinator>;
  /** Marker writes in progress, by transactional id, for the loaded core that started them. */
  private readonly writing = new Map<string, Loaded>();
  /** EndTxn answers waiting for their transaction to complete, by transactional id. */
  private readonly completionWaiters = new Map<string, (() => void)[]>();
  /** Complete records not yet appended (COMPLETE_RECORD_LINGER_MS), by the loaded core that made them. */
  private readonly lingering = new Map<Loaded, { records: TxnRecord[]; timer: TimerHandle }>();

  constructor(private readonly o: TransactionCoordinatorShellOptions) {
    this.partitions = new CoordinatorPartitions<TransactionCoordinator>({
      topic: TRANSACTION_STATE_TOPIC,
      what: 'transactional id',
      keyName: 'transactional id',
      emptyKeyError: ErrorCode.INVALID_REQUEST,
      partitionFor: transactionPartitionFor,
      createTopic: o.createTransactionTopic,
      nodeId: o.nodeId,
      replicas: o.replicas,
      image: o.image,
      timers: o.timers,
      logger: o.logger,
      newCore: () => new TransactionCoordinator(o.config),
      replayBatch: (entry, buf, pos) => this.replayBatch(entry, buf, pos),
      onLoaded: (entry) => {
        entry.core.onLoaded(o.clock.nowMs());
        entry.timers.push(o.timers.every(o.config.abortCheckIntervalMs ?? DEFAULT_TXN_ABORT_CHECK_INTERVAL_MS, () => this.abortTimedOut(entry)));
        // A failover finishes whatever the previous coordinator decided.
        this.writePendingMarkers(entry);
      },
    });
  }

  onImage(image: MetadataImage): void {
    this.partitions.onImage(image);
  }

  close(): void {
    for (const l of this.lingering.values()) l.timer.cancel();
    this.lingering.clear();
    this.partitions.close();
  }

  private replayBatch(entry: Loaded, buf: Buffer, pos: number): number {
    if (batchIsControl(buf, pos)) return 0;
    let count = 0;
    for (const r of decodeRecords(buf, pos)) {
      try {
        entry.core.replay(decodeTxnRecord(r.key, r.value));
        count++;
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        this.o.logger.warn({ topic: TRANSACTION_STATE_TOPIC, partition: entry.partition.partition, offset: r.offset, err: err.message }, 'skipping a transaction record that does not decode');
      }
    }
    return count;
  }

  /** Appends records the core just made (acks=all), then starts writing the markers of any transaction they decided. */
  protected async append(entry: Loaded, records: readonly TxnRecord[]): Promise<void> {
    // An answer from state alone still waits for the records that made that state.
    if (records.length === 0 && !this.lingering.has(entry)) return this.partitions.committed(entry);
    return this.write(entry, records);
  }

  /** Appends `records` after any Complete records lingering for the same core, in the order the core made them; never called with none of either. */
  private async write(entry: Loaded, records: readonly TxnRecord[]): Promise<void> {
    const held = this.lingering.get(entry);
    if (held !== undefined) {
      held.timer.cancel();
      this.lingering.delete(entry);
    }
    const all = held === undefined ? records : [...held.records, ...records];
    const now = this.o.clock.wallMs();
    await this.partitions.append(entry, encodeBatch(all.map(encodeTxnRecord), {}, now), now);
    this.writePendingMarkers(entry);
  }

  /** Holds Complete records for the core's next append, or appends them after COMPLETE_RECORD_LINGER_MS. */
  private linger(entry: Loaded, records: readonly TxnRecord[]): void {
    if (records.length === 0) return;
    const held = this.lingering.get(entry);
    if (held !== undefined) {
      held.records.push(...records);
      return;
    }
    const timer = this.o.timers.after(COMPLETE_RECORD_LINGER_MS, () => {
      if (this.lingering.get(entry)?.timer !== timer) return;
      // A core that stopped serving drops them: its successor finds the transaction decided and completes it again.
      if (!this.partitions.isCurrent(entry)) return void this.lingering.delete(entry);
      this.write(entry, []).catch(() => undefined);
    });
    this.lingering.set(entry, { records: [...records], timer });
  }

  private coordinatorOf(transactionalId: string): Loaded {
    return this.partitions.entryForKey(transactionalId, true);
  }

  private async run<T>(transactionalId: string, fn: (c: TransactionCoordinator, nowMs: number) => CoordinatorResult<T, TxnRecord>): Promise<T> {
    const e = this.coordinatorOf(transactionalId);
    const { records, response } = fn(e.core, Math.floor(this.o.clock.wallMs()));
    await this.append(e, records);
    return response;
  }

  // ---- requests ----

  findCoordinator(key: string): FindCoordinatorResponse {
    return this.partitions.findCoordinator(key);
  }

  async initProducerId(req: { transactionalId: string; transactionTimeoutMs: number }): Promise<InitProducerIdResponse> {
    try {
      const e = this.coordinatorOf(req.transactionalId);
      const newId = e.core.needsProducerIdForInit(req.transactionalId) ? await this.o.newProducerId() : null;
      return await this.run(req.transactionalId, (c, now) => c.initProducerId(req, now, newId));
    } catch (err) {
      return { ...refusal(err), producerId: -1, producerEpoch: -1 };
    }
  }

  async addPartitions(req: AddPartitionsToTxnRequest): Promise<TxnErrorResponse> {
    try {
      const partitions = req.partitions === null ? {} : partitionsFromWire(req.partitions);
      if (TopicPartitionSets.isEmpty(partitions)) throw new CairnError(ErrorCode.INVALID_REQUEST, 'no partitions to add');
      return await this.run(req.transactionalId, (c, now) => c.addPartitions({ ...req, partitions, verifyOnly: req.verifyOnly === true }, now, this.o.clock.nowMs()));
    } catch (err) {
      return refusal(err);
    }
  }

  /** AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction (its TxnOffsetCommit follows). */
  async addOffsets(req: AddOffsetsToTxnRequest): Promise<TxnErrorResponse> {
    try {
      if (typeof req.groupId !== 'string' || req.groupId.length === 0) throw new CairnError(ErrorCode.INVALID_GROUP_ID, 'group id is empty');
      const offsets = this.o.image().topicsByName.get(CONSUMER_OFFSETS_TOPIC);
      if (!offsets) throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${CONSUMER_OFFSETS_TOPIC} does not exist yet`);
      const partitions = { [CONSUMER_OFFSETS_TOPIC]: [offsetsPartitionFor(req.groupId, offsets.partitions.length)] };
      return await this.run(req.transactionalId, (c, now) => c.addPartitions({ ...req, partitions, verifyOnly: false }, now, this.o.clock.nowMs()));
    } catch (err) {
      return refusal(err);
    }
  }

  /**
   * EndTxn: the decision is durable before the answer; the answer also waits (up to
   * END_TXN_COMPLETION_WAIT_MS) for the markers, so the producer's next transaction does not
   * meet CONCURRENT_TRANSACTIONS from this one (Kafka's client retries that instead). A
   * transaction then costs four replicated appends in a row: the coordinator's add, the data,
   * the decision, the markers (docs/transactions.md, "Cost").
   */
  async endTxn(req: EndTxnRequest): Promise<EndTxnResponse> {
    try {
      const e = this.coordinatorOf(req.transactionalId);
      const newId = e.core.needsProducerIdForEnd(req.transactionalId) ? await this.o.newProducerId() : null;
      const res = await this.run(req.transactionalId, (c, now) => c.endTxn(req, now, newId));
      if (res.errorCode === ErrorCode.NONE) await this.completed(e, req.transactionalId);
      return res;
    } catch (err) {
      return { ...refusal(err), producerId: -1, producerEpoch: -1 };
    }
  }

  /** Resolves once `transactionalId` has no decided transaction still to complete, or after END_TXN_COMPLETION_WAIT_MS. */
  private completed(entry: Loaded, transactionalId: string): Promise<void> {
    const state = entry.core.describe(transactionalId)?.state;
    if (state !== 'PrepareCommit' && state !== 'PrepareAbort') return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.o.timers.after(END_TXN_COMPLETION_WAIT_MS, resolve);
      const list = this.completionWaiters.get(transactionalId) ?? [];
      list.push(() => {
        timer.cancel();
        resolve();
      });
      this.completionWaiters.set(transactionalId, list);
    });
  }

  async forceAbort(transactionalId: string): Promise<TxnErrorResponse> {
    try {
      return await this.run(transactionalId, (c, now) => c.forceAbort(transactionalId, now));
    } catch (err) {
      return refusal(err);
    }
  }

  listTransactions(req: ListTransactionsRequest): ListTransactionsResponse {
    const now = this.o.clock.wallMs();
    const states = new Set(req.stateFilters ?? []);
    const pids = new Set(req.producerIdFilters ?? []);
    const minAge = req.durationFilterMs ?? 0;
    const transactions = this.partitions
      .active()
      .flatMap((e) => e.core.list())
      .filter((m) => (states.size === 0 || states.has(m.state)) && (pids.size === 0 || pids.has(m.producerId)))
      .filter((m) => minAge <= 0 || (m.txnStartTimestampMs >= 0 && now - m.txnStartTimestampMs >= minAge))
      .map((m) => ({ transactionalId: m.transactionalId, producerId: m.producerId, state: m.state }));
    return { errorCode: ErrorCode.NONE, transactions };
  }

  describeTransactions(ids: readonly string[]): DescribeTransactionsResponse {
    return {
      transactions: ids.map((transactionalId) => {
        const empty = { transactionalId, state: '', producerId: -1, producerEpoch: -1, transactionTimeoutMs: -1, transactionStartTimeMs: -1, partitions: null, coordinatorId: this.o.nodeId };
        try {
          const m = this.coordinatorOf(transactionalId).core.describe(transactionalId);
          if (!m) return { ...empty, errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, errorMessage: `no transactional id "${transactionalId}"` };
          return {
            ...empty,
            errorCode: ErrorCode.NONE,
            state: m.state,
            producerId: m.producerId,
            producerEpoch: m.producerEpoch,
            transactionTimeoutMs: m.timeoutMs,
            transactionStartTimeMs: m.txnStartTimestampMs,
            partitions: partitionsToWire(m.partitions),
          };
        } catch (err) {
          return { ...empty, ...refusal(err) };
        }
      }),
    };
  }

  // ---- timeouts and markers ----

  private abortTimedOut(entry: Loaded): void {
    if (!this.partitions.isCurrent(entry)) return;
    const { records, response } = entry.core.tick(Math.floor(this.o.clock.wallMs()), this.o.clock.nowMs());
    for (const id of response) this.o.logger.warn({ transactionalId: id }, 'transaction timed out; aborting it');
    this.append(entry, records).catch(() => undefined);
  }

  /** Starts writing the markers of every decided transaction of `entry` not already being written. */
  private writePendingMarkers(entry: Loaded): void {
    if (!this.partitions.isCurrent(entry)) return;
    for (const pending of entry.core.pendingMarkers()) {
      if (this.writing.get(pending.transactionalId) === entry) continue;
      this.writing.set(pending.transactionalId, entry);
      void this.completeTransaction(entry, pending).finally(() => {
        if (this.writing.get(pending.transactionalId) === entry) this.writing.delete(pending.transactionalId);
        // A transaction decided again while this one was written (another end) gets its own turn.
        this.writePendingMarkers(entry);
      });
    }
  }

  /** Writes every marker of `pending` (retrying what fails, while `entry` still coordinates), then completes the transaction. */
  private async completeTransaction(entry: Loaded, pending: PendingMarkers): Promise<void> {
    let left = [...TopicPartitionSets.pairsOf(pending.partitions)];
    let backoff = MARKER_RETRY_MIN_MS;
    while (left.length > 0) {
      if (!this.partitions.isCurrent(entry)) return;
      left = await this.writeMarkersOnce(entry, pending, left);
      if (left.length === 0) break;
      await new Promise<void>((resolve) => this.o.timers.after(backoff, resolve));
      backoff = Math.min(backoff * 2, MARKER_RETRY_MAX_MS);
    }
    if (!this.partitions.isCurrent(entry)) return;
    const { records, response } = entry.core.markersWritten(pending, Math.floor(this.o.clock.wallMs()));
    if (!response) return;
    this.o.logger.debug({ transactionalId: pending.transactionalId, producerId: pending.producerId, producerEpoch: pending.producerEpoch, commit: pending.commit }, 'transaction completed');
    // Every marker is written: the answer may go now. The Complete record follows with the
    // partition's next append (the producer's next records for this id come after it, in order)
    // or on its own after COMPLETE_RECORD_LINGER_MS; a failover before then rewrites the markers.
    const waiters = this.completionWaiters.get(pending.transactionalId) ?? [];
    this.completionWaiters.delete(pending.transactionalId);
    for (const w of waiters) w();
    this.linger(entry, records);
  }

  /** One round of marker writes, grouped by leader; returns the partitions still to do. */
  private async writeMarkersOnce(entry: Loaded, pending: PendingMarkers, partitions: [string, number][]): Promise<[string, number][]> {
    const image = this.o.image();
    const byLeader = new Map<number, { topic: string; partition: number }[]>();
    const left: [string, number][] = [];
    for (const [topic, partition] of partitions) {
      const reg = image.partition(topic, partition);
      if (reg === undefined) continue; // the topic is gone: nothing to end there
      if (reg.leader === NO_LEADER) {
        left.push([topic, partition]);
        continue;
      }
      byLeader.set(reg.leader, [...(byLeader.get(reg.leader) ?? []), { topic, partition }]);
    }
    await Promise.all(
      [...byLeader].map(async ([leader, tps]) => {
        try {
          const res = await this.o.writeMarkers(leader, {
            producerId: pending.producerId,
            producerEpoch: pending.producerEpoch,
            commit: pending.commit,
            coordinatorEpoch: entry.leaderEpoch,
            partitions: tps,
          });
          for (const tp of tps) {
            const r = res.results.find((x) => x.topic === tp.topic && x.partition === tp.partition);
            if (r?.errorCode === ErrorCode.NONE) continue;
            // A marker refused for good (an older coordinator, an older epoch) means a newer one wrote it already.
            if (r && (r.errorCode === ErrorCode.TRANSACTION_COORDINATOR_FENCED || r.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH)) {
              this.o.logger.warn({ transactionalId: pending.transactionalId, topic: tp.topic, partition: tp.partition, err: r.errorMessage }, 'transaction marker refused');
              continue;
            }
            left.push([tp.topic, tp.partition]);
          }
        } catch {
          for (const tp of tps) left.push([tp.topic, tp.partition]);
        }
      }),
    );
    return left;
  }
}

function refusal(err: unknown): { errorCode: ErrorCode; errorMessage: string } {
  if (err instanceof CairnError) return { errorCode: err.code, errorMessage: err.message };
  throw err;
}
