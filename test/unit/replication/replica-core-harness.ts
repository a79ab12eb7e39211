/**
 * A minimal shell for driving the pure ReplicaCore in unit tests: in-memory logs whose "batches"
 * are buffers of one byte per record, effects applied the way replica-driver.ts applies them, and
 * every effect recorded for assertions. Reports that the real shell makes later (fsyncs, answers
 * from leaders and the controller) are left to the test.
 */
import { ErrorCode } from '../../../src/common/errors';
import { leaderEpoch as toLeaderEpoch, partitionEpoch as toPartitionEpoch, tpKey } from '../../../src/common/types';
import { ReplicaCore } from '../../../src/replication/replica-core';
import type { PartitionAssignment, ReplicaCoreOptions, ReplicaEffect, ReplicaLogView } from '../../../src/replication/replica-types';
import { LeaderEpochCache } from '../../../src/storage/leader-epoch-cache';

export class FakeLog implements ReplicaLogView {
  logStartOffset = 0;
  logEndOffset = 0;
  durableEndOffset = 0;
  highWatermark = 0;
  isOffline = false;
  offlineMessage: string | null = null;
  readonly epochs = LeaderEpochCache.inMemory();

  get latestEpoch(): number {
    return this.epochs.latestEpoch;
  }

  endOffsetFor(epoch: number) {
    return this.epochs.endOffsetFor(epoch, this.logEndOffset);
  }

  /** Writes `n` records at `epoch` (not yet fsynced). */
  write(n: number, epoch: number): void {
    this.epochs.assign(epoch, this.logEndOffset);
    this.logEndOffset += n;
  }

  fsync(): void {
    this.durableEndOffset = this.logEndOffset;
  }
}

export const TOPIC = 't';

export function assignment(partition: number, leader: number, leaderEpoch: number, isr: number[], replicas = [1, 2, 3], partitionEpoch = 0): PartitionAssignment {
  return { topic: TOPIC, partition, topicId: 'tid', leader, leaderEpoch: toLeaderEpoch(leaderEpoch), partitionEpoch: toPartitionEpoch(partitionEpoch), replicas, isr };
}

export const tp = (partition: number) => tpKey(TOPIC, partition);

type Kind = ReplicaEffect['kind'];
export type EffectOf<K extends Kind> = Extract<ReplicaEffect, { kind: K }>;

export class Harness {
  readonly core: ReplicaCore;
  readonly logs = new Map<string, FakeLog>();
  /** Every effect since the last `take`. */
  private seen: ReplicaEffect[] = [];
  now = 0;

  constructor(
    readonly nodeId: number,
    options: Partial<ReplicaCoreOptions> = {},
  ) {
    this.core = new ReplicaCore({ nodeId, replicaLagTimeMaxMs: 10_000, ...options }, this.now);
  }

  log(partition: number): FakeLog {
    let l = this.logs.get(tp(partition));
    if (l === undefined) {
      l = new FakeLog();
      this.logs.set(tp(partition), l);
    }
    return l;
  }

  assign(a: PartitionAssignment, minInsync = 1): this {
    this.core.applyAssignment(a, this.log(a.partition), minInsync, this.now);
    return this.drain();
  }

  tick(toMs: number): this {
    this.now = toMs;
    this.core.tick(toMs);
    return this.drain();
  }

  /** Applies log-changing effects as the driver does and records everything. */
  drain(): this {
    for (;;) {
      const effects = this.core.takeEffects();
      if (effects.length === 0) return this;
      for (const e of effects) {
        this.seen.push(e);
        const log = 'tp' in e ? this.logs.get(e.tp) : undefined;
        switch (e.kind) {
          case 'becameLeader':
            if (e.epochStartOffset !== null) log!.epochs.assign(e.leaderEpoch, e.epochStartOffset);
            break;
          case 'highWatermark':
            log!.highWatermark = Math.max(log!.highWatermark, Math.min(e.highWatermark, log!.logEndOffset));
            break;
          case 'append':
            log!.write(e.batches.length, 1);
            this.core.followerWriteDone(e.tp, e.requestId, false, this.now);
            break;
          case 'truncate':
            log!.logEndOffset = Math.min(log!.logEndOffset, e.offset);
            log!.durableEndOffset = Math.min(log!.durableEndOffset, log!.logEndOffset);
            log!.epochs.truncateFromEnd(log!.logEndOffset);
            this.core.followerWriteDone(e.tp, e.requestId, false, this.now);
            break;
          case 'resetToLeaderStart':
            log!.logStartOffset = log!.logEndOffset = log!.durableEndOffset = log!.highWatermark = e.offset;
            this.core.followerWriteDone(e.tp, e.requestId, false, this.now);
            break;
          default:
            break;
        }
      }
    }
  }

  /** Takes the recorded effects of `kind` (or all of them) out of the record. */
  take(): ReplicaEffect[];
  take<K extends Kind>(kind: K): EffectOf<K>[];
  take(kind?: Kind): ReplicaEffect[] {
    const all = this.seen;
    this.seen = kind === undefined ? [] : all.filter((e) => e.kind !== kind);
    return kind === undefined ? all : all.filter((e) => e.kind === kind);
  }

  /** A follower's fetch of `partition` as the leader's fetch service reports it. */
  followerFetch(partition: number, replicaId: number, fetchOffset: number, durableOffset: number, leaderEpoch: number) {
    const v = this.core.followerFetch(tp(partition), replicaId, { fetchOffset, durableOffset, currentLeaderEpoch: leaderEpoch, lastFetchedEpoch: -1 }, this.now);
    this.drain();
    return v;
  }

  /** An answer from the leader with `records` new records for each listed partition. */
  answer(
    requestId: number,
    results: {
      partition: number;
      records?: number;
      highWatermark?: number;
      errorCode?: ErrorCode;
      divergingEpoch?: { epoch: number; endOffset: number };
      logStartOffset?: number;
      logEndOffset?: number;
    }[],
  ): this {
    this.core.fetchResponse(
      requestId,
      {
        correlationId: 0,
        results: results.map((r) => ({
          topic: TOPIC,
          partition: r.partition,
          errorCode: r.errorCode ?? ErrorCode.NONE,
          highWatermark: r.highWatermark ?? 0,
          logStartOffset: r.logStartOffset ?? 0,
          logEndOffset: r.logEndOffset ?? 0,
          batches: Buffer.alloc(r.records ?? 0),
          divergingEpoch: r.divergingEpoch ?? null,
        })),
      },
      this.now,
    );
    return this.drain();
  }
}
