/**
 * The shell around the ReplicaCore (design brief §2): it feeds the core events — registrations,
 * appends and fsyncs, follower fetches, answers from leaders and the controller, timer ticks — and
 * carries its effects out to the logs, the fetch and AlterPartition transports, the produce
 * callers and the long-poll waiters. It decides nothing the simulation should see: every rule is
 * in the core. Ports only (transports, Clock, Timers, logger), so the whole-cluster simulation
 * runs this very code over a simulated network and simulated time.
 */
import { brokerEpoch as toBrokerEpoch, CairnError, type Clock, ErrorCode, errorName, type Logger, type TimerHandle, type Timers } from '../../common';
import type { ReplicaFetchRequest } from '../../protocol';
import type { TxnMarker, ValidatedBatch } from '../../record';
import type { AppendInfo, LeaderAppendOptions } from '../../storage';
import type { Partition } from './partition';
import {
  type AlterPartitionOutcome,
  type AlterPartitionResponse,
  type AlterPartitionTransport,
  type PartitionAssignment,
  ReplicaCore,
  type ReplicaCoreOptions,
  type ReplicaEffect,
  type ReplicaFetchTransport,
} from '..';

export interface ReplicaDriverOptions extends ReplicaCoreOptions {
  /** This process's incarnation: with the broker epoch, proves a fetch comes from the registered follower. */
  incarnationId: string;
  /** Builds the core; the whole-cluster simulation passes deliberately broken ones (its seeded-bug tests). */
  createCore?: (options: ReplicaCoreOptions, nowMs: number) => ReplicaCore;
  /** The broker epoch of this broker's current registration (-1 before it has one). */
  brokerEpoch: () => number;
  fetchTransport: ReplicaFetchTransport;
  alterPartitionTransport: AlterPartitionTransport;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

/** What an append as leader gives back: where it landed, and when the acks it asked for are met. */
export interface LeaderAppend {
  info: AppendInfo;
  /** Resolves when `acks` are satisfied (at once for 0 and 1); rejects with a CairnError if they cannot be. */
  acked: Promise<void>;
}

const ACKED: Promise<void> = Promise.resolve();

export class ReplicaDriver {
  readonly core: ReplicaCore;
  private readonly hosted = new Map<string, Partition>();
  private readonly produces = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private produceSeq = 0;
  private correlationId = 0;
  private draining = false;
  private timer: TimerHandle | null = null;
  private timerAtMs = Infinity;
  private stopped = false;

  constructor(private readonly o: ReplicaDriverOptions) {
    this.core = o.createCore ? o.createCore(o, o.clock.nowMs()) : new ReplicaCore(o, o.clock.nowMs());
  }

  private get now(): number {
    return this.o.clock.nowMs();
  }

  /** Whether to act on a new image (the incarnation gate; see ReplicaCore.admitImage). */
  admitImage(thisIncarnationRegistered: boolean): 'ignore' | 'all' | 'changes' {
    return this.core.admitImage(thisIncarnationRegistered);
  }

  /** Hosts `p` (or applies its new registration): the core makes it leader or follower. */
  apply(p: Partition, a: PartitionAssignment, minInsync: number): void {
    this.hosted.set(p.tp, p);
    this.core.applyAssignment(a, p.view, minInsync, this.now);
    this.drain();
  }

  /** `p` is no longer hosted here: its waiters are answered and its fetches stop. */
  remove(p: Partition): void {
    if (this.hosted.get(p.tp) !== p) return;
    this.hosted.delete(p.tp);
    this.core.removePartition(p.tp);
    this.drain();
  }

  /**
   * Appends validated batches as leader and answers by `acks`: `acked` resolves at once for 0 and
   * 1, and for -1 (all) once the high watermark has passed the last offset written. Throws a
   * CairnError, with nothing appended, when this replica may not take the write.
   */
  appendAsLeader(p: Partition, buf: Buffer, validated: readonly ValidatedBatch[], acks: number, timeoutMs: number, wallMs: number, opts?: LeaderAppendOptions): LeaderAppend {
    return this.append(p, acks, timeoutMs, () => p.log.appendAsLeader(buf, validated, p.leaderEpoch, wallMs, opts));
  }

  /** Writes a transaction marker as leader, acks=all (see PartitionLog.appendMarkerAsLeader). */
  appendMarkerAsLeader(p: Partition, marker: TxnMarker, timeoutMs: number, wallMs: number): LeaderAppend {
    return this.append(p, -1, timeoutMs, () => p.log.appendMarkerAsLeader(marker, p.leaderEpoch, wallMs));
  }

