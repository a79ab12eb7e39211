/**
 * The leader's side of a replica fetch (design brief §6), without gRPC: the `Replica.Fetch`
 * handler in server/ calls it, and so can the whole-cluster simulation. Per partition the
 * ReplicaCore decides (leadership, membership, the follower's log against this one, its progress:
 * the high watermark, an ISR expansion); this shell reads the batches to send and, with nothing to
 * send, parks the fetch until an append (long poll, on the injected Timers).
 */
import { CairnError, type Clock, ErrorCode, type Logger, type TimerHandle, type Timers } from '../../common';
import type { ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResponse, ReplicaFetchResult } from '../../protocol';
import type { Partition } from './partition';
import type { ReplicaDriver } from './replica-driver';

/** Longest a fetch may ask to be parked. */
export const REPLICA_FETCH_MAX_WAIT_MS_LIMIT = 60_000;
const DEFAULT_REPLICA_PARTITION_MAX_BYTES = 4 * 1024 * 1024;
const REPLICA_FETCH_MAX_BYTES_LIMIT = 64 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export interface ReplicaFetchServerOptions {
  driver: ReplicaDriver;
  /** The hosted partition, or throws the typed error a fetch should answer for it. */
  lookup: (topic: string, partition: number) => Partition;
  get: (topic: string, partition: number) => Partition | undefined;
  /** The follower's registration as this broker's metadata image has it. */
  registration: (brokerId: number) => { epoch: number; incarnationId: string } | undefined;
  toErrorResult: (err: unknown) => { errorCode: ErrorCode; errorMessage: string };
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

export class ReplicaFetchServer {
  constructor(private readonly o: ReplicaFetchServerOptions) {}

  /**
   * A fetch moves the high watermark and the ISR, so it must come from the follower it names, in
   * its current registration: the broker epoch (as KIP-903 checks) and the incarnation id, which
   * unlike the epoch is not public. Null when it does; else the error every partition answers.
   */
  private staleFollower(req: ReplicaFetchRequest): CairnError | null {
    const r = this.o.registration(req.replicaId);
    if (r && r.epoch === req.brokerEpoch && r.incarnationId === req.incarnationId) return null;
    return new CairnError(ErrorCode.STALE_BROKER_EPOCH, `replica fetch names broker ${req.replicaId} epoch ${req.brokerEpoch}, which is not its current registration`);
  }

  async handle(req: ReplicaFetchRequest, cancelled: () => boolean = () => false): Promise<ReplicaFetchResponse> {
    const deadline = this.o.clock.nowMs() + Math.min(req.maxWaitMs, REPLICA_FETCH_MAX_WAIT_MS_LIMIT);
    for (;;) {
      const { results, bytes, final } = this.readOnce(req);
      if (bytes >= Math.max(1, req.minBytes) || final || this.o.clock.nowMs() >= deadline || cancelled()) return { correlationId: req.correlationId, results };
      await this.waitForAppend(req.partitions, deadline - this.o.clock.nowMs());
    }
  }

  private readOnce(req: ReplicaFetchRequest): { results: ReplicaFetchResult[]; bytes: number; final: boolean } {
    let budget = Math.min(req.maxBytes > 0 ? req.maxBytes : REPLICA_FETCH_MAX_BYTES_LIMIT, REPLICA_FETCH_MAX_BYTES_LIMIT);
    let bytes = 0;
    let final = false;
    const stale = this.staleFollower(req);
    const results = req.partitions.map((fp): ReplicaFetchResult => {
      const base = { topic: fp.topic, partition: fp.partition, highWatermark: -1, logStartOffset: -1, logEndOffset: -1 };
      try {
        if (stale) throw stale;
        if (fp.durableOffset > fp.fetchOffset) throw new CairnError(ErrorCode.INVALID_REQUEST, `durable offset ${fp.durableOffset} is beyond the fetch offset ${fp.fetchOffset}`);
        const p = this.o.lookup(fp.topic, fp.partition);
        const verdict = this.o.driver.followerFetch(p, req.replicaId, fp);
        if (verdict.kind === 'refused') throw new CairnError(verdict.refusal.code, verdict.refusal.message);
        const log = p.log;
        const state = { ...base, highWatermark: p.highWatermark, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset };
        if (verdict.kind === 'diverging') {
          final = true;
          return { ...state, errorCode: ErrorCode.NONE, divergingEpoch: { epoch: verdict.epoch, endOffset: verdict.endOffset } };
        }
        if (verdict.kind === 'out-of-range') {
          final = true;
          return { ...state, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, errorMessage: `offset ${fp.fetchOffset} is outside ${log.logStartOffset}..${log.logEndOffset}` };
        }
        const max = Math.min(fp.maxBytes > 0 ? fp.maxBytes : DEFAULT_REPLICA_PARTITION_MAX_BYTES, budget);
        const data = max > 0 && fp.fetchOffset < log.logEndOffset ? log.read(fp.fetchOffset, max, log.logEndOffset, true) : EMPTY;
        bytes += data.length;
        budget = Math.max(0, budget - data.length);
        return { ...state, highWatermark: p.highWatermark, errorCode: ErrorCode.NONE, batches: data };
      } catch (err) {
        final = true;
        const { errorCode, errorMessage } = this.o.toErrorResult(err);
        return { ...base, errorCode, errorMessage };
      }
    });
    return { results, bytes, final };
  }

  /** Resolves after `ms`, or at the first append to (or leadership change of) one of the partitions. */
  private waitForAppend(partitions: readonly ReplicaFetchPartition[], ms: number): Promise<void> {
    return new Promise((resolve) => {
      const offs: (() => void)[] = [];
      let timer: TimerHandle | null = null;
      let woken = false;
      const wake = () => {
        if (woken) return;
        woken = true;
        timer?.cancel();
        for (const off of offs) off();
        resolve();
      };
      for (const fp of partitions) {
        const p = this.o.get(fp.topic, fp.partition);
        if (p) offs.push(p.onLogEnd(wake), p.onLeadershipChange(wake));
      }
      if (!woken) timer = this.o.timers.after(Math.max(0, ms), wake);
    });
  }
}
