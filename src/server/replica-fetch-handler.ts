import { wakeOnFirst } from '../common/wake';
import { CairnError, ErrorCode } from '../common/errors';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { checkFollowerFetch } from '../replication/fetch-validation';
import type { Partition } from '../replication/partition';
import { type ReplicaManager, toErrorResult } from '../replication/replica-manager';
import { UNDEFINED_EPOCH } from '../storage/leader-epoch-cache';
import type { ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResult } from '../protocol/messages';
import { MAX_WAIT_MS_LIMIT } from './fetch-handler';

const DEFAULT_REPLICA_PARTITION_MAX_BYTES = 4 * 1024 * 1024;
const REPLICA_FETCH_MAX_BYTES_LIMIT = 64 * 1024 * 1024;

/**
 * The leader's side of replication (design brief §6): a follower's fetch tells the leader how far
 * the follower's log goes and what it has fsynced — the high watermark moves, a caught-up follower
 * is proposed for the ISR — and gets whole batches from its log end up to the leader's log end.
 * A follower whose log has diverged gets the epoch to truncate to instead (KIP-320). With nothing
 * to send, the fetch waits for an append (long poll).
 */
export class ReplicaFetchHandler {
  constructor(
    private readonly replicas: ReplicaManager,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly requestIsrExpansion: (p: Partition, replicaId: number) => void,
    /** The follower's registration as this broker's metadata image has it. */
    private readonly registration: (brokerId: number) => { epoch: number; incarnationId: string } | undefined,
  ) {}

  /**
   * A fetch moves the high watermark and the ISR, so it must come from the follower it names, in
   * its current registration: the broker epoch (as KIP-903 checks) and the incarnation id, which
   * unlike the epoch is not public. Null when it does; else the error every partition answers.
   */
  private staleFollower(req: ReplicaFetchRequest): CairnError | null {
    const r = this.registration(req.replicaId);
    if (r && r.epoch === req.brokerEpoch && r.incarnationId === req.incarnationId) return null;
    return new CairnError(ErrorCode.STALE_BROKER_EPOCH, `replica fetch names broker ${req.replicaId} epoch ${req.brokerEpoch}, which is not its current registration`);
  }

  async handle(req: ReplicaFetchRequest, cancelled: () => boolean = () => false): Promise<{ correlationId: number; results: ReplicaFetchResult[] }> {
    const deadline = this.clock.nowMs() + Math.min(req.maxWaitMs, MAX_WAIT_MS_LIMIT);
    for (;;) {
      const { results, bytes, final } = this.readOnce(req);
      if (bytes >= Math.max(1, req.minBytes) || final || this.clock.nowMs() >= deadline || cancelled()) return { correlationId: req.correlationId, results };
      await this.waitForAppend(req.partitions, deadline - this.clock.nowMs());
    }
  }

  private readOnce(req: ReplicaFetchRequest): { results: ReplicaFetchResult[]; bytes: number; final: boolean } {
    let budget = Math.min(req.maxBytes > 0 ? req.maxBytes : REPLICA_FETCH_MAX_BYTES_LIMIT, REPLICA_FETCH_MAX_BYTES_LIMIT);
    let bytes = 0;
    let final = false;
    const now = this.clock.nowMs();
    const stale = this.staleFollower(req);
    const results = req.partitions.map((fp): ReplicaFetchResult => {
      const base = { topic: fp.topic, partition: fp.partition, highWatermark: -1, logStartOffset: -1, logEndOffset: -1 };
      try {
        if (stale) throw stale;
        if (fp.durableOffset > fp.fetchOffset) throw new CairnError(ErrorCode.INVALID_REQUEST, `durable offset ${fp.durableOffset} is beyond the fetch offset ${fp.fetchOffset}`);
        const p = this.replicas.lookup(fp.topic, fp.partition);
        p.checkLeader(fp.currentLeaderEpoch);
        if (!p.replicas.includes(req.replicaId)) throw new CairnError(ErrorCode.REPLICA_NOT_AVAILABLE, `broker ${req.replicaId} is not a replica of ${fp.topic}-${fp.partition}`);
        const log = p.log;
        const view = { logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset, endOffsetFor: (e: number) => log.epochs.endOffsetFor(e, log.logEndOffset) };
        const check = checkFollowerFetch(view, fp.fetchOffset, fp.lastFetchedEpoch);
        const state = { ...base, highWatermark: p.highWatermark, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset };
        if (check.kind === 'diverging') {
          final = true;
          return { ...state, errorCode: ErrorCode.NONE, divergingEpoch: { epoch: check.epoch, endOffset: check.endOffset } };
        }
        if (check.kind === 'out-of-range') {
          final = true;
          return { ...state, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, errorMessage: `offset ${fp.fetchOffset} is outside ${log.logStartOffset}..${log.logEndOffset}` };
        }
        if (p.onFollowerFetch(req.replicaId, fp.fetchOffset, fp.durableOffset, now)) this.requestIsrExpansion(p, req.replicaId);
        const max = Math.min(fp.maxBytes > 0 ? fp.maxBytes : DEFAULT_REPLICA_PARTITION_MAX_BYTES, budget);
        const data = max > 0 && fp.fetchOffset < log.logEndOffset ? log.read(fp.fetchOffset, max, log.logEndOffset, true) : Buffer.alloc(0);
        bytes += data.length;
        budget = Math.max(0, budget - data.length);
        return { ...state, highWatermark: p.highWatermark, errorCode: ErrorCode.NONE, batches: data };
      } catch (err) {
        final = true;
        const { errorCode, errorMessage } = toErrorResult(err, this.logger);
        return { ...base, errorCode, errorMessage };
      }
    });
    return { results, bytes, final };
  }

  private waitForAppend(partitions: readonly ReplicaFetchPartition[], ms: number): Promise<void> {
    return wakeOnFirst(ms, (wake) =>
      partitions.flatMap((fp) => {
        const p = this.replicas.get(fp.topic, fp.partition);
        return p ? [p.onLogEnd(wake), p.onLeadershipChange(wake)] : [];
      }),
    );
  }

  /** Where an epoch ends on this leader (KIP-101's OffsetsForLeaderEpoch). */
  offsetsForLeaderEpoch(req: { partitions: { topic: string; partition: number; leaderEpoch: number; currentLeaderEpoch: number }[] }) {
    return {
      results: req.partitions.map((q) => {
        try {
          const p = this.replicas.lookup(q.topic, q.partition);
          p.checkLeader(q.currentLeaderEpoch);
          const r = p.log.epochs.endOffsetFor(q.leaderEpoch, p.log.logEndOffset);
          return { topic: q.topic, partition: q.partition, errorCode: ErrorCode.NONE, leaderEpoch: r.epoch, endOffset: r.endOffset };
        } catch (err) {
          return { topic: q.topic, partition: q.partition, errorCode: toErrorResult(err, this.logger).errorCode, leaderEpoch: UNDEFINED_EPOCH, endOffset: -1 };
        }
      }),
    };
  }
}
