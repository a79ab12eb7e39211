/**
 * The consumer's fetching (Kafka's Fetcher): for the partitions the consumer has assigned, one
 * fetch stream per leader with up to `fetchesInFlight` requests on it, prefetching up to
 * `prefetchBytes` per partition while the application reads; offset resets (autoOffsetReset),
 * retries with backoff, and the checks that keep a fetch for an old position (before a seek, or
 * from a stream that moved on) out of what poll() hands out. The Consumer owns the assignment, the
 * positions the application sees, and the group; this class only moves `fetchPosition` and fills
 * each partition's FetchedRecords.
 */
import { CairnError, ErrorCode, isRetriable, needsMetadataRefresh } from '../common';
import { batchBaseOffset, offsetAfterBatches } from '../record';
import { CONTINUE_FETCH, type FetchPartition, type FetchPartitionResult, type FetchResponse, IsolationLevel, type ListOffsetsResponse } from '../protocol';
import type { Cluster } from './cluster';
import { FetchedRecords } from './fetched-records';
import { backoffMs } from './retry';

/** A partition the consumer reads: where the application is, and where its fetches are. */
export interface Assigned {
  topic: string;
  partition: number;
  /** Next offset poll() returns; null until known (reset pending). */
  position: number | null;
  /**
   * The application is done with every record before this offset: what a group commits. Records
   * handed out by a poll are done when poll is called again (Kafka's rule), or, under async
   * iteration, when the loop comes back for the next record.
   */
  processed: number | null;
  /** Next offset to fetch (ahead of `position` by what is buffered). */
  fetchPosition: number | null;
  /** What fetches brought and poll() has not handed out yet, decoded as it is handed out. */
  fetched: FetchedRecords;
  highWatermark: number;
  paused: boolean;
  /** Bumped by seek: a fetch issued before it is discarded. */
  generation: number;
  /** Fetch requests in flight that include this partition. */
  inflight: number;
  /**
   * The broker whose fetch stream goes on from where this partition's requests in flight end
   * (they may be followed by a CONTINUE_FETCH request); -1: none, fetch by offset next.
   */
  sessionLeader: number;
  retryAtMs: number;
  /** Failed fetches in a row: the backoff before the next one grows with it (client/retry.ts). */
  failures: number;
  leaderEpoch: number;
}

export const LATEST = -1;
export const EARLIEST = -2;
/** The key of a partition in the consumer's assignment. */
export const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export interface FetcherOptions {
  autoOffsetReset: 'earliest' | 'latest' | 'none';
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  partitionMaxBytes: number;
  prefetchBytes: number;
  fetchesInFlight: number;
}

export class Fetcher {
  /** Fetch requests in flight per broker. */
  private readonly inflight = new Map<number, number>();
  private wakeTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** `events.data`: records arrived for poll(); `events.failed`: an error no retry changes, for poll() to throw. */
  constructor(
    private readonly cluster: Cluster,
    private readonly assigned: ReadonlyMap<string, Assigned>,
    private readonly isolation: IsolationLevel,
    private readonly o: FetcherOptions,
    private readonly events: { data(): void; failed(err: Error): void },
  ) {}

  /** Fetches what may be fetched now (call after anything that can make a partition fetchable). */
  kick(): void {
    if (this.stopped) return;
    void this.fetchAll();
  }

  /** No more fetches or wake-ups. An answer still in flight lands in its partition's buffer, which a closed consumer never hands out. */
  stop(): void {
    this.stopped = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
  }

  /** The offset for `timestamp` (or LATEST / EARLIEST) at the partition's leader, retried through elections until defaultApiTimeoutMs. */
  listOffset(topic: string, partition: number, timestamp: number): Promise<number> {
    return this.cluster.retrying(`ListOffsets ${topic}-${partition}`, async () => {
      await this.cluster.topic(topic);
      const leader = this.cluster.cachedPartition(topic, partition)?.leaderId ?? -1;
      if (leader < 0) throw new CairnError(ErrorCode.LEADER_NOT_AVAILABLE, `${topic}-${partition} has no leader`);
      const res = await this.cluster
        .broker(leader)
        .rpc.unary<unknown, ListOffsetsResponse>(
          'ListOffsets',
          { partitions: [{ topic, partition, timestampMs: timestamp, currentLeaderEpoch: -1 }], isolationLevel: this.isolation },
          this.cluster.requestTimeoutMs,
        );
      const r = res.results[0];
      if (!r || r.errorCode !== ErrorCode.NONE) throw new CairnError(r?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, r?.errorMessage || 'list offsets failed');
      return r.offset;
    });
  }

