/**
 * The simulation's consumer group (issue 18): members built on the client's own member core,
 * `GroupMemberCore` (src/client/group-member.ts), against the brokers' real group coordinators
 * (GroupCoordinatorShell: the GroupCoordinator core on each leader of `__consumer_offsets`, its
 * records appended with acks=all, rebuilt by replay when leadership moves). The shell around each
 * member is the simulation's, doing what the Consumer's does: find the coordinator, heartbeat,
 * fetch committed offsets for what it is given, "process" its partitions (positions advance), commit
 * every 300 ms, and on a revocation wait for its commits in flight, commit, then give the
 * partitions up. Members also crash and pause.
 *
 * Under the cluster's faults (crashes, power cuts, partitions, lost and delayed messages) it checks
 * after every step:
 * - no partition is consumed by two running members (each having applied its own deadlines first,
 *   as Consumer.poll does);
 * - a committed offset fetched for a partition is at least every commit of that partition
 *   acknowledged before the fetch was sent: an acknowledged commit survives coordinator failovers;
 * and after the heal (`settled`): every partition consumed by exactly one member, none revoking.
 */
import { GroupMemberCore, type MemberEffect } from '../../../src/client/group-member';
import { heartbeatToWire } from '../../../src/client/group-membership';
import { ErrorCode, errorName } from '../../../src/common/errors';
import type { Random } from '../../../src/common/random';
import { describe as describeTp, has, isEmpty, pairsOf } from '../../../src/common/topic-partitions';
import type { ConsumerGroupHeartbeatResponse, OffsetCommitResponse, OffsetFetchResponse } from '../../../src/protocol/messages';
import { partitionsFromWire, partitionsToWire } from '../../../src/protocol/partition-set';
import { Violation } from './invariants';
import type { SimNetwork } from './network';
import type { ClusterNode } from './node';
import type { SimScheduler } from './scheduler';

export const SIM_GROUP = 'sim-group';
const MEMBERS = 3;
const STEP_MS = 50;
const COMMIT_EVERY_MS = 300;
/** Longer than the network's longest one-way delay: a request that timed out can no longer arrive. */
const REQUEST_TIMEOUT_MS = 800;
const REBALANCE_TIMEOUT_MS = 3_000;
const RETRY_MS = 100;

export interface SimGroupContext {
  readonly scheduler: SimScheduler;
  readonly network: SimNetwork;
  readonly client: number;
  readonly topic: string;
  node(id: number): ClusterNode;
  upNodes(): ClusterNode[];
  fail(v: Violation): void;
  log(line: string): void;
}

interface Member {
  readonly name: string;
  incarnation: number;
  core: GroupMemberCore;
  crashed: boolean;
  pausedUntil: number;
  /** The coordinator's node id (-1: find it first). */
  coordinator: number;
  /** Partitions it consumes, with the next offset it processes (set once their committed offsets are known). */
  readonly positions: Map<number, number>;
  /** Bumped when a revocation starts or everything is lost: a revocation handler of an older one stops. */
  revocation: number;
  commitsInFlight: number;
  nextHeartbeatAt: number;
  nextCommitAt: number;
  finding: boolean;
}

/** The seeded client bug: a member that never applies its own deadlines. */
class IgnoresDeadlines extends GroupMemberCore {
  override checkDeadlines(): MemberEffect[] {
    return [];
  }
}

export class SimGroup {
  private readonly members: Member[] = [];
  /** Per partition, each acknowledged commit: its offset and when the answer came. */
  /** Per partition: offsets known committed at `at` — commits acknowledged, and fetched answers (a later fetch must not see less). */
  private readonly acked = new Map<number, { offset: number; at: number; how: 'acknowledged' | 'fetched' }[]>();
  private chaos = true;
  commits = 0;
  handovers = 0;

  constructor(
    private readonly ctx: SimGroupContext,
    private readonly random: Random,
    private readonly ignoresDeadlines = false,
  ) {
    for (let i = 0; i < MEMBERS; i++) {
      const name = `m${i + 1}`;
      this.members.push({
        name,
        incarnation: 0,
        core: this.newCore(name, 0),
        crashed: false,
        pausedUntil: 0,
        coordinator: -1,
        positions: new Map(),
        revocation: 0,
        commitsInFlight: 0,
        nextHeartbeatAt: 0,
        nextCommitAt: 0,
        finding: false,
      });
    }
  }

  private get now(): number {
    return this.ctx.scheduler.nowMs;
  }

  private newCore(name: string, incarnation: number): GroupMemberCore {
    const Core = this.ignoresDeadlines ? IgnoresDeadlines : GroupMemberCore;
    const core = new Core({ groupId: SIM_GROUP, memberId: `${name}.${incarnation}`, instanceId: null, rebalanceTimeoutMs: REBALANCE_TIMEOUT_MS, serverAssignor: null, clientId: name }, this.now);
    core.subscribe([this.ctx.topic]);
    return core;
  }

