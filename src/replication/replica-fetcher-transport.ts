import type { ReplicaFetchRequest, ReplicaFetchResponse, ReplicaFetchResult } from '../protocol/messages';
import { CorrelatedStream, RpcClient } from '../protocol/rpc-client';
import { ErrorCode, errorName } from '../common/errors';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { tpKey } from '../common/types';
import { followerTruncation } from './fetch-validation';
import type { Partition } from './partition';

export interface FetcherOptions {
  nodeId: number;
  brokerEpoch: () => number;
  /** This process's incarnation: with the broker epoch, proves the fetch comes from the registered follower. */
  incarnationId: string;
  addressOf: (brokerId: number) => string | null;
  clock: Clock;
  logger: Logger;
  maxWaitMs?: number;
  maxBytes?: number;
  partitionMaxBytes?: number;
}

const BACKOFF_MS = 200;

interface Entry {
  p: Partition;
  retryAtMs: number;
}

/**
 * Pulls one leader's partitions for this follower (design brief §6), at most one fetch in flight
 * per partition: send where each log ends, what is fsynced and the last epoch; truncate where the
 * leader says the logs diverge; append what comes back; fsync it; then fetch again, reporting the
 * new durable offset — so the leader's high watermark only ever counts data on this replica's disk.
 *
 * A partition added while a long-poll for the others is parked on the leader does not wait for it
 * (up to `maxWaitMs`): it goes out at once in a request of its own on the same stream. Without
 * that, every new topic and every leadership move onto a leader this broker already fetches from
 * stalled acks=all writes for up to half a second.
 */
