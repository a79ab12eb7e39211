import { wakeOnFirst } from '../common/io';
import { CairnError, type Clock, ErrorCode, type Logger, Serial } from '../common';
import { AbortedTransactionFilter, decodeAllRecords, DecodeError, forEachBatch, InflateLimitError, offsetAfterBatches, type Record as DecodedRecord } from '../record';
import {
  type AbortedTransaction,
  type DescribeProducersResponse,
  CONTINUE_FETCH,
  IsolationLevel,
  type FetchPartition,
  type FetchPartitionResult,
  type FetchRequest,
  type FetchResponse,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type ListOffsetsResult,
  type RecordMsg,
} from '../protocol';
import { type ReplicaManager, toErrorResult } from '../replication/io';

/**
 * A response when the client does not say: what a gRPC client accepts by default (grpc's
 * max receive message length, 4 MiB), so a plain client in any language works without tuning.
 * Our own Consumer asks for 50 MiB (Kafka's fetch.max.bytes) and raises its channel's limit.
 */
export const DEFAULT_FETCH_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_PARTITION_MAX_BYTES = 1024 * 1024;
/** Upper bound on a response, whatever the client asks: gRPC's message limit minus headroom. */
export const FETCH_MAX_BYTES_LIMIT = 100 * 1024 * 1024;
/**
 * Bytes reserved in the response budget for each partition's result fields besides its data
 * (topic name, numbers, error message, leader hint, field tags): max_bytes bounds the whole
 * encoded message, not just the data in it.
 */
const RESULT_OVERHEAD_BYTES = 160;
/** The response's own framing (correlation id, field tags). */
const RESPONSE_OVERHEAD_BYTES = 32;
export const MAX_WAIT_MS_LIMIT = 60_000;

/**
 * A fetch session: the state of one FetchStream (Kafka's fetch sessions, KIP-227, used here for
 * pipelining). The broker takes the stream's requests one at a time, in the order they came, and
 * remembers per partition where its last answer ended, so a consumer may send its next request
 * (with `fetch_offset` -1, CONTINUE_FETCH) before the previous answer has arrived: the broker reads
 * the next data while the previous answer travels and is decoded.
 */
export class FetchSession {
  /** topic\0partition → the offset after the last answer's data. */
  private readonly next = new Map<string, number>();
  private readonly requests = new Serial();

  /** Runs `fn` after every request of the stream that came before it. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.requests.run(fn);
  }

  /** The offset a CONTINUE_FETCH of this partition starts at (undefined: the stream has no position for it). */
  position(topic: string, partition: number): number | undefined {
    return this.next.get(`${topic}\u0000${partition}`);
  }

