import { CairnError, type Clock, CONSUMER_OFFSETS_TOPIC, ErrorCode, invariant, isCompacted, type Logger, TRANSACTION_STATE_TOPIC } from '../common';
import {
  batchAttributes,
  checkInflatedBatch,
  Compression,
  COMPRESSION_MASK,
  encodeBatch,
  inflatedTooLarge,
  inflateLimitBytes,
  InflateLimitError,
  inflateRecordsSection,
  type RecordInput,
  timestampWindow,
  validateBatches,
  type ValidatedBatch,
  type ValidationFailure,
  type ValidationOptions,
} from '../record';
import type { PartitionProduceData, PartitionProduceResult, ProduceRequest, ProduceResponse, RecordMsg } from '../protocol';
import { type LeaderAppend, type Partition, type ReplicaManager, toErrorResult } from '../replication/io';
import type { TxnVerifier } from '../coordinator/io';
import type { VerificationGuard } from '../storage';
import { PartitionAppendQueue } from './partition-append-queue';

export const DEFAULT_PRODUCE_TIMEOUT_MS = 30_000;
export const MAX_PRODUCE_TIMEOUT_MS = 300_000;
/** Bound on plain records one partition entry may carry (the plain path builds one batch of them). */
export const MAX_PLAIN_RECORDS = 100_000;

/**
 * Produce (design brief §3, §6): check each partition's batches, append them as leader
 * (ReplicaManager.appendAsLeader), and answer by `acks` — 0 and 1 after the append, -1 (all) once
 * the high watermark has passed the last offset written, i.e. every in-sync replica has it durably
 * (the wait is the replication core's).
 *
 * Uncompressed batches are checked and appended in one synchronous step. A gzip batch's records
 * are inflated (bounded by max.message.bytes) in zlib's thread pool, so a large one holds up no
 * other partition, and a producer's first transactional write of an epoch waits for its
 * coordinator (KIP-890). That producer's later requests to the partition wait for it in a
 * PartitionAppendQueue, so its pipelined batches stay in sequence; other producers' go on.
 */
export class ProduceHandler {
  private readonly appendQueue = new PartitionAppendQueue<Partition>();

  constructor(
    private readonly replicas: ReplicaManager,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Asks the transaction coordinator before a producer's first transactional write here (KIP-890); without one, transactional writes are refused. */
    private readonly verifier: TxnVerifier | null = null,
  ) {}

