import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BrokerConnection, Cluster } from '../../../src/client/cluster';
import type { ConsumerRecord } from '../../../src/client/fetched-records';
import { type Assigned, Fetcher, type FetcherOptions, keyOf, newAssigned } from '../../../src/client/fetcher';
import { CairnError, ErrorCode } from '../../../src/common';
import {
  CONTINUE_FETCH,
  type FetchRequest,
  type FetchResponse,
  IsolationLevel,
  type ListOffsetsResponse,
  type MetadataResponse,
  type PartitionMetadata,
  type TopicMetadata,
} from '../../../src/protocol';
import { encodeBatch } from '../../../src/record';

/** A batch of `count` records with values "v<offset>", at `baseOffset`. */
const batch = (baseOffset: number, count: number): Buffer =>
  encodeBatch(
    Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`v${baseOffset + i}`) })),
    { baseOffset },
  );

/** Node 1 leads partition 0 of topic "t"; fetches wait for the test to answer them. */
class FakeCluster extends Cluster {
  readonly fetches: { req: FetchRequest; answer: (r: FetchResponse) => void; fail: (e: Error) => void }[] = [];
  readonly listOffsets: number[] = [];
  logStart = 0;

  constructor() {
    super({ bootstrap: 'fake:1', requestTimeoutMs: 1_000, retryBackoffMs: 100, retryBackoffMaxMs: 100 });
  }
  override cachedPartition(): PartitionMetadata {
    return { partition: 0, errorCode: ErrorCode.NONE, leaderId: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] };
  }
  override get metadata(): MetadataResponse {
    return { clusterId: 'fake', controllerId: 1, brokers: [], topics: [] };
  }
  override topic(name: string): Promise<TopicMetadata> {
    return Promise.resolve({ name, topicId: '', errorCode: ErrorCode.NONE, partitions: [this.cachedPartition()], internal: false });
  }
  override refresh(): never {
    return Promise.resolve(this.metadata) as never;
  }
  override broker(): BrokerConnection {
    return {
      fetch: {
        send: (req: FetchRequest) => new Promise<FetchResponse>((answer, fail) => this.fetches.push({ req, answer, fail })),
      },
      rpc: {
        unary: (method: string, req: { partitions: { timestampMs: number }[] }): Promise<ListOffsetsResponse> => {
          if (method !== 'ListOffsets') throw new Error(`unexpected ${method}`);
          this.listOffsets.push(req.partitions[0]!.timestampMs);
          return Promise.resolve({
            results: [{ topic: 't', partition: 0, errorCode: ErrorCode.NONE, errorMessage: '', offset: this.logStart, timestampMs: -1, leaderEpoch: 0 }],
          } as unknown as ListOffsetsResponse);
        },
      },
    } as unknown as BrokerConnection;
  }
  override close(): void {}
}

const options: FetcherOptions = { autoOffsetReset: 'earliest', maxWaitMs: 500, minBytes: 1, maxBytes: 1 << 20, partitionMaxBytes: 1 << 20, prefetchBytes: 1 << 20, fetchesInFlight: 2 };

function result(data: Buffer | undefined, errorCode = ErrorCode.NONE): FetchResponse {
  return {
    correlationId: 0,
    results: [{ topic: 't', partition: 0, errorCode, errorMessage: '', highWatermark: 100, lastStableOffset: 100, logStartOffset: 0, batches: data, abortedTransactions: [] }],
  } as unknown as FetchResponse;
}

function setup(offset: number | undefined, o: Partial<FetcherOptions> = {}) {
  const cluster = new FakeCluster();
  const a = newAssigned('t', 0, offset);
  const assigned = new Map<string, Assigned>([[keyOf('t', 0), a]]);
  const events = { data: vi.fn(), failed: vi.fn() };
  const fetcher = new Fetcher(cluster, assigned, IsolationLevel.READ_UNCOMMITTED, { ...options, ...o }, events);
  const take = (): number[] => {
    const out: ConsumerRecord[] = [];
    a.position = a.fetched.take(a.position, out, 1000);
    return out.map((r) => r.offset);
  };
  return { cluster, a, events, fetcher, take };
}