  start(): void {
    for (const m of this.members) this.ctx.scheduler.after(this.random.int(0, STEP_MS), () => this.loop(m));
    this.scheduleFault();
  }

  /** Faults stop; paused members resume and crashed ones restart. */
  heal(): void {
    this.chaos = false;
    for (const m of this.members) {
      m.pausedUntil = Math.min(m.pausedUntil, this.now);
      if (m.crashed) this.restart(m, 0);
    }
  }

  private running(m: Member): boolean {
    return !m.crashed && m.pausedUntil <= this.now;
  }

  // ---- the member's shell ----

  private loop(m: Member): void {
    const incarnation = m.incarnation;
    this.ctx.scheduler.after(STEP_MS, () => {
      if (m.incarnation === incarnation) this.loop(m);
    });
    if (!this.running(m)) return;
    this.enforceDeadlines(m);
    // Processing: each started partition moves on a little.
    for (const [p, offset] of m.positions) m.positions.set(p, offset + this.random.int(0, 3));
    // One commit at a time, as over the client's one connection: two in flight could arrive out of order here.
    if (this.now >= m.nextCommitAt && m.positions.size > 0 && m.core.epoch > 0 && m.commitsInFlight === 0) {
      m.nextCommitAt = this.now + COMMIT_EVERY_MS;
      void this.commit(m, [...m.positions.keys()]);
    }
    if (this.now >= m.nextHeartbeatAt) void this.heartbeat(m);
  }

  private enforceDeadlines(m: Member): void {
    this.apply(m, m.core.checkDeadlines(this.now));
  }