  async handle(req: ProduceRequest): Promise<ProduceResponse> {
    const acks = req.acks;
    if (acks !== 0 && acks !== 1 && acks !== -1) {
      return { correlationId: req.correlationId, results: req.partitions.map((p) => this.failure(p, new CairnError(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1, not ${acks}`))) };
    }
    const timeoutMs = Math.min(req.timeoutMs && req.timeoutMs > 0 ? req.timeoutMs : DEFAULT_PRODUCE_TIMEOUT_MS, MAX_PRODUCE_TIMEOUT_MS);
    const results = await Promise.all(req.partitions.map((p) => this.producePartition(p, acks, timeoutMs, req.transactionalId ?? '')));
    return { correlationId: req.correlationId, results };
  }

  private failure(p: PartitionProduceData, err: unknown): PartitionProduceResult {
    const { errorCode, errorMessage } = toErrorResult(err, this.logger);
    const hint = errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || errorCode === ErrorCode.FENCED_LEADER_EPOCH ? this.replicas.leaderHint(p.topic, p.partition) : null;
    return { topic: p.topic, partition: p.partition, errorCode, errorMessage, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, currentLeader: hint };
  }

  private async producePartition(data: PartitionProduceData, acks: number, timeoutMs: number, transactionalId: string): Promise<PartitionProduceResult> {
    try {
      // Its records are the group coordinators' alone (Kafka refuses produce to internal topics too).
      if (data.topic === CONSUMER_OFFSETS_TOPIC || data.topic === TRANSACTION_STATE_TOPIC)
        throw new CairnError(ErrorCode.INVALID_TOPIC_EXCEPTION, `${data.topic} is internal: clients cannot produce to it`);
      const p = this.replicas.lookup(data.topic, data.partition);
      const config = p.log.config;
      const now = this.clock.wallMs(); // record timestamps (LogAppendTime) and segment roll times
      const buf = this.batchesOf(data, now);
      const options: ValidationOptions = {
        maxBatchBytes: config.maxMessageBytes,
        requireKeys: isCompacted(config),
        timestampWindow: config.messageTimestampType === 'CreateTime' ? timestampWindow(now, config.messageTimestampBeforeMaxMs, config.messageTimestampAfterMaxMs) : undefined,
        deferInflate: true,
      };
      const v = validateBatches(buf, options);
      if (!v.ok) throw this.refused(data, v);
      let appended: LeaderAppend;
      const first = v.batches[0]!;
      // A producer's first transactional write of an epoch here waits for its coordinator's word.
      const verify = first.transactional && p.log.needsTxnVerification(first.producerId, first.producerEpoch);
      if (!this.appendQueue.busy(p, first.producerId) && !verify && !v.batches.some((b) => b.compressed)) {
        appended = this.replicas.appendAsLeader(p, buf, v.batches, acks, timeoutMs, now);
      } else {
        const turn = this.appendQueue.reserve(p, first.producerId);
        try {
          let guard: VerificationGuard | null = null;
          if (verify) {
            if (this.verifier === null) throw new CairnError(ErrorCode.INVALID_TXN_STATE, 'this broker does not take transactional writes');
            guard = p.log.startTxnVerification(first.producerId, first.producerEpoch);
            await this.verifier.verify({ transactionalId, producerId: first.producerId, producerEpoch: first.producerEpoch, topic: data.topic, partition: data.partition, verifyOnly: false });
          }
          await Promise.all(v.batches.filter((b) => b.compressed).map((b) => this.checkCompressed(data, buf, b, options)));
          await turn.ready;
          appended = this.replicas.appendAsLeader(p, buf, v.batches, acks, timeoutMs, this.clock.wallMs(), { guard });
        } finally {
          turn.release();
        }
      }
      const info = appended.info;
      if (acks === -1) await appended.acked;
      return {
        topic: data.topic,
        partition: data.partition,
        errorCode: ErrorCode.NONE,
        baseOffset: info.firstOffset,
        logAppendTimeMs: info.logAppendTimeMs,
        logStartOffset: p.log.logStartOffset,
      };
    } catch (err) {
      return this.failure(data, err);
    }
  }

  /** Inflates a gzip batch's records off the event loop, stopping at the limit, and checks them. */
  private async checkCompressed(data: PartitionProduceData, buf: Buffer, b: ValidatedBatch, options: ValidationOptions): Promise<void> {
    invariant((batchAttributes(buf, b.pos) & COMPRESSION_MASK) === Compression.GZIP, 'validation passed a compressed batch that is not gzip', { pos: b.pos });
    let section: Buffer;
    try {
      section = await inflateRecordsSection(buf, b.pos, b.size, inflateLimitBytes(options.maxBatchBytes));
    } catch (err) {
      if (err instanceof InflateLimitError) throw this.refused(data, inflatedTooLarge(b, options));
      throw new CairnError(ErrorCode.CORRUPT_MESSAGE, `batch at ${b.pos}: ${(err as Error).message}`);
    }
    const problem = checkInflatedBatch(section, b, options);
    if (problem !== null) throw this.refused(data, problem);
  }

  /** The error for a failed validation; a batch that inflates past its limit is also logged (a possible decompression bomb). */
  private refused(data: PartitionProduceData, f: ValidationFailure): CairnError {
    if (f.inflateLimitBytes !== undefined) {
      this.logger.warn(
        { topic: data.topic, partition: data.partition, requestBytes: data.batches?.length ?? 0, inflateLimitBytes: f.inflateLimitBytes },
        'produce refused: compressed batch inflates past max.message.bytes',
      );
    }
    return new CairnError(f.code, f.message);
  }

  private batchesOf(data: PartitionProduceData, nowMs: number): Buffer {
    if (data.batches && data.batches.length > 0) {
      if (data.records && data.records.length > 0) throw new CairnError(ErrorCode.INVALID_REQUEST, 'send either batches or records, not both');
      return data.batches;
    }
    const records = data.records ?? [];
    if (records.length === 0) throw new CairnError(ErrorCode.INVALID_REQUEST, `no batches or records for ${data.topic}-${data.partition}`);
    if (records.length > MAX_PLAIN_RECORDS) throw new CairnError(ErrorCode.RECORD_LIST_TOO_LARGE, `${records.length} plain records; the limit is ${MAX_PLAIN_RECORDS} per partition`);
    return encodeBatch(records.map((r) => plainRecord(r, nowMs)));
  }
}

function plainRecord(r: RecordMsg, nowMs: number): RecordInput {
  return {
    key: r.key ?? null,
    value: r.value ?? null,
    timestamp: r.timestampMs && r.timestampMs > 0 ? r.timestampMs : nowMs,
    headers: (r.headers ?? []).map((h) => ({ key: h.key, value: h.value ?? null })),
  };
}
