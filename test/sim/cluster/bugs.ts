/**
 * Deliberately broken variants of the shipped code, one per bug this kind of system has shipped
 * (../shared/reliability.md) or this project has fixed: each must make the whole-cluster
 * simulation fail within its test's seed budget (test/sim/cluster-sim.test.ts). They break the
 * real parts from outside — a subclass of the replication core, a disk that lies, a setting —
 * so the code under test is the code we ship.
 */
import { PartitionSendState } from '../../../src/client/idempotence';
import { ErrorCode } from '../../../src/common/errors';
import { UNDEFINED_EPOCH } from '../../../src/common/types';
import { LeaderState } from '../../../src/replication/leader-state';
import { ReplicaCore } from '../../../src/replication/replica-core';
import type { AlterPartitionOutcome, PartitionAssignment, ReplicaEffect, ReplicaLogView } from '../../../src/replication/replica-types';
import { delegateTo, type FileSystem } from '../../../src/storage/file-system';
import type { PartitionLog } from '../../../src/storage/partition-log';
import { ProducerStateTable } from '../../../src/storage/producer-state';
import { GroupCoordinatorShell } from '../../../src/coordinator/io/group-coordinator-shell';
import { TransactionCoordinatorShell, type TransactionCoordinatorShellOptions } from '../../../src/coordinator/io/transaction-coordinator-shell';
import { MAX_IN_FLIGHT, type SimBatch } from './idempotent-producer';
import type { ClusterSimOptions } from './simulation';

export const CLUSTER_BUG_NAMES = [
  'followerReportsFetchedAsDurable',
  'leaderCountsFetchedAsDurable',
  'hwIgnoresMinIsr',
  'truncateToHighWatermark',
  'uncleanLeaderOutsideIsr',
  'brokerSkipsFsync',
  'restartedBrokerLeadsOldEpoch',
  'lostAlterPartitionAnswerIsRefusal',
  'lateIsrAnswerApplies',
  'oldEpochLookupUndefined',
  'followerPastLeaderEndWipes',
  'skipsDirectoryFsync',
  'leaderWritesDuplicates',
  'followerSkipsProducerState',
  'truncationKeepsProducerState',
  'producerIgnoresLeaderWindow',
  'producerRenumbersSentBatches',
  'producerBumpsOnExpiry',
  'groupCoordinatorAnswersBeforeCommitted',
  'groupMemberIgnoresDeadlines',
  'leaderSkipsTxnVerification',
  'txnCoordinatorAnswersFromUncommittedState',
  'txnMarkerRefusalCountsAsWritten',
  'newLeaderWaitsForWriteToCountFsync',
] as const;
export type ClusterBugName = (typeof CLUSTER_BUG_NAMES)[number];

/**
 * HW counted from fetched instead of fsynced offsets (the classic; Kafka followers never fsync):
 * the follower reports its log end as durable and fetches again without waiting for its fsync.
 */
class FetchesBeforeFsync extends ReplicaCore {
  /** What the follower tells the leader it has fsynced: the truth, or (the bug) its log end. */
  protected readonly reportsLogEndAsDurable: boolean = false;
  private lastNowMs = 0;
  override takeEffects(): ReplicaEffect[] {
    const out: ReplicaEffect[] = [];
    const fsyncs: { tp: string; requestId: number }[] = [];
    for (const e of super.takeEffects()) {
      if (e.kind === 'sendFetch' && this.reportsLogEndAsDurable) out.push({ ...e, partitions: e.partitions.map((p) => ({ ...p, durableOffset: p.fetchOffset })) });
      else {
        // The fsync still happens (the shell starts it), but the next fetch does not wait for it.
        if (e.kind === 'awaitDurable') fsyncs.push(e);
        out.push(e);
      }
    }
    for (const f of fsyncs) this.followerDurable(f.tp, f.requestId, this.lastNowMs);
    return [...out, ...super.takeEffects()];
  }
  override tick(nowMs: number): void {
    this.lastNowMs = nowMs;
    super.tick(nowMs);
  }
  override fetchResponse(requestId: number, res: Parameters<ReplicaCore['fetchResponse']>[1], nowMs: number): void {
    this.lastNowMs = nowMs;
    super.fetchResponse(requestId, res, nowMs);
  }
  override followerWriteDone(tp: string, requestId: number, failed: boolean, nowMs: number): void {
    this.lastNowMs = nowMs;
    super.followerWriteDone(tp, requestId, failed, nowMs);
  }
}