  /** Issues one fetch per leader that has fetchable partitions and no fetch in flight. */
  private async fetchAll(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    const byLeader = new Map<number, { a: Assigned; offset: number }[]>();
    const needReset: Assigned[] = [];
    let needMetadata = false;
    for (const a of this.assigned.values()) {
      if (a.paused || a.retryAtMs > now || a.fetched.bufferedBytes >= this.o.prefetchBytes) continue;
      if (a.fetchPosition === null) {
        needReset.push(a);
        continue;
      }
      const leader = this.cluster.cachedPartition(a.topic, a.partition)?.leaderId ?? -1;
      if (leader < 0) {
        needMetadata = true;
        continue;
      }
      if ((this.inflight.get(leader) ?? 0) >= this.o.fetchesInFlight) continue;
      // Nothing in flight: from its position. Else only behind its own requests on that broker's stream.
      let offset: number;
      if (a.inflight === 0) offset = a.fetchPosition;
      else if (a.sessionLeader === leader && a.inflight < this.o.fetchesInFlight) offset = CONTINUE_FETCH;
      else continue;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), { a, offset }]);
    }
    if (needMetadata || this.cluster.metadata === null) {
      try {
        for (const t of new Set([...this.assigned.values()].map((a) => a.topic))) await this.cluster.topic(t);
        await this.cluster.refresh();
      } catch (err) {
        // Retried on the next kick, unless no retry can help.
        this.failIfFinal(err);
      }
      if (needMetadata) this.scheduleWake(100);
    }
    for (const a of needReset) void this.reset(a);
    for (const [leader, parts] of byLeader) this.fetchFrom(leader, parts);
  }

  private async reset(a: Assigned): Promise<void> {
    const generation = a.generation;
    if (this.o.autoOffsetReset === 'none') {
      this.events.failed(new CairnError(ErrorCode.OFFSET_OUT_OF_RANGE, `${a.topic}-${a.partition} has no valid position and autoOffsetReset is 'none'`));
      return;
    }
    a.retryAtMs = Date.now() + 60_000; // no double resets while this one runs
    try {
      const offset = await this.listOffset(a.topic, a.partition, this.o.autoOffsetReset === 'earliest' ? EARLIEST : LATEST);
      if (a.generation === generation) {
        a.position = offset;
        a.processed = offset;
        a.fetchPosition = offset;
      }
      a.retryAtMs = 0;
    } catch (err) {
      this.failIfFinal(err);
      a.retryAtMs = Date.now() + 200;
      void this.cluster.refresh().catch(() => undefined);
      this.scheduleWake(200);
    }
    this.kick();
  }

  private fetchFrom(leader: number, asked: { a: Assigned; offset: number }[]): void {
    const parts = asked.map((x) => x.a);
    let conn;
    try {
      conn = this.cluster.broker(leader);
    } catch {
      void this.cluster.refresh().catch(() => undefined);
      this.scheduleWake(100);
      return;
    }
    this.inflight.set(leader, (this.inflight.get(leader) ?? 0) + 1);
    for (const a of parts) {
      a.inflight++;
      a.sessionLeader = leader;
    }
    const generations = parts.map((a) => a.generation);
    const partitions: FetchPartition[] = asked.map(({ a, offset }) => ({
      topic: a.topic,
      partition: a.partition,
      fetchOffset: offset,
      partitionMaxBytes: this.o.partitionMaxBytes,
      currentLeaderEpoch: -1,
    }));
    conn.fetch.send({ maxWaitMs: this.o.maxWaitMs, minBytes: this.o.minBytes, maxBytes: this.o.maxBytes, isolationLevel: this.isolation, partitions }).then(
      (res) => {
        this.fetchDone(leader, parts);
        this.onFetch(parts, generations, res as FetchResponse);
        this.kick();
      },
      (err: unknown) => {
        this.fetchDone(leader, parts);
        for (const a of parts) {
          a.sessionLeader = -1;
          this.backOff(a);
        }
        this.failIfFinal(err);
        void this.cluster.refresh().catch(() => undefined);
      },
    );
  }

  private fetchDone(leader: number, parts: Assigned[]): void {
    const n = (this.inflight.get(leader) ?? 1) - 1;
    if (n > 0) this.inflight.set(leader, n);
    else this.inflight.delete(leader);
    for (const a of parts) a.inflight--;
  }

  private onFetch(parts: Assigned[], generations: number[], res: FetchResponse): void {
    let gotData = false;
    parts.forEach((a, i) => {
      if (this.assigned.get(keyOf(a.topic, a.partition)) !== a) return;
      if (a.generation !== generations[i]) {
        // Fetched for a position given up by a seek: the stream's position is past it too.
        a.sessionLeader = -1;
        return;
      }
      const r: FetchPartitionResult | undefined = res.results.find((x) => x.topic === a.topic && x.partition === a.partition);
      if (!r) {
        a.sessionLeader = -1;
        return;
      }
      if (r.errorCode !== ErrorCode.NONE) a.sessionLeader = -1;
      if (r.errorCode === ErrorCode.FETCH_SESSION_ID_NOT_FOUND) return; // fetched by offset next, at once
      if (r.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
        a.fetchPosition = null;
        a.position = null;
        a.processed = null;
        dropBuffered(a);
        return;
      }
      if (r.errorCode !== ErrorCode.NONE) {
        if (!isRetriable(r.errorCode)) {
          this.events.failed(new CairnError(r.errorCode, `${a.topic}-${a.partition}: ${r.errorMessage}`));
          return;
        }
        this.backOff(a);
        if (needsMetadataRefresh(r.errorCode)) void this.cluster.refresh().catch(() => undefined);
        return;
      }
      a.failures = 0;
      // Lag counts to what this consumer can read: the last stable offset under read_committed.
      a.highWatermark = this.isolation === IsolationLevel.READ_COMMITTED ? r.lastStableOffset : r.highWatermark;
      const data = r.batches;
      if (!data || data.length === 0) return;
      const next = offsetAfterBatches(data);
      // The data must take up where the position is (a batch may begin before it); anything else: fetch by offset again.
      if (batchBaseOffset(data) > a.fetchPosition! || next <= a.fetchPosition!) {
        a.sessionLeader = -1;
        return;
      }
      a.fetched.push(data, a.fetchPosition!, next, r.abortedTransactions);
      a.fetchPosition = next;
      gotData = true;
    });
    if (gotData) this.events.data();
  }

  /** A retriable failure: wait before fetching this partition again, longer after each one in a row. */
  private backOff(a: Assigned): void {
    a.failures++;
    const waitMs = backoffMs(a.failures, this.cluster.backoff, Math.random());
    a.retryAtMs = Date.now() + waitMs;
    this.scheduleWake(waitMs);
  }

  /** A refusal no retry changes (TOPIC_AUTHORIZATION_FAILED) goes to poll(); anything else is retried by the caller. */
  private failIfFinal(err: unknown): void {
    if (err instanceof CairnError && !isRetriable(err.code)) this.events.failed(err);
  }

  private scheduleWake(ms: number): void {
    if (this.wakeTimer || this.stopped) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.kick();
    }, ms);
  }
}

export function newAssigned(topic: string, partition: number, offset: number | undefined): Assigned {
  return {
    topic,
    partition,
    position: offset ?? null,
    processed: offset ?? null,
    fetchPosition: offset ?? null,
    fetched: new FetchedRecords(topic, partition),
    highWatermark: -1,
    paused: false,
    generation: 0,
    inflight: 0,
    sessionLeader: -1,
    retryAtMs: 0,
    failures: 0,
    leaderEpoch: -1,
  };
}

export function dropBuffered(a: Assigned): void {
  a.fetched.clear();
}