describe('Fetcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fetches from the position, then behind its own request on the same stream; what arrives is handed to poll in order', async () => {
    const { cluster, a, events, fetcher, take } = setup(5);
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(cluster.fetches.map((f) => f.req.partitions[0]!.fetchOffset)).toEqual([5, CONTINUE_FETCH]);
    // At most fetchesInFlight (2) on the stream.
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(cluster.fetches).toHaveLength(2);
    cluster.fetches[0]!.answer(result(batch(5, 3)));
    cluster.fetches[1]!.answer(result(batch(8, 2)));
    await vi.advanceTimersByTimeAsync(0);
    expect(a.fetchPosition).toBe(10);
    expect(events.data).toHaveBeenCalled();
    expect(take()).toEqual([5, 6, 7, 8, 9]);
    expect(a.highWatermark).toBe(100);
  });

  it('an answer to a fetch sent before a seek is dropped, even when it covers the new position, and the next fetch asks by offset', async () => {
    const { cluster, a, fetcher, take } = setup(0);
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    // The consumer's seek(): new positions, a new generation, no stream to continue.
    a.position = a.processed = a.fetchPosition = 1;
    a.generation++;
    a.sessionLeader = -1;
    cluster.fetches[0]!.answer(result(batch(0, 3)));
    await vi.advanceTimersByTimeAsync(0);
    expect(take()).toEqual([]);
    expect(a.fetchPosition).toBe(1);
    expect(cluster.fetches[cluster.fetches.length - 1]!.req.partitions[0]!.fetchOffset).toBe(1);
  });

  it('data that does not take up at the fetch position is dropped, and the partition fetches by offset again', async () => {
    const { cluster, a, fetcher, take } = setup(10);
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    cluster.fetches[0]!.answer(result(batch(20, 3)));
    await vi.advanceTimersByTimeAsync(0);
    expect(take()).toEqual([]);
    expect(a.fetchPosition).toBe(10);
    expect(cluster.fetches[cluster.fetches.length - 1]!.req.partitions[0]!.fetchOffset).toBe(10);
  });

  it('a retriable error waits out the backoff before fetching again; one no retry changes goes to failed', async () => {
    const { cluster, events, fetcher } = setup(0);
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    cluster.fetches[0]!.answer(result(undefined, ErrorCode.NOT_LEADER_OR_FOLLOWER));
    await vi.advanceTimersByTimeAsync(0);
    expect(cluster.fetches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(150);
    expect(cluster.fetches).toHaveLength(2);
    expect(events.failed).not.toHaveBeenCalled();
    cluster.fetches[1]!.answer(result(undefined, ErrorCode.TOPIC_AUTHORIZATION_FAILED));
    await vi.advanceTimersByTimeAsync(0);
    expect(events.failed).toHaveBeenCalledTimes(1);
    expect((events.failed.mock.calls[0]![0] as CairnError).code).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  });

  it('OFFSET_OUT_OF_RANGE resets the position by autoOffsetReset (earliest: the log start), or fails with none', async () => {
    const { cluster, a, fetcher } = setup(3);
    cluster.logStart = 40;
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    cluster.fetches[0]!.answer(result(undefined, ErrorCode.OFFSET_OUT_OF_RANGE));
    await vi.advanceTimersByTimeAsync(0);
    expect(cluster.listOffsets).toEqual([-2]);
    expect([a.position, a.processed, a.fetchPosition]).toEqual([40, 40, 40]);
    expect(cluster.fetches[cluster.fetches.length - 1]!.req.partitions[0]!.fetchOffset).toBe(40);

    const none = setup(undefined, { autoOffsetReset: 'none' });
    none.fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(none.cluster.fetches).toHaveLength(0);
    expect((none.events.failed.mock.calls[0]![0] as CairnError).code).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  });

  it('stop() ends fetching: no new fetches and no wake-ups', async () => {
    const { cluster, fetcher } = setup(0);
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    cluster.fetches[0]!.answer(result(undefined, ErrorCode.NOT_LEADER_OR_FOLLOWER));
    await vi.advanceTimersByTimeAsync(0);
    fetcher.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    fetcher.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(cluster.fetches).toHaveLength(1);
  });
});