  private apply(m: Member, effects: MemberEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'lost':
          this.ctx.log(`group: ${m.name} loses [${describeTp(e.partitions)}]: ${e.reason}`);
          for (const [, p] of pairsOf(e.partitions)) m.positions.delete(p);
          m.revocation++;
          break;
        case 'assign':
          this.ctx.log(`group: ${m.name} gets [${describeTp(e.partitions)}]`);
          this.handovers++;
          void this.startPartitions(
            m,
            [...pairsOf(e.partitions)].map(([, p]) => p),
          );
          break;
        case 'revoke':
          this.ctx.log(`group: ${m.name} gives up [${describeTp(e.partitions)}]`);
          void this.revoke(
            m,
            [...pairsOf(e.partitions)].map(([, p]) => p),
          );
          break;
        case 'rediscover':
          m.coordinator = -1;
          break;
        case 'left':
          break;
      }
    }
  }

  /** Whether the member's incarnation still owns `p` (it may have lost it meanwhile). */
  private owns(m: Member, incarnation: number, p: number): boolean {
    return m.incarnation === incarnation && has(m.core.owned, this.ctx.topic, p);
  }

  /** A new partition starts at its committed offset, once the coordinator says what that is. */
  private async startPartitions(m: Member, partitions: number[]): Promise<void> {
    const incarnation = m.incarnation;
    while (partitions.some((p) => this.owns(m, incarnation, p) && !m.positions.has(p))) {
      const sentAt = this.now;
      const res = await this.call<OffsetFetchResponse>(m, 'offsetFetch', (n) => n.groups!.fetchOffsets({ groupId: SIM_GROUP, partitions: partitionsToWire({ [this.ctx.topic]: partitions }) })).catch(
        () => null,
      );
      if (res === null || res.errorCode !== ErrorCode.NONE) {
        await this.sleep(RETRY_MS);
        continue;
      }
      this.ctx.log(`group: ${m.name} fetched ${res.offsets.map((o) => `${o.partition}@${o.offset}`).join(' ')} from node ${m.coordinator}`);
      for (const o of res.offsets) {
        this.checkFetched(o.partition, o.offset, sentAt);
        if (o.offset >= 0) this.acked.set(o.partition, [...(this.acked.get(o.partition) ?? []), { offset: o.offset, at: this.now, how: 'fetched' }]);
        if (this.owns(m, incarnation, o.partition) && !m.positions.has(o.partition)) m.positions.set(o.partition, Math.max(0, o.offset));
      }
    }
  }

  /** Gives partitions up as the Consumer does: after processing, once its commits in flight are answered, with a last commit. */
  private async revoke(m: Member, partitions: number[]): Promise<void> {
    const token = ++m.revocation;
    const incarnation = m.incarnation;
    const current = () => m.incarnation === incarnation && m.revocation === token;
    // The handler finishes what it holds; now and then it takes longer than it may.
    await this.sleep(this.random.bool(0.03) ? REBALANCE_TIMEOUT_MS + this.random.int(0, 1_000) : this.random.int(0, 300));
    while (current() && (m.commitsInFlight > 0 || !this.running(m))) await this.sleep(20);
    if (!current()) return;
    this.enforceDeadlines(m);
    if (!current()) return;
    const started = partitions.filter((p) => m.positions.has(p));
    if (started.length > 0) await this.commit(m, started);
    if (!current() || !this.running(m)) {
      if (current()) void this.revoke(m, partitions); // paused during the commit: finish once resumed
      return;
    }
    this.enforceDeadlines(m);
    if (!current() || m.core.revoking === null) return;
    for (const p of partitions) m.positions.delete(p);
    m.core.revocationDone();
    this.ctx.log(`group: ${m.name} gave up [${partitions.join(',')}], owns [${describeTp(m.core.owned)}]`);
    m.nextHeartbeatAt = 0;
    void this.heartbeat(m);
  }

  private async commit(m: Member, partitions: number[]): Promise<void> {
    const offsets = partitions.filter((p) => m.positions.has(p)).map((p) => ({ topic: this.ctx.topic, partition: p, offset: m.positions.get(p)!, leaderEpoch: -1, metadata: '' }));
    if (offsets.length === 0) return;
    const incarnation = m.incarnation;
    m.commitsInFlight++;
    try {
      const res = await this.call<OffsetCommitResponse>(m, 'offsetCommit', (n) =>
        n.groups!.commitOffsets({ groupId: SIM_GROUP, memberId: m.core.settings.memberId, memberEpoch: m.core.epoch, offsets }),
      ).catch(() => null);
      if (res === null || res.errorCode !== ErrorCode.NONE) return;
      for (const o of offsets) {
        if (res.results.find((r) => r.partition === o.partition)?.errorCode !== ErrorCode.NONE) continue;
        this.commits++;
        this.ctx.log(`group: ${m.name} commit ${this.ctx.topic}-${o.partition} at ${o.offset} acknowledged by node ${m.coordinator}`);
        const list = this.acked.get(o.partition) ?? [];
        list.push({ offset: o.offset, at: this.now, how: 'acknowledged' });
        this.acked.set(o.partition, list);
      }
    } finally {
      if (m.incarnation === incarnation) m.commitsInFlight--;
    }
  }

  private async heartbeat(m: Member): Promise<void> {
    const incarnation = m.incarnation;
    if (m.coordinator < 0) {
      await this.findCoordinator(m);
      if (m.coordinator < 0 || m.incarnation !== incarnation) return;
    }
    this.enforceDeadlines(m);
    const hb = m.core.heartbeat(this.now);
    if (hb === null) return;
    const req = heartbeatToWire(hb);
    let res: ConsumerGroupHeartbeatResponse;
    try {
      res = await this.call<ConsumerGroupHeartbeatResponse>(m, 'groupHeartbeat', (n) => n.groups!.heartbeat(req, 'sim-client'));
    } catch {
      if (m.incarnation !== incarnation) return;
      m.core.onNoAnswer(hb.id);
      m.coordinator = -1;
      m.nextHeartbeatAt = this.now + RETRY_MS;
      return;
    }
    if (m.incarnation !== incarnation) return;
    if (res.errorCode !== ErrorCode.NONE) this.ctx.log(`group: ${m.name} heartbeat at node ${m.coordinator}: ${errorName(res.errorCode)}`);
    // An answer that reaches a paused process is read when it resumes.
    while (!this.running(m) && m.incarnation === incarnation) await this.sleep(Math.max(1, m.pausedUntil - this.now));
    if (m.incarnation !== incarnation) return;
    this.enforceDeadlines(m);
    const effects = m.core.onAnswer(hb.id, { ...res, assignment: res.assignment ? partitionsFromWire(res.assignment) : null });
    m.nextHeartbeatAt = this.now + (res.errorCode === ErrorCode.NONE ? m.core.heartbeatIntervalMs : RETRY_MS);
    this.apply(m, effects);
  }

  private async findCoordinator(m: Member): Promise<void> {
    const up = this.ctx.upNodes().filter((n) => n.groups);
    if (up.length === 0 || m.finding) return;
    const asked = this.random.pick(up);
    const incarnation = m.incarnation;
    m.finding = true;
    const res = await this.ctx.network
      .call(this.ctx.client, asked.id, 'findCoordinator', REQUEST_TIMEOUT_MS, () => (asked.groups ? asked.groups.findCoordinator(SIM_GROUP) : Promise.reject(new Error('down'))))
      .catch(() => null);
    if (m.incarnation !== incarnation) return;
    m.finding = false;
    if (res && res.errorCode === ErrorCode.NONE) m.coordinator = res.port;
    else m.nextHeartbeatAt = this.now + RETRY_MS;
    this.ctx.log(`group: ${m.name} asked node ${asked.id} for the coordinator: ${res ? (res.errorCode === ErrorCode.NONE ? `node ${res.port}` : errorName(res.errorCode)) : 'no answer'}`);
  }

  /** A call at the member's coordinator; a crashed member never sees the answer. */
  private call<Res>(m: Member, what: string, fn: (n: ClusterNode) => Promise<Res>): Promise<Res> {
    const to = m.coordinator;
    if (to < 0) return Promise.reject(new Error('no coordinator known'));
    const incarnation = m.incarnation;
    return this.ctx.network
      .call(this.ctx.client, to, what, REQUEST_TIMEOUT_MS, () => {
        const n = this.ctx.node(to);
        return n.groups ? fn(n) : Promise.reject(new Error(`node ${to} is down`));
      })
      .then((res) => (m.incarnation === incarnation ? res : new Promise<Res>(() => undefined)));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.ctx.scheduler.after(ms, resolve));
  }

  // ---- member faults ----

  private scheduleFault(): void {
    this.ctx.scheduler.after(this.random.int(300, 1_500), () => {
      if (!this.chaos) return;
      // Mostly members that hold partitions: pausing an idle one shows little.
      const holding = this.members.filter((x) => this.running(x) && !isEmpty(x.core.owned));
      const m = holding.length > 0 && this.random.bool(0.8) ? this.random.pick(holding) : this.random.pick(this.members);
      if (this.random.bool(0.3) && !m.crashed) {
        this.ctx.log(`group: ${m.name} crashes`);
        this.restart(m, this.random.int(100, 3_000));
      } else if (this.running(m)) {
        // Often past the session (1.5 s), so that the coordinator moves its partitions meanwhile.
        m.pausedUntil = this.now + this.random.int(200, 4_000);
        this.ctx.log(`group: ${m.name} paused until ${m.pausedUntil}`);
      }
      this.scheduleFault();
    });
  }

  /** The process dies; after `afterMs` a new one (a new member id) joins. */
  private restart(m: Member, afterMs: number): void {
    m.incarnation++;
    m.crashed = true;
    m.positions.clear();
    m.commitsInFlight = 0;
    m.coordinator = -1;
    m.finding = false;
    const incarnation = m.incarnation;
    this.ctx.scheduler.after(afterMs, () => {
      if (m.incarnation !== incarnation) return;
      m.crashed = false;
      m.core = this.newCore(m.name, incarnation);
      m.nextHeartbeatAt = 0;
      m.nextCommitAt = 0;
      this.loop(m);
    });
  }

  // ---- the invariants ----

  /** No partition consumed by two running members, each having applied its deadlines first. */
  check(): void {
    const owners = new Map<number, string>();
    for (const m of this.members) {
      if (!this.running(m)) continue;
      this.enforceDeadlines(m);
      for (const [, p] of pairsOf(m.core.owned)) {
        const other = owners.get(p);
        if (other !== undefined) throw new Violation(`group: ${this.ctx.topic}-${p} is consumed by ${other} and ${m.name}`);
        owners.set(p, m.name);
      }
    }
  }

  /** A fetched committed offset is at least every commit acknowledged, and every committed offset fetched, before the fetch was sent. */
  private checkFetched(partition: number, offset: number, sentAt: number): void {
    let highest: { offset: number; at: number; how: string } | null = null;
    for (const a of this.acked.get(partition) ?? []) if (a.at < sentAt && a.offset > (highest?.offset ?? -1)) highest = a;
    if (highest !== null && offset < highest.offset)
      this.ctx.fail(new Violation(`group: the committed offset of ${this.ctx.topic}-${partition} fetched at ${sentAt} ms is ${offset}, below ${highest.offset} ${highest.how} at ${highest.at} ms`));
  }

  /** After the heal: every partition of the topic consumed by exactly one running member, none revoking, all started. */
  settled(partitions: number): boolean {
    const owners = new Map<number, number>();
    for (const m of this.members) {
      if (!this.running(m) || m.core.epoch <= 0 || m.core.revoking !== null) return false;
      for (const [, p] of pairsOf(m.core.owned)) {
        if (!m.positions.has(p)) return false;
        owners.set(p, (owners.get(p) ?? 0) + 1);
      }
    }
    for (let p = 0; p < partitions; p++) if (owners.get(p) !== 1) return false;
    return true;
  }

  describe(): string {
    return this.members
      .map((m) => `${m.name}${m.crashed ? ' (down)' : ''} epoch ${m.core.epoch} owns [${describeTp(m.core.owned)}]${m.core.revoking ? ' revoking' : ''} started [${[...m.positions.keys()].join(',')}]`)
      .join('; ');
  }
}