/** HW counted from fetched instead of fsynced offsets, the follower's half: it fetches before its fsync and reports its log end as fsynced. */
class ReportsFetchedAsDurable extends FetchesBeforeFsync {
  protected override readonly reportsLogEndAsDurable = true;
}

/** The leader's half of the same classic: it counts what a follower fetched as fsynced (acks=all acting as acks=1 on followers). */
class CountsFetchedAsDurable extends LeaderState {
  override updateFollower(id: number, fetchOffset: number, _durableOffset: number, leaderEnd: number, nowMs: number): { hwChanged: boolean; shouldExpand: boolean } {
    return super.updateFollower(id, fetchOffset, fetchOffset, leaderEnd, nowMs);
  }
}

/** The bug the replication simulation caught when eligible leader replicas came (52a1015): the HW moves while the ISR is below min.insync.replicas. */
class IgnoresMinIsr extends LeaderState {
  protected override recomputeHw(): boolean {
    const min = this.minInsync;
    this.minInsync = 0;
    try {
      return super.recomputeHw();
    } finally {
      this.minInsync = min;
    }
  }
}

/** A replication core whose leaderships keep their books with `Books` (followers that fetch before their fsync, with `pipelined`). */
function coreWithLeaderState(Books: typeof LeaderState, pipelined: boolean) {
  const Base = pipelined ? FetchesBeforeFsync : ReplicaCore;
  return class extends Base {
    protected override createLeaderState(a: PartitionAssignment, v: ReplicaLogView, nowMs: number, minInsync: number): LeaderState {
      return new Books(a.leader, a.replicas, a.isr, a.leaderEpoch, v.highWatermark, v.durableEndOffset, nowMs, v.logEndOffset, minInsync);
    }
  };
}

/** Pre-KIP-101 Kafka: a replica that starts following truncates its log to its high watermark first. */
class TruncatesToHighWatermark extends ReplicaCore {
  private readonly extra: ReplicaEffect[] = [];
  override applyAssignment(a: PartitionAssignment, view: ReplicaLogView, minInsync: number, nowMs: number): void {
    const before = this.status(`${a.topic}-${a.partition}`);
    super.applyAssignment(a, view, minInsync, nowMs);
    const after = this.status(`${a.topic}-${a.partition}`);
    const startsFollowing = after?.role === 'follower' && (before === undefined || before.role === 'leader' || before.leaderEpoch !== after.leaderEpoch);
    if (startsFollowing && view.highWatermark < view.logEndOffset) this.extra.push({ kind: 'truncate', tp: `${a.topic}-${a.partition}`, requestId: 0, offset: view.highWatermark, reason: 'diverged' });
  }
  override takeEffects(): ReplicaEffect[] {
    return [...super.takeEffects(), ...this.extra.splice(0)];
  }
}

/**
 * The fix found by the decommission test undone: a follower elected while its fetched tail was
 * still being fsynced hears of that fsync only through its next append as leader, so its high
 * watermark stays below its log end until a new write comes; an idempotent resend of a batch
 * already in that tail writes nothing and waits for it in vain.
 */
class WaitsForWriteToCountFsync extends ReplicaCore {
  override takeEffects(): ReplicaEffect[] {
    return super.takeEffects().filter((e) => e.kind !== 'awaitLocalDurable');
  }
}

/** The fix of 0125da1 undone: act on metadata before this incarnation's registration is in it. */
class LeadsBeforeRegistered extends ReplicaCore {
  override admitImage(): 'ignore' | 'all' | 'changes' {
    return super.admitImage(true);
  }
}

/** The fix of 0125da1 undone: an AlterPartition with no answer is taken as refused. */
class UnknownOutcomeIsRefusal extends ReplicaCore {
  override alterPartitionResponse(tp: string, requestId: number, outcome: AlterPartitionOutcome | null, nowMs: number): void {
    super.alterPartitionResponse(tp, requestId, outcome ?? { errorCode: ErrorCode.REQUEST_TIMED_OUT, partitionEpoch: this.status(tp)?.partitionEpoch ?? null }, nowMs);
  }
}