  private append(p: Partition, acks: number, timeoutMs: number, write: () => AppendInfo): LeaderAppend {
    const minInsync = p.log.config.minInsyncReplicas;
    const refusal = this.core.appendRefusal(p.tp, acks, minInsync);
    if (refusal !== null) throw new CairnError(refusal.code, refusal.message);
    const info = write();
    const endOffset = info.lastOffset + 1;
    // A resent idempotent batch already in the log (`duplicate`) wrote nothing: it is answered with
    // its original offsets once those are acknowledged as an append of them would be.
    if (info.duplicate !== true) {
      this.reportLocalFsync(p, endOffset);
      p.fireLogEnd();
    }
    if (acks !== -1) return { info, acked: ACKED };
    const id = ++this.produceSeq;
    const acked = new Promise<void>((resolve, reject) => this.produces.set(id, { resolve, reject }));
    this.core.awaitHighWatermark(p.tp, id, endOffset, minInsync, this.now + timeoutMs);
    this.drain();
    return { info, acked };
  }

  /** Tells the core once the local log has fsynced everything below `offset`: a leader's high watermark counts its own fsyncs. */
  private reportLocalFsync(p: Partition, offset: number): void {
    let fsynced: Promise<void>;
    try {
      fsynced = p.log.waitDurable(offset);
    } catch {
      return; // an offline or closed log: it leads nothing
    }
    fsynced.then(
      () => this.localDurable(p),
      () => undefined, // the log reports its own failures; waiters see them via leadership/offline checks
    );
  }

  private localDurable(p: Partition): void {
    if (this.hosted.get(p.tp) !== p) return;
    this.core.localDurable(p.tp);
    this.drain();
  }

  /**
   * The leader's bookkeeping for one partition of a follower's fetch (see ReplicaCore.followerFetch).
   * Called by the leader's fetch service for each partition, before it reads the data to send.
   */
  followerFetch(p: Partition, replicaId: number, fp: Parameters<ReplicaCore['followerFetch']>[2]): ReturnType<ReplicaCore['followerFetch']> {
    const verdict = this.core.followerFetch(p.tp, replicaId, fp, this.now);
    this.drain();
    return verdict;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.o.fetchTransport.close();
  }

  // ---- effects ----

  /** Applies the core's effects until it has none; reports made while applying queue more. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        const effects = this.core.takeEffects();
        if (effects.length === 0) break;
        for (const e of effects) this.applyEffect(e);
      }
    } finally {
      this.draining = false;
    }
    this.arm();
  }

  /** One timer, for the core's next deadline; armed again only when that comes sooner. */
  private arm(): void {
    const at = this.core.nextDeadlineMs;
    if (this.stopped || at === Infinity || (this.timer !== null && this.timerAtMs <= at)) return;
    this.timer?.cancel();
    this.timerAtMs = at;
    this.timer = this.o.timers.after(Math.max(0, at - this.now), () => {
      this.timer = null;
      this.timerAtMs = Infinity;
      if (this.stopped) return;
      this.core.tick(this.now);
      this.drain();
    });
  }

  private applyEffect(e: ReplicaEffect): void {
    switch (e.kind) {
      case 'becameLeader': {
        const p = this.hosted.get(e.tp);
        if (p === undefined) return;
        if (e.epochStartOffset !== null) p.log.epochs.assign(e.leaderEpoch, e.epochStartOffset);
        this.o.logger.info({ topic: p.topic, partition: p.partition, leaderEpoch: e.leaderEpoch, isr: e.isr, logEndOffset: p.log.logEndOffset }, 'became leader');
        p.fireLeadershipChange();
        return;
      }
      case 'becameFollower': {
        const p = this.hosted.get(e.tp);
        if (p === undefined) return;
        this.o.logger.info({ topic: p.topic, partition: p.partition, leaderEpoch: e.leaderEpoch, leader: e.leaderId }, 'became follower');
        // Parked replica fetches answer at once: this replica no longer leads.
        if (e.wasLeader) p.fireLogEnd();
        p.fireLeadershipChange();
        return;
      }
      case 'highWatermark': {
        const p = this.hosted.get(e.tp);
        if (p === undefined) return;
        p.log.updateHighWatermark(e.highWatermark);
        p.fireHighWatermark();
        return;
      }
      case 'completeProduce': {
        const waiter = this.produces.get(e.id);
        if (waiter === undefined) return;
        this.produces.delete(e.id);
        if (e.errorCode === ErrorCode.NONE) waiter.resolve();
        else waiter.reject(new CairnError(e.errorCode, e.message));
        return;
      }
      case 'sendFetch':
        return this.sendFetch(e);
      case 'truncate':
      case 'resetToLeaderStart':
      case 'append':
        return this.followerWrite(e);
      case 'awaitLocalDurable': {
        const p = this.hosted.get(e.tp);
        if (p !== undefined) this.reportLocalFsync(p, e.offset);
        return;
      }
      case 'awaitDurable': {
        const p = this.hosted.get(e.tp);
        const done = () => {
          this.core.followerDurable(e.tp, e.requestId, this.now);
          this.drain();
        };
        let fsynced: Promise<void>;
        try {
          fsynced = p === undefined ? ACKED : p.log.waitDurable(e.offset);
        } catch {
          fsynced = ACKED; // an offline log: the next fetch is skipped for it anyway
        }
        fsynced.then(done, done);
        return;
      }
      case 'sendAlterPartition':
        return this.sendAlterPartition(e);
    }
  }

