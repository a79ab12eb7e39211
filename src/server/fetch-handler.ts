import { wakeOnFirst } from '../common/wake';
import { CairnError, ErrorCode } from '../common/errors';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { decodeAllRecords } from '../record/batch';
import type {
  FetchPartition,
  FetchPartitionResult,
  FetchRequest,
  FetchResponse,
  ListOffsetsRequest,
  ListOffsetsResponse,
  ListOffsetsResult,
  RecordMsg,
} from '../protocol/messages';
import { type ReplicaManager, toErrorResult } from '../replication/replica-manager';

export const DEFAULT_FETCH_MAX_BYTES = 50 * 1024 * 1024;
export const DEFAULT_PARTITION_MAX_BYTES = 1024 * 1024;
/** Upper bound on a response, whatever the client asks: gRPC's message limit minus headroom. */
export const FETCH_MAX_BYTES_LIMIT = 100 * 1024 * 1024;
export const MAX_WAIT_MS_LIMIT = 60_000;

export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

/**
 * Fetch for consumers (design brief §6): whole batches from each partition's leader, never at or
 * past the high watermark, with Kafka's long polling — answer at once if `min_bytes` are there,
 * else when a high watermark moves enough or `max_wait_ms` passes.
 */
export class FetchHandler {
  constructor(
    private readonly replicas: ReplicaManager,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async handle(req: FetchRequest, cancelled: () => boolean = () => false): Promise<FetchResponse> {
    const maxWaitMs = Math.min(req.maxWaitMs, MAX_WAIT_MS_LIMIT);
    const deadline = this.clock.nowMs() + maxWaitMs;
    for (;;) {
      const { results, bytes, hasError } = this.readOnce(req);
      const remaining = deadline - this.clock.nowMs();
      if (bytes >= Math.max(1, req.minBytes) || hasError || remaining <= 0 || cancelled()) {
        return { correlationId: req.correlationId, results };
      }
      await this.waitForData(req.partitions, remaining);
    }
  }

  private readOnce(req: FetchRequest): { results: FetchPartitionResult[]; bytes: number; hasError: boolean } {
    let budget = Math.min(req.maxBytes > 0 ? req.maxBytes : DEFAULT_FETCH_MAX_BYTES, FETCH_MAX_BYTES_LIMIT);
    let bytes = 0;
    let hasError = false;
    const results = req.partitions.map((fp) => {
      const r = this.readPartition(fp, budget, bytes === 0, req.decodeRecords === true);
      const n = r.batches?.length ?? 0;
      bytes += n;
      budget = Math.max(0, budget - n);
      if (r.errorCode !== ErrorCode.NONE) hasError = true;
      return r;
    });
    return { results, bytes, hasError };
  }

  private readPartition(fp: FetchPartition, budget: number, minOneBatch: boolean, decode: boolean): FetchPartitionResult {
    try {
      const p = this.replicas.lookup(fp.topic, fp.partition);
      p.checkLeader(fp.currentLeaderEpoch ?? -1);
      const log = p.log;
      const hw = p.highWatermark;
      const maxBytes = Math.min(fp.partitionMaxBytes > 0 ? fp.partitionMaxBytes : DEFAULT_PARTITION_MAX_BYTES, budget);
      if (fp.fetchOffset < log.logStartOffset || fp.fetchOffset > log.logEndOffset) {
        throw new CairnError(ErrorCode.OFFSET_OUT_OF_RANGE, `offset ${fp.fetchOffset} is outside ${log.logStartOffset}..${log.logEndOffset} of ${fp.topic}-${fp.partition}`);
      }
      const data = maxBytes > 0 || minOneBatch ? log.read(fp.fetchOffset, maxBytes, hw, minOneBatch) : Buffer.alloc(0);
      const base = { topic: fp.topic, partition: fp.partition, errorCode: ErrorCode.NONE, highWatermark: hw, lastStableOffset: hw, logStartOffset: log.logStartOffset };
      if (!decode) return { ...base, batches: data };
      return { ...base, batches: data, records: decodeAllRecords(data, fp.fetchOffset).map(toRecordMsg) };
    } catch (err) {
      const { errorCode, errorMessage } = toErrorResult(err, this.logger);
      const hint = errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || errorCode === ErrorCode.FENCED_LEADER_EPOCH ? this.replicas.leaderHint(fp.topic, fp.partition) : null;
      return { topic: fp.topic, partition: fp.partition, errorCode, errorMessage, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, currentLeader: hint };
    }
  }

  /** Resolves when any of the partitions' high watermarks moves, leadership changes, or after `ms`. */
  private waitForData(partitions: readonly FetchPartition[], ms: number): Promise<void> {
    return wakeOnFirst(ms, (wake) =>
      partitions.flatMap((fp) => {
        const p = this.replicas.get(fp.topic, fp.partition);
        return p ? [p.onHighWatermark(wake), p.onLeadershipChange(wake)] : [];
      }),
    );
  }

  listOffsets(req: ListOffsetsRequest): ListOffsetsResponse {
    const results = req.partitions.map((lp): ListOffsetsResult => {
      try {
        const p = this.replicas.lookup(lp.topic, lp.partition);
        p.checkLeader(lp.currentLeaderEpoch ?? -1);
        const base = { topic: lp.topic, partition: lp.partition, errorCode: ErrorCode.NONE, leaderEpoch: p.leaderEpoch };
        if (lp.timestampMs === LATEST_TIMESTAMP) return { ...base, offset: p.highWatermark, timestampMs: -1 };
        if (lp.timestampMs === EARLIEST_TIMESTAMP) return { ...base, offset: p.log.logStartOffset, timestampMs: -1 };
        if (lp.timestampMs < 0) throw new CairnError(ErrorCode.INVALID_REQUEST, `timestamp ${lp.timestampMs}: use -1 (latest), -2 (earliest) or a time in ms`);
        const found = p.log.offsetForTimestamp(lp.timestampMs, p.highWatermark);
        return { ...base, offset: found?.offset ?? -1, timestampMs: found?.timestamp ?? -1 };
      } catch (err) {
        const { errorCode, errorMessage } = toErrorResult(err, this.logger);
        return { topic: lp.topic, partition: lp.partition, errorCode, errorMessage, offset: -1, timestampMs: -1, leaderEpoch: -1 };
      }
    });
    return { results };
  }
}

function toRecordMsg(r: { offset: number; timestamp: number; key: Buffer | null; value: Buffer | null; headers: { key: string; value: Buffer | null }[] }): RecordMsg {
  return { offset: r.offset, timestampMs: r.timestamp, key: r.key, value: r.value, headers: r.headers };
}