/** The fix of 0125da1 undone: an answer to an older AlterPartition request settles the one in flight. */
class LateIsrAnswerApplies extends ReplicaCore {
  override alterPartitionResponse(tp: string, requestId: number, outcome: AlterPartitionOutcome | null, nowMs: number): void {
    // The core's state behind its read-only status: the request in flight, whatever `requestId` answered.
    const inFlight = (this.status(tp) as unknown as { isrChange: { requestId: number } | null } | undefined)?.isrChange?.requestId;
    super.alterPartitionResponse(tp, inFlight ?? requestId, outcome, nowMs);
  }
}

/**
 * The fix of 0125da1 undone: a log asked where an epoch it keeps no records of ends (one older
 * than every epoch it keeps) answers "unknown" instead of "where the next kept one starts", so a
 * follower whose last epoch is that old is told to start over from the leader's log start.
 */
class OldEpochLookupUndefined extends ReplicaCore {
  private readonly views = new WeakMap<ReplicaLogView, ReplicaLogView>();
  override applyAssignment(a: PartitionAssignment, view: ReplicaLogView, minInsync: number, nowMs: number): void {
    let wrapped = this.views.get(view);
    if (wrapped === undefined) {
      const w: ReplicaLogView = Object.create(view) as ReplicaLogView;
      Object.defineProperty(w, 'endOffsetFor', {
        value: (epoch: number) => {
          const answer = view.endOffsetFor(epoch);
          // An epoch this log keeps no records of (older than every kept one, or empty) ends where
          // the epoch before it does; before the fix the answer for it was "unknown".
          const before = view.endOffsetFor(epoch - 1);
          const noRecords = answer.epoch === epoch && before.epoch === epoch - 1 && before.endOffset === answer.endOffset;
          return noRecords ? { epoch: UNDEFINED_EPOCH, endOffset: -1 } : answer;
        },
      });
      wrapped = w;
      this.views.set(view, wrapped);
    }
    super.applyAssignment(a, wrapped, minInsync, nowMs);
  }
}

/** The fix of f78da98 undone: a follower whose log runs past the leader's end (no epochs to compare) wipes it and starts over at the leader's log start instead of truncating to the leader's end. */
class PastLeaderEndWipes extends ReplicaCore {
  private readonly leaderStart = new Map<string, number>();
  override fetchResponse(requestId: number, res: Parameters<ReplicaCore['fetchResponse']>[1], nowMs: number): void {
    for (const r of res?.results ?? []) this.leaderStart.set(`${r.topic}-${r.partition}`, r.logStartOffset);
    super.fetchResponse(requestId, res, nowMs);
  }
  override takeEffects(): ReplicaEffect[] {
    return super
      .takeEffects()
      .map((e) =>
        e.kind === 'truncate' && e.reason === 'past-leader-end'
          ? { kind: 'resetToLeaderStart', tp: e.tp, requestId: e.requestId, offset: this.leaderStart.get(e.tp) ?? 0, reason: 'behind-leader-start' }
          : e,
      );
  }
}

/** A disk (or a broker) that acknowledges fsyncs it never did. */
function skipsFsync(_node: number, disk: FileSystem): FileSystem {
  const acknowledge = (callback: (err: null) => void) => void Promise.resolve().then(() => callback(null));
  return { ...delegateTo(disk), fsync: (_fd, callback) => acknowledge(callback), fsyncSync: () => undefined, fsyncDir: () => undefined, fsyncDirAsync: (_dir, callback) => acknowledge(callback) };
}

/** Files are fsynced but directories never are: a new segment or partition directory, or a rename, is lost to a power cut (the storage bugs of issue 16). */
function skipsDirectoryFsync(_node: number, disk: FileSystem): FileSystem {
  return { ...delegateTo(disk), fsyncDir: () => undefined, fsyncDirAsync: (_dir, callback) => void Promise.resolve().then(() => callback(null)) };
}

/** A partition log's producer state, reached from outside as the seeded bugs below need it. */
function producerTable(log: PartitionLog): { table: ProducerStateTable } {
  return (log as unknown as { producers: { table: ProducerStateTable } }).producers;
}

/** The leader's duplicate check is gone: a resent batch is written again (Redpanda 21.10.1, Jepsen). */
function writesDuplicates(log: PartitionLog): void {
  const table = producerTable(log).table;
  const check = table.check.bind(table);
  table.check = (...args) => {
    const verdict = check(...args);
    return verdict.kind === 'duplicate' ? { kind: 'new' } : verdict;
  };
}

