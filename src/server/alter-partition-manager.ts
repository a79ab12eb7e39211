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
  partitionEpoch: number;
}

const RETRY_BACKOFF_MS = 200;

/**
 * The leader's half of ISR changes (KIP-497): it proposes shrinks (followers that have not caught
 * up within replica.lag.time.max.ms) and expansions (followers that caught up), one change in
 * flight per partition, to the active controller. Until the outcome is known from the metadata —
 * the partition epoch moving — the high watermark waits for the larger of the two ISRs
 * (LeaderState.maximalIsr). A lost answer is retried, never taken as a refusal: the controller
 * may have committed the change, and a leader that stopped counting a follower the controller
 * had put in the ISR could acknowledge writes that follower lacks — which it could then lead
 * without (found by the replication simulation).
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
    const requestId = ++p.isrRequestId;
    const epochAtRequest = p.partitionEpoch;
    const req = {
      brokerId: this.o.nodeId,
      brokerEpoch: this.o.brokerEpoch(),
      partitions: [{ topicId: p.topicId, partition: p.partition, leaderEpoch: p.leaderEpoch, partitionEpoch: epochAtRequest, newIsr }],
    };
    // Still the change this partition is waiting for (no newer request, no newer metadata, still leading)?
    const current = () => p.isrRequestId === requestId && p.partitionEpoch === epochAtRequest && p.leader !== null && p.isrChangeInFlight;
    const attempt = () => {
      if (!current()) return;
      this.o.controllers.call<{ errorCode: number; errorMessage?: string; results: AlterResult[] }>('Controller', 'AlterPartition', req).then(
        (res) => {
          if (!current()) return;
          const r = res.results?.[0];
          const code = res.errorCode !== ErrorCode.NONE ? res.errorCode : (r?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
          if (code === ErrorCode.NONE) return; // committed: the metadata image brings it (Partition.update settles)
          this.o.logger.warn({ topic: p.topic, partition: p.partition, err: `${errorName(code)}: ${res.errorMessage ?? r?.errorMessage ?? ''}` }, 'isr change refused');
          // Refused with nothing changed at the controller: settle now. Otherwise the partition has
          // moved on there, and only the metadata (a newer partition epoch) says to what.
          if (r !== undefined && r.partitionEpoch === epochAtRequest) this.settleRefused(p);
        },
        (err: Error) => {
          // Outcome unknown: the change may have committed. Never assume it did not; ask again.
          this.o.logger.debug({ topic: p.topic, partition: p.partition, err: err.message }, 'isr change outcome unknown; retrying');
          const t = setTimeout(attempt, RETRY_BACKOFF_MS);
          t.unref();
        },
      );
    };
    attempt();
  }

  private settleRefused(p: Partition): void {
    p.isrChangeInFlight = false;
    if (p.leader) p.leader.setIsr(p.isr, p.replicas, true);
  }
}