  private sendFetch(e: Extract<ReplicaEffect, { kind: 'sendFetch' }>): void {
    if (this.stopped) return;
    const request: ReplicaFetchRequest = {
      correlationId: ++this.correlationId,
      replicaId: this.o.nodeId,
      brokerEpoch: this.o.brokerEpoch(),
      incarnationId: this.o.incarnationId,
      maxWaitMs: e.maxWaitMs,
      minBytes: 1,
      maxBytes: e.maxBytes,
      partitions: e.partitions,
    };
    this.o.fetchTransport.send(e.leaderId, request).then(
      (res) => {
        if (this.stopped) return;
        for (const r of res.results) {
          if (r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.OFFSET_OUT_OF_RANGE) {
            this.o.logger.debug({ topic: r.topic, partition: r.partition, leader: e.leaderId, err: errorName(r.errorCode) }, 'replica fetch refused');
          }
        }
        this.core.fetchResponse(e.requestId, res, this.now);
        this.drain();
      },
      (err: Error) => {
        if (this.stopped) return;
        this.o.logger.debug({ leader: e.leaderId, err: err.message }, 'replica fetch failed');
        this.core.fetchResponse(e.requestId, null, this.now);
        this.drain();
      },
    );
  }

  private followerWrite(e: Extract<ReplicaEffect, { kind: 'truncate' | 'resetToLeaderStart' | 'append' }>): void {
    const p = this.hosted.get(e.tp);
    let failed = p === undefined;
    if (p !== undefined) {
      const log = p.log;
      try {
        if (e.kind === 'append') {
          if (log.appendAsFollower(e.batches, this.o.clock.wallMs()) !== null) p.fireLogEnd();
        } else if (e.kind === 'truncate') {
          const fields = { topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch, logEndOffset: log.logEndOffset, truncateTo: e.offset };
          if (e.reason === 'diverged') this.o.logger.info(fields, 'follower log diverged from the leader; truncating');
          else this.o.logger.warn(fields, 'follower past the leader log end; truncating to it');
          log.truncateTo(e.offset);
        } else {
          const fields = { topic: p.topic, partition: p.partition, logEndOffset: log.logEndOffset, leaderStart: e.offset, reason: e.reason };
          this.o.logger.warn(fields, 'follower behind the leader log start; starting over there');
          log.truncateFullyAndStartAt(e.offset);
        }
      } catch (err) {
        this.o.logger.error({ topic: p.topic, partition: p.partition, err: (err as Error).message }, 'replica fetch result failed');
        failed = true;
      }
    }
    this.core.followerWriteDone(e.tp, e.requestId, failed, this.now);
  }

  private sendAlterPartition(e: Extract<ReplicaEffect, { kind: 'sendAlterPartition' }>): void {
    if (this.stopped) return;
    const p = this.hosted.get(e.tp);
    const where = { topic: p?.topic, partition: p?.partition, leaderEpoch: e.item.leaderEpoch, isr: e.isr, newIsr: e.item.newIsr };
    if (!e.retry) this.o.logger.info(where, e.change === 'shrink' ? 'isr shrink requested' : 'isr expansion requested');
    this.o.alterPartitionTransport.send({ brokerId: this.o.nodeId, brokerEpoch: toBrokerEpoch(this.o.brokerEpoch()), partitions: [e.item] }).then(
      (res) => {
        if (this.stopped) return;
        const outcome = alterOutcome(res);
        if (outcome.errorCode !== ErrorCode.NONE) {
          const r = res.results?.[0];
          this.o.logger.warn({ ...where, err: `${errorName(outcome.errorCode)}: ${res.errorMessage ?? r?.errorMessage ?? ''}` }, 'isr change refused');
        }
        this.core.alterPartitionResponse(e.tp, e.requestId, outcome, this.now);
        this.drain();
      },
      (err: Error) => {
        if (this.stopped) return;
        // Outcome unknown: the change may have committed. Never assume it did not; ask again.
        this.o.logger.debug({ ...where, err: err.message }, 'isr change outcome unknown; retrying');
        this.core.alterPartitionResponse(e.tp, e.requestId, null, this.now);
        this.drain();
      },
    );
  }
}

function alterOutcome(res: AlterPartitionResponse): AlterPartitionOutcome {
  const r = res.results?.[0];
  const errorCode = res.errorCode !== ErrorCode.NONE ? res.errorCode : (r?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
  return { errorCode, partitionEpoch: r?.partitionEpoch ?? null };
}