/** Followers copy batches without building the producers' state from them: a new leader knows no producer. */
function followerSkipsProducerState(log: PartitionLog): void {
  const appendAsFollower = log.appendAsFollower.bind(log);
  log.appendAsFollower = (buf, nowMs) => {
    const manager = producerTable(log);
    const update = manager.table.update;
    manager.table.update = () => undefined;
    try {
      return appendAsFollower(buf, nowMs);
    } finally {
      manager.table.update = update;
    }
  };
}

/** A truncation cuts the log but keeps the producer state of the batches it removed: their resends are answered as duplicates at offsets that are gone. */
function truncationKeepsProducerState(log: PartitionLog): void {
  const truncateTo = log.truncateTo.bind(log);
  log.truncateTo = (offset) => {
    const manager = producerTable(log);
    const before = manager.table.encodeSnapshot();
    truncateTo(offset);
    const kept = ProducerStateTable.decodeSnapshot(before);
    if (kept.ok) manager.table = kept.table;
  };
}

/**
 * The client's core sends up to 5 batches in flight but forgets the leader's window: after a lost
 * answer it keeps sending new batches, so the one to resend may have left the 5 the leader
 * remembers (the bug the fake-broker test of the client caught while it was written).
 */
class IgnoresLeaderWindow extends PartitionSendState<SimBatch> {
  constructor() {
    super(true, MAX_IN_FLIGHT);
  }
  override canSend(): boolean {
    return super.canSend() || (this.hasProducerId && !this.bumpNeeded && this.inFlightCount < this.maxInFlight && this.waitingBatches().length === 0);
  }
}

/**
 * Kafka's rule, and the client's send core before this project's seed 42: an epoch bump renumbers
 * the batches sent under the old epoch and not acknowledged, and resends them. One of them may be
 * in a replica's log although another leader answered OUT_OF_ORDER_SEQUENCE_NUMBER for it (the
 * leader that wrote it leads again), and is then written a second time under its new numbers.
 */
class RenumbersSentBatches extends PartitionSendState<SimBatch> {
  constructor() {
    super(true, MAX_IN_FLIGHT);
  }
  protected override carriedOver(unacked: SimBatch[]): SimBatch[] {
    return unacked;
  }
}

/**
 * The client's send core before 4610726: besides renumbering at a bump, a sent batch that expires
 * makes the partition bump its epoch at once, even while later batches of it are unacknowledged,
 * which the broker may already have written; their resends are written again.
 */
class BumpsOnExpiry extends RenumbersSentBatches {
  override onExpired(b: SimBatch): void {
    super.onExpired(b);
    if (this.unresolvedGap) {
      this.unresolvedGap = false;
      this.bumpNeeded = true;
    }
  }
}

/**
 * The group coordinator answers a commit (or a heartbeat) once its records are appended on the
 * leader, without waiting for the in-sync replicas: a leader that dies then takes acknowledged
 * commits with it, and the next coordinator hands out older offsets.
 */
class AnswersBeforeCommitted extends GroupCoordinatorShell {
  protected override async append(entry: Parameters<GroupCoordinatorShell['append']>[0], records: Parameters<GroupCoordinatorShell['append']>[1]): Promise<void> {
    void super.append(entry, records).catch(() => undefined);
  }
}

/**
 * The transaction coordinator answers a request that makes no record (a partition already added)
 * from its state at once, though the record that put it there may still fail: the fix of this
 * session's simulation run, undone.
 */
class AnswersFromUncommittedState extends TransactionCoordinatorShell {
  protected override async append(entry: Parameters<TransactionCoordinatorShell['append']>[0], records: Parameters<TransactionCoordinatorShell['append']>[1]): Promise<void> {
    if (records.length === 0) return;
    return super.append(entry, records);
  }
}

/**
 * Partition leaders take any marker refusal as the marker written: a leader that is not the
 * leader any more (NOT_LEADER) makes the coordinator complete a transaction whose marker never
 * reached the partition.
 */
function markerRefusalCountsAsWritten(o: TransactionCoordinatorShellOptions): TransactionCoordinatorShell {
  return new TransactionCoordinatorShell({
    ...o,
    writeMarkers: async (to, req) => {
      const res = await o.writeMarkers(to, req);
      return { results: res.results.map((r) => ({ ...r, errorCode: ErrorCode.NONE })) };
    },
  });
}

