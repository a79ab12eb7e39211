import { ErrorCode, type Logger, UNDEFINED_EPOCH } from '../common';
import { type ReplicaManager, toErrorResult } from '../replication/io';
import type { ReplicaFetchRequest, ReplicaFetchResponse } from '../protocol';

/**
 * gRPC glue for the `Replica` service: a follower's fetch is served by
 * ReplicaManager.handleReplicaFetch (the leader's side of replication, callable in process);
 * OffsetsForLeaderEpoch is answered here from the leader's epoch cache.
 */
export class ReplicaFetchHandler {
  constructor(
    private readonly replicas: ReplicaManager,
    private readonly logger: Logger,
  ) {}

  handle(req: ReplicaFetchRequest, cancelled: () => boolean = () => false): Promise<ReplicaFetchResponse> {
    return this.replicas.handleReplicaFetch(req, cancelled);
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
