import { CairnError, tpKey } from '../../common';
import type { PartitionLog } from '../../storage';
import type { PartitionStatus, ReplicaCore, ReplicaLogView, Role } from '..';

export type { Role } from '..';

/** What the replication core may read of a PartitionLog. */
export function logView(log: PartitionLog): ReplicaLogView {
  return {
    get logStartOffset() {
      return log.logStartOffset;
    },
    get logEndOffset() {
      return log.logEndOffset;
    },
    get durableEndOffset() {
      return log.durableEndOffset;
    },
    get highWatermark() {
      return log.highWatermark;
    },
    get isOffline() {
      return log.isOffline;
    },
    get offlineMessage() {
      return log.offlineMessage;
    },
    get latestEpoch() {
      return log.epochs.latestEpoch;
    },
    endOffsetFor: (epoch: number) => log.epochs.endOffsetFor(epoch, log.logEndOffset),
  };
}

/**
 * One partition replica hosted by this broker: its log, and where its waiters (long-polling
 * fetches) subscribe. Its role, leader, ISR and high watermark are decided by the ReplicaCore and
 * only read here; the driver (replica-driver.ts) calls the fire* methods as the core's effects
 * are applied.
 */
export class Partition {
  readonly tp: string;
  readonly view: ReplicaLogView;
  private readonly hwListeners = new Set<() => void>();
  private readonly leadershipListeners = new Set<() => void>();
  private readonly endListeners = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly core: ReplicaCore,
    readonly localId: number,
    readonly topicId: string,
    readonly log: PartitionLog,
  ) {
    this.tp = tpKey(log.topic, log.partition);
    this.view = logView(log);
  }

  private get status(): PartitionStatus | undefined {
    return this.closed ? undefined : this.core.status(this.tp);
  }

  get topic(): string {
    return this.log.topic;
  }

  get partition(): number {
    return this.log.partition;
  }

  get role(): Role {
    return this.status?.role ?? 'follower';
  }

  get leaderId(): number {
    return this.status?.leaderId ?? -1;
  }

  get leaderEpoch(): number {
    return this.status?.leaderEpoch ?? -1;
  }

  get partitionEpoch(): number {
    return this.status?.partitionEpoch ?? -1;
  }

  get replicas(): readonly number[] {
    return this.status?.replicas ?? [];
  }

  get isr(): readonly number[] {
    return this.status?.isr ?? [];
  }

  get highWatermark(): number {
    return this.log.highWatermark;
  }

  /** Checks that this replica leads at the epoch the client expects (-1: any). */
  checkLeader(expectedEpoch = -1): void {
    const refusal = this.core.leaderRefusal(this.tp, expectedEpoch);
    if (refusal !== null) throw new CairnError(refusal.code, refusal.message);
  }

  /** Called whenever the log end moves (replica fetches long-poll on it). */
  onLogEnd(listener: () => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Called whenever the high watermark moves. */
  onHighWatermark(listener: () => void): () => void {
    this.hwListeners.add(listener);
    return () => this.hwListeners.delete(listener);
  }

  /** Called when this replica stops or starts leading. */
  onLeadershipChange(listener: () => void): () => void {
    this.leadershipListeners.add(listener);
    return () => this.leadershipListeners.delete(listener);
  }

  fireLogEnd(): void {
    if (this.endListeners.size > 0) for (const l of [...this.endListeners]) l();
  }

  fireHighWatermark(): void {
    if (this.hwListeners.size > 0) for (const l of [...this.hwListeners]) l();
  }

  fireLeadershipChange(): void {
    for (const l of [...this.leadershipListeners]) l();
  }

  /** The partition is going away (deleted, no longer assigned here, or its log replaced). */
  close(): void {
    this.closed = true;
    this.fireLeadershipChange();
    this.hwListeners.clear();
    this.fireLogEnd();
    this.endListeners.clear();
  }
}