  /** After an answer: where each partition goes on from (a partition that failed has no position until fetched by offset again). */
  record(results: readonly FetchPartitionResult[]): void {
    for (const r of results) {
      const key = `${r.topic}\u0000${r.partition}`;
      if (r.errorCode === ErrorCode.NONE && r.nextFetchOffset !== undefined) this.next.set(key, r.nextFetchOffset);
      else this.next.delete(key);
    }
  }
}

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

  async handle(req: FetchRequest, cancelled: () => boolean = () => false, session?: FetchSession): Promise<FetchResponse> {
    const maxWaitMs = Math.min(req.maxWaitMs, MAX_WAIT_MS_LIMIT);
    const deadline = this.clock.nowMs() + maxWaitMs;
    for (;;) {
      const { results, bytes, hasError } = this.readOnce(req, session);
      const remaining = deadline - this.clock.nowMs();
      if (bytes >= Math.max(1, req.minBytes) || hasError || remaining <= 0 || cancelled()) {
        session?.record(results);
        return { correlationId: req.correlationId, results };
      }
      await this.waitForData(req.partitions, remaining);
    }
  }

  private readOnce(req: FetchRequest, session: FetchSession | undefined): { results: FetchPartitionResult[]; bytes: number; hasError: boolean } {
    let budget = Math.min(req.maxBytes > 0 ? req.maxBytes : DEFAULT_FETCH_MAX_BYTES, FETCH_MAX_BYTES_LIMIT) - RESPONSE_OVERHEAD_BYTES;
    let bytes = 0;
    let hasError = false;
    const results = req.partitions.map((asked) => {
      const fp = asked.fetchOffset === CONTINUE_FETCH ? { ...asked, fetchOffset: session?.position(asked.topic, asked.partition) ?? CONTINUE_FETCH } : asked;
      budget -= RESULT_OVERHEAD_BYTES + Buffer.byteLength(fp.topic);
      const { result, dataBytes } = this.readPartition(fp, Math.max(0, budget), bytes === 0, req.decodeRecords === true, req.isolationLevel === IsolationLevel.READ_COMMITTED);
      bytes += dataBytes;
      budget -= dataBytes + Buffer.byteLength(result.errorMessage ?? '');
      if (result.errorCode !== ErrorCode.NONE) hasError = true;
      return result;
    });
    return { results, bytes, hasError };
  }

  /** One partition's part of the response, and how many bytes of data (batches, or encoded records) it holds. */
  private readPartition(fp: FetchPartition, budget: number, minOne: boolean, decode: boolean, readCommitted: boolean): { result: FetchPartitionResult; dataBytes: number } {
    try {
      if (fp.fetchOffset === CONTINUE_FETCH) {
        throw new CairnError(ErrorCode.FETCH_SESSION_ID_NOT_FOUND, `fetch offset -1 (continue) for ${fp.topic}-${fp.partition}, which this fetch stream has no position for: fetch by offset first`);
      }
      const p = this.replicas.lookup(fp.topic, fp.partition);
      p.checkLeader(fp.currentLeaderEpoch ?? -1);
      const log = p.log;
      const hw = p.highWatermark;
      const maxBytes = Math.min(fp.partitionMaxBytes > 0 ? fp.partitionMaxBytes : DEFAULT_PARTITION_MAX_BYTES, budget);
      if (fp.fetchOffset < log.logStartOffset || fp.fetchOffset > log.logEndOffset) {
        throw new CairnError(ErrorCode.OFFSET_OUT_OF_RANGE, `offset ${fp.fetchOffset} is outside ${log.logStartOffset}..${log.logEndOffset} of ${fp.topic}-${fp.partition}`);
      }
      const lso = log.lastStableOffset;
      // read_committed reads stop at the last stable offset: past it, transactions are undecided.
      const data = maxBytes > 0 || minOne ? log.read(fp.fetchOffset, maxBytes, readCommitted ? lso : hw, minOne) : EMPTY;
      const base = { topic: fp.topic, partition: fp.partition, errorCode: ErrorCode.NONE, highWatermark: hw, lastStableOffset: lso, logStartOffset: log.logStartOffset };
      const end = data.length > 0 ? offsetAfterBatches(data) : fp.fetchOffset;
      const aborted = readCommitted && data.length > 0 ? log.abortedTransactions(fp.fetchOffset, end) : NO_ABORTED;
      if (!decode) return { result: { ...base, batches: data, nextFetchOffset: end, abortedTransactions: aborted }, dataBytes: data.length };
      const { records, bytes, nextOffset } = decodeStored(aborted.length > 0 ? withoutAborted(data, aborted) : data, fp.fetchOffset, maxBytes, minOne, end);
      return { result: { ...base, batches: EMPTY, records, nextFetchOffset: nextOffset }, dataBytes: bytes };
    } catch (err) {
      const { errorCode, errorMessage } = toErrorResult(err, this.logger);
      const hint = errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || errorCode === ErrorCode.FENCED_LEADER_EPOCH ? this.replicas.leaderHint(fp.topic, fp.partition) : null;
      return {
        result: {
          topic: fp.topic,
          partition: fp.partition,
          errorCode,
          errorMessage,
          highWatermark: -1,
          lastStableOffset: -1,
          logStartOffset: -1,
          currentLeader: hint,
          nextFetchOffset: fp.fetchOffset,
        },
        dataBytes: 0,
      };
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

  /** DescribeProducers: the producers the partition's leader knows, with their open transactions (what holds the LSO back). */
  describeProducers(topic: string, partition: number): DescribeProducersResponse {
    try {
      const p = this.replicas.lookup(topic, partition);
      p.checkLeader(-1);
      const log = p.log;
      return {
        errorCode: ErrorCode.NONE,
        lastStableOffset: log.lastStableOffset,
        highWatermark: p.highWatermark,
        producers: log.producerEntries().map((e) => ({
          producerId: e.producerId,
          producerEpoch: e.producerEpoch,
          lastSequence: e.batches[e.batches.length - 1]?.lastSeq ?? -1,
          lastTimestampMs: e.lastTimestampMs,
          coordinatorEpoch: e.coordinatorEpoch,
          currentTxnStartOffset: e.currentTxnFirstOffset,
          currentTxnStartTimeMs: e.currentTxnStartTimestampMs,
        })),
      };
    } catch (err) {
      return { ...toErrorResult(err, this.logger), lastStableOffset: -1, highWatermark: -1, producers: [] };
    }
  }

  listOffsets(req: ListOffsetsRequest): ListOffsetsResponse {
    const results = req.partitions.map((lp): ListOffsetsResult => {
      try {
        const p = this.replicas.lookup(lp.topic, lp.partition);
        p.checkLeader(lp.currentLeaderEpoch ?? -1);
        const base = { topic: lp.topic, partition: lp.partition, errorCode: ErrorCode.NONE, leaderEpoch: p.leaderEpoch };
        if (lp.timestampMs === LATEST_TIMESTAMP) return { ...base, offset: req.isolationLevel === IsolationLevel.READ_COMMITTED ? p.log.lastStableOffset : p.highWatermark, timestampMs: -1 };
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

const EMPTY = Buffer.alloc(0);

/** Bytes of a protobuf varint holding `n` (negative int64s take ten). */
function varintBytes(n: number): number {
  if (n < 0) return 10;
  let bytes = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Bytes of a length-delimited field (tag, length, payload). */
const lengthDelimited = (payload: number) => 1 + varintBytes(payload) + payload;

/** The encoded size of one `Record` inside FetchPartitionResult.records (proto/cairn.proto), as the server encodes it. */
export function encodedRecordBytes(r: DecodedRecord): number {
  let body = 0;
  if (r.key !== null) body += lengthDelimited(r.key.length);
  if (r.value !== null) body += lengthDelimited(r.value.length);
  for (const h of r.headers) body += lengthDelimited(lengthDelimited(Buffer.byteLength(h.key)) + (h.value === null ? 0 : lengthDelimited(h.value.length)));
  // protobufjs writes scalars that are set even when they hold the default (0).
  body += 1 + varintBytes(r.timestamp) + 1 + varintBytes(r.offset);
  return lengthDelimited(body);
}

const NO_ABORTED: AbortedTransaction[] = [];

/**
 * The batches of `data` without those of aborted transactions (for the plain path, whose clients
 * do not filter): Kafka's consumer rule, applied on the broker (see AbortedTransactionFilter).
 */
function withoutAborted(data: Buffer, aborted: readonly AbortedTransaction[]): Buffer {
  const filter = new AbortedTransactionFilter(aborted);
  const kept: Buffer[] = [];
  forEachBatch(data, (pos, size) => {
    if (filter.keep(data, pos)) kept.push(data.subarray(pos, pos + size));
  });
  return Buffer.concat(kept);
}

/** decodeWithin, with a stored batch that cannot be decoded answered by a typed error. */
function decodeStored(data: Buffer, fetchOffset: number, maxBytes: number, minOne: boolean, end: number): ReturnType<typeof decodeWithin> {
  try {
    return decodeWithin(data, fetchOffset, maxBytes, minOne, end);
  } catch (err) {
    if (err instanceof InflateLimitError)
      throw new CairnError(ErrorCode.MESSAGE_TOO_LARGE, `a stored batch at or after offset ${fetchOffset} inflates past ${err.limitBytes} bytes; fetch without decode_records to get its bytes`);
    if (err instanceof DecodeError) throw new CairnError(ErrorCode.CORRUPT_MESSAGE, `a stored batch at or after offset ${fetchOffset} does not decode: ${err.message}`);
    throw err;
  }
}

/**
 * The plain path: records of `data` at or above `fetchOffset` whose encoded size fits `maxBytes`
 * (at least one when `minOne`), and where the next fetch starts — past the last record kept, or
 * past the whole data when every record fit (it may end in control batches or compacted gaps).
 */
function decodeWithin(data: Buffer, fetchOffset: number, maxBytes: number, minOne: boolean, end: number): { records: RecordMsg[]; bytes: number; nextOffset: number } {
  const records: RecordMsg[] = [];
  if (data.length === 0) return { records, bytes: 0, nextOffset: end };
  let bytes = 0;
  for (const r of decodeAllRecords(data, fetchOffset)) {
    const n = encodedRecordBytes(r);
    if (bytes + n > maxBytes && !(minOne && records.length === 0)) return { records, bytes, nextOffset: r.offset };
    records.push({ offset: r.offset, timestampMs: r.timestamp, key: r.key, value: r.value, headers: [...r.headers] });
    bytes += n;
  }
  return { records, bytes, nextOffset: end };
}
