import { CairnError, ErrorCode } from '../common/errors';
import type { Logger } from '../common/logger';
import type { PartitionRegistration } from '../metadata/image';
import type { ValidatedBatch } from '../record/validate';
import type { AppendInfo, PartitionLog } from '../storage/partition-log';
import { LeaderState } from './leader-state';

export type Role = 'leader' | 'follower';

/**
 * One partition replica hosted by this broker: its log plus its role in the replication protocol.
 * The leader's bookkeeping lives in the pure LeaderState; this shell feeds it durability and fetch
 * events and tells waiters (acks=all produces, long-polling fetches) when the high watermark moves.
 */
export class Partition {
  role: Role;
  leaderId: number;
  leaderEpoch: number;
  partitionEpoch: number;
  replicas: readonly number[];
  isr: readonly number[];
  leader: LeaderState | null = null;
  private readonly hwListeners = new Set<() => void>();
  private readonly leadershipListeners = new Set<() => void>();
  private readonly endListeners = new Set<() => void>();
  /** An ISR change sent to the controller and not yet settled (one at a time per partition). */
  isrChangeInFlight = false;
  /** Identifies the latest ISR change request, so that a late answer to an older one is ignored. */
  isrRequestId = 0;

  constructor(
    readonly localId: number,
    readonly topicId: string,
    readonly log: PartitionLog,
    reg: PartitionRegistration,
    private readonly logger: Logger,
    nowMs: number,
  ) {
    this.role = 'follower';
    this.leaderId = reg.leader;
    this.leaderEpoch = reg.leaderEpoch;
    this.partitionEpoch = reg.partitionEpoch;
    this.replicas = reg.replicas;
    this.isr = reg.isr;
    this.update(reg, nowMs);
  }

  get topic(): string {
    return this.log.topic;
  }

  get partition(): number {
    return this.log.partition;
  }

  get highWatermark(): number {
    return this.log.highWatermark;
  }

  /** Applies the partition's registration from a new metadata image. Returns true if leadership changed. */
  update(reg: PartitionRegistration, nowMs: number): boolean {
    const wasLeader = this.role === 'leader';
    const epochChanged = reg.leaderEpoch !== this.leaderEpoch || this.leader === null;
    const previousPartitionEpoch = this.partitionEpoch;
    this.replicas = reg.replicas;
    this.isr = reg.isr;
    this.partitionEpoch = reg.partitionEpoch;
    if (reg.leader === this.localId) {
      if (!wasLeader || epochChanged) {
        this.role = 'leader';
        this.leaderId = reg.leader;
        this.leaderEpoch = reg.leaderEpoch;
        this.isrChangeInFlight = false;
        // Record where this epoch starts now, not at the first append: followers with records from a
        // deposed leader learn where to truncate even before anything new is written (KIP-101).
        if (!this.log.isOffline) this.log.epochs.assign(reg.leaderEpoch, this.log.logEndOffset);
        this.leader = new LeaderState(this.localId, reg.replicas, reg.isr, reg.leaderEpoch, this.log.highWatermark, this.log.durableEndOffset, nowMs, this.log.logEndOffset, this.log.config.minInsyncReplicas);
        this.logger.info({ topic: this.topic, partition: this.partition, leaderEpoch: reg.leaderEpoch, isr: reg.isr, logEndOffset: this.log.logEndOffset }, 'became leader');
        this.fireLeadershipChange();
        this.onLocalDurable();
        return true;
      }
      const epochMoved = reg.partitionEpoch !== previousPartitionEpoch;
      this.leader!.minInsync = this.log.config.minInsyncReplicas;
      if (epochMoved) this.isrChangeInFlight = false;
      this.onHwMaybeChanged(this.leader!.setIsr(reg.isr, reg.replicas, epochMoved));
      return false;
    }
    const changed = wasLeader || reg.leaderEpoch !== this.leaderEpoch || reg.leader !== this.leaderId;
    if (wasLeader) for (const l of [...this.endListeners]) l();
    this.role = 'follower';
    this.leader = null;
    this.leaderId = reg.leader;
    this.leaderEpoch = reg.leaderEpoch;
    if (changed) {
      this.logger.info({ topic: this.topic, partition: this.partition, leaderEpoch: reg.leaderEpoch, leader: reg.leader }, 'became follower');
      this.fireLeadershipChange();
    }
    return changed;
  }

