import { ErrorCode, errorName } from '../common/errors';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import type { Partition } from '../replication/partition';
import type { ReplicaManager } from '../replication/replica-manager';
import type { ControllerClient } from './controller-client';

interface AlterResult {
  topicId: string;
  partition: number;
  errorCode: number;
  errorMessage?: string;
}

/**
 * The leader's half of ISR changes (KIP-497): it proposes shrinks (followers that have not caught
 * up within replica.lag.time.max.ms) and expansions (followers that caught up), one change in
 * flight per partition, to the active controller. Until the change is committed and shows up in
 * the metadata, the high watermark waits for the larger of the two ISRs (LeaderState.maximalIsr).
 */
export class AlterPartitionManager {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: {
      nodeId: number;
      brokerEpoch: () => number;
      replicas: ReplicaManager;
      controllers: ControllerClient;
      replicaLagTimeMaxMs: number;
      clock: Clock;
      logger: Logger;
    },
  ) {}

  start(): void {
    // Kafka checks for lagging followers at half the lag time.
    this.timer = setInterval(() => this.shrinkLagging(), Math.max(100, Math.floor(this.o.replicaLagTimeMaxMs / 2)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private shrinkLagging(): void {
    const now = this.o.clock.nowMs();
    for (const p of this.o.replicas.all()) {
      if (p.leader === null || p.isrChangeInFlight) continue;
      const lagging = p.leader.laggingReplicas(now, this.o.replicaLagTimeMaxMs);
      if (lagging.length === 0) continue;
      for (const id of lagging) p.leader.pendingRemovals.add(id);
      this.o.logger.info({ topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch, isr: p.isr, lagging }, 'isr shrink requested');
      this.send(p, p.isr.filter((r) => !lagging.includes(r)));
    }
  }

  /** A follower caught up: ask for it to rejoin the ISR. */
  expand(p: Partition, replicaId: number): void {
    if (p.leader === null || p.isrChangeInFlight || p.isr.includes(replicaId)) return;
    p.leader.pendingAdditions.add(replicaId);
    this.o.logger.info({ topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch, isr: p.isr, replica: replicaId }, 'isr expansion requested');
    this.send(p, [...p.isr, replicaId]);
  }

  private send(p: Partition, newIsr: number[]): void {
    p.isrChangeInFlight = true;
    const epochAtRequest = p.partitionEpoch;
    const req = {
      brokerId: this.o.nodeId,
      brokerEpoch: this.o.brokerEpoch(),
      partitions: [{ topicId: p.topicId, partition: p.partition, leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch, newIsr }],
    };
    this.o.controllers.call<{ errorCode: number; errorMessage?: string; results: AlterResult[] }>('Controller', 'AlterPartition', req).then(
      (res) => {
        const r = res.results?.[0];
        const code = res.errorCode !== ErrorCode.NONE ? res.errorCode : (r?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
        if (code === ErrorCode.NONE) {
          // Committed: the metadata image brings the new ISR (and partition epoch) to Partition.update.
          this.release(p, epochAtRequest, false);
        } else {
          this.o.logger.warn({ topic: p.topic, partition: p.partition, err: `${errorName(code)}: ${res.errorMessage ?? r?.errorMessage ?? ''}` }, 'isr change refused');
          this.release(p, epochAtRequest, true);
        }
      },
      (err: Error) => {
        this.o.logger.warn({ topic: p.topic, partition: p.partition, err: err.message }, 'isr change failed');
        this.release(p, epochAtRequest, true);
      },
    );
  }

  /**
   * An accepted change stays in flight until the metadata image brings it (Partition.update clears
   * it when the partition epoch moves); a refused one is dropped now and the leader's pending view
   * goes back to the committed ISR.
   */
  private release(p: Partition, epochAtRequest: number, refused: boolean): void {
    if (!refused && p.partitionEpoch === epochAtRequest) return;
    p.isrChangeInFlight = false;
    if (refused && p.leader) p.leader.setIsr(p.isr, p.replicas);
  }
}