/** The options that switch `name` on. */
export function clusterBug(name: ClusterBugName): Pick<ClusterSimOptions, 'overrides' | 'config' | 'nodes' | 'producerCore' | 'groupMembersIgnoreDeadlines' | 'transactions'> {
  switch (name) {
    case 'followerReportsFetchedAsDurable':
      // min.insync.replicas 3: a commit then needs every follower's fsync, so one follower's lie is
      // seen at the moment the high watermark passes it (with 2, both followers must lag at once).
      return { overrides: { createReplicaCore: (o, now) => new ReportsFetchedAsDurable(o, now) }, config: { minInsyncReplicas: 3 } };
    case 'leaderCountsFetchedAsDurable': {
      // Followers that fetch before their fsync (as Kafka's do) make fetched and fsynced differ; the leader must count the latter.
      const Core = coreWithLeaderState(CountsFetchedAsDurable, true);
      return { overrides: { createReplicaCore: (o, now) => new Core(o, now) } };
    }
    case 'hwIgnoresMinIsr': {
      const Core = coreWithLeaderState(IgnoresMinIsr, false);
      return { overrides: { createReplicaCore: (o, now) => new Core(o, now) } };
    }
    case 'truncateToHighWatermark':
      return { overrides: { createReplicaCore: (o, now) => new TruncatesToHighWatermark(o, now) } };
    case 'uncleanLeaderOutsideIsr':
      // Five nodes: with the two ISR members down, three voters still elect a controller, which then picks the out-of-sync replica.
      return { config: { uncleanLeaderElection: true }, nodes: 5 };
    case 'brokerSkipsFsync':
      return { overrides: { wrapDisk: skipsFsync } };
    case 'restartedBrokerLeadsOldEpoch':
      return { overrides: { createReplicaCore: (o, now) => new LeadsBeforeRegistered(o, now) } };
    case 'lostAlterPartitionAnswerIsRefusal':
      return { overrides: { createReplicaCore: (o, now) => new UnknownOutcomeIsRefusal(o, now) } };
    case 'lateIsrAnswerApplies':
      return { overrides: { createReplicaCore: (o, now) => new LateIsrAnswerApplies(o, now) } };
    case 'oldEpochLookupUndefined':
      return { overrides: { createReplicaCore: (o, now) => new OldEpochLookupUndefined(o, now) } };
    case 'followerPastLeaderEndWipes':
      return { overrides: { createReplicaCore: (o, now) => new PastLeaderEndWipes(o, now) } };
    case 'skipsDirectoryFsync':
      return { overrides: { wrapDisk: skipsDirectoryFsync } };
    case 'leaderWritesDuplicates':
      return { overrides: { patchLog: writesDuplicates } };
    case 'followerSkipsProducerState':
      return { overrides: { patchLog: followerSkipsProducerState } };
    case 'truncationKeepsProducerState':
      return { overrides: { patchLog: truncationKeepsProducerState } };
    case 'producerIgnoresLeaderWindow':
      return { producerCore: () => new IgnoresLeaderWindow() };
    case 'producerRenumbersSentBatches':
      return { producerCore: () => new RenumbersSentBatches() };
    case 'producerBumpsOnExpiry':
      return { producerCore: () => new BumpsOnExpiry() };
    case 'groupCoordinatorAnswersBeforeCommitted':
      return { overrides: { createGroupShell: (o) => new AnswersBeforeCommitted(o) } };
    case 'groupMemberIgnoresDeadlines':
      return { groupMembersIgnoreDeadlines: true };
    case 'leaderSkipsTxnVerification':
      return { overrides: { skipTxnVerification: true } };
    case 'txnCoordinatorAnswersFromUncommittedState':
      return { overrides: { createTxnShell: (o) => new AnswersFromUncommittedState(o) } };
    case 'txnMarkerRefusalCountsAsWritten':
      return { overrides: { createTxnShell: markerRefusalCountsAsWritten } };
    case 'newLeaderWaitsForWriteToCountFsync':
      // Five nodes: more followers with a fetched tail still being fsynced when an election lands (docs/simulation.md).
      return { overrides: { createReplicaCore: (o, now) => new WaitsForWriteToCountFsync(o, now) }, nodes: 5 };
  }
}

/**
 * Not a bug: followers that fetch again before their fsync completes, reporting honestly what is
 * fsynced (Kafka's followers do; Cairn's wait). The shipped leader must stay safe with them, which
 * tests the rule that the high watermark counts only fsynced offsets rather than implying it.
 */
export function pipelinedFollowers(): Pick<ClusterSimOptions, 'overrides'> {
  return { overrides: { createReplicaCore: (o, now) => new FetchesBeforeFsync(o, now) } };
}