class LeaderFetcher {
  private readonly partitions = new Map<string, Entry>();
  /** Partitions in an outstanding request, or whose fetched data is still being fsynced. */
  private readonly inFlight = new Set<string>();
  private rpc: RpcClient | null = null;
  private stream: CorrelatedStream<ReplicaFetchRequest, ReplicaFetchResponse> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    readonly leaderId: number,
    private readonly o: FetcherOptions,
  ) {}

  get size(): number {
    return this.partitions.size;
  }

  add(p: Partition): void {
    this.partitions.set(tpKey(p.topic, p.partition), { p, retryAtMs: 0 });
    this.pump();
  }

  remove(p: Partition): void {
    this.partitions.delete(tpKey(p.topic, p.partition));
  }

  has(p: Partition): boolean {
    return this.partitions.get(tpKey(p.topic, p.partition))?.p === p;
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.closeConnection();
  }

  private connection(): CorrelatedStream<ReplicaFetchRequest, ReplicaFetchResponse> | null {
    if (this.stream) return this.stream;
    const address = this.o.addressOf(this.leaderId);
    if (address === null) return null;
    this.rpc = new RpcClient(address, 'cairn.v1.Replica');
    this.stream = new CorrelatedStream(this.rpc, 'Fetch');
    return this.stream;
  }

  private closeConnection(): void {
    this.stream?.close();
    this.rpc?.close();
    this.stream = null;
    this.rpc = null;
  }

  /** Looks again after a backoff: for partitions in backoff, not yet followers, offline, or no address. */
  private retryLater(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, BACKOFF_MS);
  }

  /** Sends one request for every partition that is due and not already in flight. */
  private pump(): void {
    if (this.stopped) return;
    const now = this.o.clock.nowMs();
    const due: { key: string; e: Entry }[] = [];
    let waiting = false;
    for (const [key, e] of this.partitions) {
      if (this.inFlight.has(key)) continue;
      if (e.retryAtMs <= now && e.p.role === 'follower' && e.p.leaderId === this.leaderId && !e.p.log.isOffline) due.push({ key, e });
      else waiting = true;
    }
    if (due.length === 0) {
      if (waiting) this.retryLater();
      return;
    }
    const stream = this.connection();
    if (stream === null) {
      this.retryLater();
      return;
    }
    for (const { key } of due) this.inFlight.add(key);
    void this.fetch(stream, due.map((d) => d.e)).finally(() => {
      for (const { key } of due) this.inFlight.delete(key);
      this.pump();
    });
  }

  private async fetch(stream: CorrelatedStream<ReplicaFetchRequest, ReplicaFetchResponse>, entries: Entry[]): Promise<void> {
    const sent = entries.map((e) => ({ e, epoch: e.p.leaderEpoch, fetchOffset: e.p.log.logEndOffset }));
    let res: ReplicaFetchResponse | null;
    try {
      res = await stream.send({
        replicaId: this.o.nodeId,
        brokerEpoch: this.o.brokerEpoch(),
        incarnationId: this.o.incarnationId,
        maxWaitMs: this.o.maxWaitMs ?? 500,
        minBytes: 1,
        maxBytes: this.o.maxBytes ?? 32 * 1024 * 1024,
        partitions: sent.map(({ e, epoch, fetchOffset }) => ({
          topic: e.p.topic,
          partition: e.p.partition,
          fetchOffset,
          durableOffset: e.p.log.durableEndOffset,
          currentLeaderEpoch: epoch,
          lastFetchedEpoch: e.p.log.epochs.latestEpoch,
          maxBytes: this.o.partitionMaxBytes ?? 8 * 1024 * 1024,
        })),
      });
    } catch (err) {
      if (this.stopped) return;
      this.o.logger.debug({ leader: this.leaderId, err: (err as Error).message }, 'replica fetch failed');
      // Every request on this stream fails with it; the first to notice drops the connection.
      if (this.stream === stream) this.closeConnection();
      const retryAt = this.o.clock.nowMs() + BACKOFF_MS;
      for (const e of entries) e.retryAtMs = retryAt;
      return;
    }
    const durable: Promise<void>[] = [];
    for (const { e, epoch, fetchOffset } of sent) {
      const r = res?.results.find((x) => x.topic === e.p.topic && x.partition === e.p.partition);
      // Leadership or the log moved while the fetch was out: its answer no longer applies.
      if (!r || !this.has(e.p) || e.p.leaderEpoch !== epoch || e.p.role !== 'follower' || e.p.log.logEndOffset !== fetchOffset) continue;
      try {
        const wait = this.apply(e, r);
        if (wait) durable.push(wait);
      } catch (err) {
        this.o.logger.error({ topic: e.p.topic, partition: e.p.partition, err: (err as Error).message }, 'replica fetch result failed');
        e.retryAtMs = this.o.clock.nowMs() + BACKOFF_MS;
      }
    }
    // The next fetch reports these offsets as durable, so wait for their fsync first.
    await Promise.allSettled(durable);
  }

  private apply(e: Entry, r: ReplicaFetchResult): Promise<void> | null {
    const p = e.p;
    const log = p.log;
    if (r.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
      if (log.logEndOffset < r.logStartOffset) {
        // Everything this replica has is below what the leader still keeps (retention moved on).
        this.o.logger.warn({ topic: p.topic, partition: p.partition, logEndOffset: log.logEndOffset, leaderStart: r.logStartOffset }, 'follower behind the leader log start; starting over there');
        log.truncateFullyAndStartAt(r.logStartOffset);
      } else if (log.logEndOffset > r.logEndOffset) {
        // Past the leader's end without a diverging epoch (no epochs to compare): cut back to it, never wipe.
        this.o.logger.warn({ topic: p.topic, partition: p.partition, logEndOffset: log.logEndOffset, leaderEnd: r.logEndOffset }, 'follower past the leader log end; truncating to it');
        log.truncateTo(r.logEndOffset);
      }
      return null;
    }
    if (r.errorCode !== ErrorCode.NONE) {
      this.o.logger.debug({ topic: p.topic, partition: p.partition, err: errorName(r.errorCode) }, 'replica fetch refused');
      e.retryAtMs = this.o.clock.nowMs() + BACKOFF_MS;
      return null;
    }
    if (r.divergingEpoch) {
      const view = { logEndOffset: log.logEndOffset, endOffsetFor: (epoch: number) => log.epochs.endOffsetFor(epoch, log.logEndOffset) };
      const t = followerTruncation(view, r.divergingEpoch.epoch, r.divergingEpoch.endOffset);
      this.o.logger.info({ topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch, divergingEpoch: r.divergingEpoch, logEndOffset: log.logEndOffset, truncation: t }, 'follower log diverged from the leader; truncating');
      if (t.kind === 'reset-to-leader-start') log.truncateFullyAndStartAt(r.logStartOffset);
      else log.truncateTo(t.offset);
      return null;
    }
    if (r.batches && r.batches.length > 0) p.appendAsFollower(r.batches, this.o.clock.wallMs());
    // A follower's high watermark: the leader's, as far as this log reaches.
    log.updateHighWatermark(Math.min(r.highWatermark, log.logEndOffset));
    return log.logEndOffset > log.durableEndOffset ? log.waitDurable(log.logEndOffset).catch(() => undefined) : null;
  }
}

/**
 * All of this broker's follower partitions, grouped by leader (Kafka's ReplicaFetcherManager):
 * a partition moves between fetchers as leadership changes in the metadata.
 */
export class ReplicaFetcherManager {
  private readonly fetchers = new Map<number, LeaderFetcher>();

  constructor(private readonly o: FetcherOptions) {}

  /** Called for every partition whose role or leader may have changed. */
  onPartitionChange(p: Partition): void {
    for (const f of this.fetchers.values()) if (f.leaderId !== p.leaderId || p.role !== 'follower') f.remove(p);
    if (p.role !== 'follower' || p.leaderId < 0 || p.leaderId === this.o.nodeId) return;
    let f = this.fetchers.get(p.leaderId);
    if (!f) {
      f = new LeaderFetcher(p.leaderId, this.o);
      this.fetchers.set(p.leaderId, f);
    }
    if (!f.has(p)) f.add(p);
  }

  onPartitionRemoved(p: Partition): void {
    for (const f of this.fetchers.values()) f.remove(p);
  }

  stop(): void {
    for (const f of this.fetchers.values()) f.stop();
    this.fetchers.clear();
  }
}