  /** Checks that this replica leads at the epoch the client expects (-1: any). */
  checkLeader(expectedEpoch = -1): void {
    // A damaged local replica says so, whatever the metadata says about leadership since.
    if (this.log.isOffline) throw new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, `${this.topic}-${this.partition} is offline on broker ${this.localId}: ${this.log.offlineMessage}`);
    if (this.role !== 'leader' && this.leaderId < 0) throw new CairnError(ErrorCode.LEADER_NOT_AVAILABLE, `${this.topic}-${this.partition} has no leader (no in-sync replica can lead)`);
    if (this.role !== 'leader') throw new CairnError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${this.localId} is not the leader of ${this.topic}-${this.partition} (leader: ${this.leaderId})`);
    if (expectedEpoch >= 0 && expectedEpoch < this.leaderEpoch) throw new CairnError(ErrorCode.FENCED_LEADER_EPOCH, `leader epoch ${expectedEpoch} is older than ${this.leaderEpoch}`);
    if (expectedEpoch > this.leaderEpoch) throw new CairnError(ErrorCode.UNKNOWN_LEADER_EPOCH, `leader epoch ${expectedEpoch} is newer than ${this.leaderEpoch}`);
  }

  /** Appends as leader and arranges for the high watermark to follow durability. */
  appendAsLeader(buf: Buffer, validated: readonly ValidatedBatch[], requiredAcks: number, minInsync: number, nowMs: number): AppendInfo {
    this.checkLeader();
    if (requiredAcks === -1 && this.isr.length < minInsync) {
      throw new CairnError(ErrorCode.NOT_ENOUGH_REPLICAS, `${this.topic}-${this.partition} has ${this.isr.length} in-sync replica(s) [${this.isr.join(',')}], min.insync.replicas is ${minInsync}`);
    }
    const info = this.log.appendAsLeader(buf, validated, this.leaderEpoch, nowMs);
    this.log.waitDurable(info.lastOffset + 1).then(
      () => this.onLocalDurable(),
      () => undefined, // the log reports its own failures; waiters see them via leadership/offline checks
    );
    for (const l of [...this.endListeners]) l();
    return info;
  }

  /**
   * A follower fetched at `fetchOffset` with everything below `durableOffset` fsynced: the high
   * watermark may advance. Returns true when the follower should rejoin the ISR.
   */
  onFollowerFetch(replicaId: number, fetchOffset: number, durableOffset: number, nowMs: number): boolean {
    if (this.leader === null) return false;
    const { hwChanged, shouldExpand } = this.leader.updateFollower(replicaId, fetchOffset, durableOffset, this.log.logEndOffset, nowMs);
    this.onHwMaybeChanged(hwChanged);
    return shouldExpand && !this.isrChangeInFlight;
  }

  /** Appends batches fetched from the leader and arranges for their fsync. */
  appendAsFollower(buf: Buffer, nowMs: number): void {
    const info = this.log.appendAsFollower(buf, nowMs);
    if (info === null) return;
    for (const l of [...this.endListeners]) l();
  }

  /** Called whenever the log end moves (replica fetches long-poll on it). */
  onLogEnd(listener: () => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** The local log made more data durable: the high watermark may advance. */
  onLocalDurable(): void {
    if (this.leader === null) return;
    this.onHwMaybeChanged(this.leader.updateLocal(this.log.durableEndOffset));
  }

  onHwMaybeChanged(changed: boolean): void {
    if (!changed || this.leader === null) return;
    this.log.updateHighWatermark(this.leader.highWatermark);
    for (const l of [...this.hwListeners]) l();
  }

  /** Called whenever the high watermark moves (or the log end, for waiters that read to it). */
  onHighWatermark(listener: () => void): () => void {
    this.hwListeners.add(listener);
    return () => this.hwListeners.delete(listener);
  }

  /** Called when this replica stops or starts leading: pending acks=all writes must learn of it. */
  onLeadershipChange(listener: () => void): () => void {
    this.leadershipListeners.add(listener);
    return () => this.leadershipListeners.delete(listener);
  }

  private fireLeadershipChange(): void {
    for (const l of [...this.leadershipListeners]) l();
  }

  /** The partition is going away (deleted or no longer assigned here). */
  close(): void {
    this.role = 'follower';
    this.leader = null;
    this.fireLeadershipChange();
    this.hwListeners.clear();
    for (const l of [...this.endListeners]) l();
    this.endListeners.clear();
  }
}
