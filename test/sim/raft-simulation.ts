/**
 * Deterministic simulation of a Raft cluster (style §2, in the spirit of TigerBeetle's VOPR and
 * FoundationDB's simulator). Everything — network delays, drops, duplicates, partitions, crashes,
 * torn writes, write latency, client proposals, every node's election timeouts — comes from one
 * PRNG seeded by `seed`, so a failing seed replays exactly:
 *
 *   npm run sim -- --seeds 1 --seed-start <seed> [--nodes 3|5] [--learners N] [--steps K] [--harsh] --trace
 *
 * A run: chaos (`steps` events with faults); heal (every link restored, every node restarted, no
 * more loss) and a quiet period; liveness (within LIVENESS_BOUND_MS a leader exists and a fresh
 * proposal commits); convergence (with the client stopped, every node catches up with the
 * leader). Safety invariants (raft-invariants.ts) are checked after every step. docs/raft.md §7.
 */
import type { NodeId } from '../../src/common/types';
import { nodeId } from '../../src/common/types';
import { SeededRandom } from '../../src/common/random';
import type { Random } from '../../src/common/random';
import { RaftCore } from '../../src/raft/raft-core';
import type { RaftCoreOptions } from '../../src/raft/options';
import { describeMembership, type MembershipChange } from '../../src/raft/membership';
import { describeMessage } from '../../src/raft/messages';
import type { Ready } from '../../src/raft/types';
import { RaftChecker, SimViolation } from './raft-invariants';
import { SimNode, writeCount } from './sim-node';
import { CALM_NETWORK, SimNetwork } from './sim-network';
import type { FaultProfile, SimulationOptions, SimulationResult, SimulationStats } from './sim-options';
import {
  CONVERGENCE_MS,
  DEFAULT_FAULTS,
  ELECTION_TIMEOUT_MAX_MS,
  ELECTION_TIMEOUT_MIN_MS,
  FULL_CHECK_EVERY_STEPS,
  HEARTBEAT_INTERVAL_MS,
  LIVENESS_BOUND_MS,
  MAX_READY_ROUNDS,
  MAX_WRITE_MS,
  QUIET_PERIOD_MS,
} from './sim-options';

export * from './sim-options';

const encoder = new TextEncoder();

export class RaftSimulation {
  readonly seed: number;
  private readonly random: Random;
  private readonly faults: FaultProfile;
  private readonly network: SimNetwork;
  private readonly checker = new RaftChecker();
  private readonly nodes: SimNode[] = [];
  private readonly voters: NodeId[];
  private readonly learners: NodeId[];
  private readonly spares: NodeId[];
  private nextChangeMs: number;
  private readonly snapshotEvery: number | null;
  private readonly createCore: (options: RaftCoreOptions) => RaftCore;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly chaosSteps: number;
  private readonly electionTimeoutMinMs: number;
  private readonly electionTimeoutMaxMs: number;
  private readonly asyncPersistence: boolean;

  private now = 0;
  private step = 0;
  private chaos = true;
  private nextFaultMs: number;
  private nextProposalMs = 0;
  private proposalCounter = 0;
  private leaderGuess: NodeId | null = null;
  private readonly stats: SimulationStats = {
    messagesSent: 0,
    messagesDropped: 0,
    crashes: 0,
    tornWrites: 0,
    partitions: 0,
    proposalsAccepted: 0,
    maxCommitIndex: 0,
    maxTerm: 0,
    snapshotsInstalled: 0,
    membershipChanges: 0,
  };

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.random = new SeededRandom(options.seed);
    this.faults = { ...DEFAULT_FAULTS, ...options.faults };
    this.network = new SimNetwork(this.random.fork(), this.faults);
    const voterCount = options.nodes ?? 3;
    const learnerCount = options.learners ?? 0;
    this.voters = Array.from({ length: voterCount }, (_, i) => nodeId(i + 1));
    this.learners = Array.from({ length: learnerCount }, (_, i) => nodeId(voterCount + i + 1));
    this.spares = Array.from({ length: options.spares ?? 0 }, (_, i) => nodeId(voterCount + learnerCount + i + 1));
    this.snapshotEvery = options.snapshotEvery !== undefined ? options.snapshotEvery : this.random.pick([null, 5, 20, 50]);
    this.createCore = options.createCore ?? ((o) => new RaftCore(o));
    this.trace = options.trace;
    this.chaosSteps = options.steps ?? 3000;
    this.electionTimeoutMinMs = options.electionTimeoutMinMs ?? ELECTION_TIMEOUT_MIN_MS;
    this.electionTimeoutMaxMs = options.electionTimeoutMaxMs ?? ELECTION_TIMEOUT_MAX_MS;
    this.asyncPersistence = options.asyncPersistence ?? this.random.bool();
    this.nextFaultMs = this.faultDelay();
    this.nextChangeMs = this.spares.length > 0 ? this.changeDelay() : Number.POSITIVE_INFINITY;
    for (const id of [...this.voters, ...this.learners, ...this.spares]) {
      const node = new SimNode(id, this.learners.includes(id));
      this.nodes.push(node);
      this.start(node);
    }
  }

  /** Runs all three phases; never throws for a violation, it reports it. */
  run(): SimulationResult {
    try {
      this.runChaos();
      this.heal();
      this.runFor(QUIET_PERIOD_MS);
      this.checkLiveness();
      this.checkConvergence();
      for (const n of this.nodes) if (n.core) this.checker.fullCheck(n.watch, n.core);
      return this.result(null);
    } catch (err) {
      const what = err instanceof SimViolation ? err.message : `node threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      return this.result(what);
    }
  }

  // ---- phases ----

  private runChaos(): void {
    while (this.step < this.chaosSteps) this.runOne();
  }

  private heal(): void {
    this.chaos = false;
    this.network.faults = { ...CALM_NETWORK, minDelayMs: this.faults.minDelayMs, maxDelayMs: this.faults.maxDelayMs };
    this.network.healAll();
    for (const n of this.nodes) if (!n.core) this.start(n);
    this.log('heal: all links restored, all nodes up');
  }

  private runFor(ms: number): void {
    const until = this.now + ms;
    while (this.nextEventMs() <= until) this.runOne();
    this.now = until;
  }

  /** After the heal: a leader emerges and a proposal made to it commits, within the bound. */
  private checkLiveness(): void {
    const deadline = this.now + LIVENESS_BOUND_MS;
    let probe: { index: number; term: number; leader: NodeId } | null = null;
    while (this.now <= deadline) {
      const leader = this.currentLeader();
      if (leader && (!probe || probe.term !== leader.core!.term)) {
        const res = leader.core!.propose(encoder.encode(`liveness-${this.seed}-${leader.core!.term}`), this.now);
        if (res.ok) {
          probe = { index: res.index, term: res.term, leader: leader.id };
          this.checker.onProposal(res.index, res.term, `liveness-${this.seed}-${leader.core!.term}`);
        }
        this.afterInput(leader);
      }
      if (probe) {
        const c = this.checker.committedAt(probe.index);
        if (c && c.term === probe.term) return;
      }
      if (this.nextEventMs() > deadline) break;
      this.runOne();
    }
    const leaders = this.nodes.filter((n) => n.core?.role === 'leader').map((n) => `${n.id}@${n.core!.term}`);
    throw new SimViolation(
      `liveness: no proposal committed within ${LIVENESS_BOUND_MS} ms of the heal and a ${QUIET_PERIOD_MS} ms quiet period ` +
        `(leaders: [${leaders.join(', ')}], probe: ${probe ? `${probe.index}@${probe.term} on ${probe.leader}` : 'none'})`,
    );
  }

  /**
   * With the client stopped, every node catches up with the leader's whole log. This catches
   * replication that stalls (a lost append nobody resends) which a fresh proposal would hide.
   */
  private checkConvergence(): void {
    this.nextProposalMs = Number.POSITIVE_INFINITY;
    this.runFor(CONVERGENCE_MS);
    const leader = this.currentLeader();
    if (!leader) throw new SimViolation(`convergence: no leader ${CONVERGENCE_MS} ms after the client stopped`);
    const last = leader.core!.lastIndex;
    const m = leader.core!.membership;
    const members = new Set([...m.voters, ...m.learners].map((x) => x.id));
    for (const n of this.nodes) {
      // A node the membership no longer (or never) names hears from no leader.
      if (!members.has(n.id)) continue;
      const core = n.core!;
      if (core.commitIndex !== last || n.appliedIndex !== last || core.termAt(last) !== leader.core!.termAt(last)) {
        throw new SimViolation(
          `convergence: ${CONVERGENCE_MS} ms after the client stopped node ${n.id} has commit ${core.commitIndex}, ` +
            `applied ${n.appliedIndex}, last ${core.lastIndex}; leader ${leader.id} has last ${last} and commit ${leader.core!.commitIndex}`,
        );
      }
    }
  }

  // ---- the event loop ----

  private nextEventMs(): number {
    let t = Math.min(this.network.nextDeliveryMs(), this.nextProposalMs);
    if (this.chaos) t = Math.min(t, this.nextFaultMs, this.nextChangeMs);
    for (const n of this.nodes) {
      t = Math.min(t, n.core ? n.core.nextDeadlineMs : n.restartAtMs);
      if (n.writing) t = Math.min(t, n.writing.doneAtMs);
    }
    return t;
  }

  private runOne(): void {
    const t = this.nextEventMs();
    if (t === Number.POSITIVE_INFINITY) throw new SimViolation('simulation ran out of events');
    this.now = Math.max(this.now, t);
    this.step++;
    if (this.network.nextDeliveryMs() === t) {
      const msg = this.network.pop();
      const to = msg ? this.node(msg.to) : null;
      if (msg && to?.core) {
        if (this.trace) this.log(`deliver ${describeMessage(msg)}`);
        to.core.step(msg, this.now);
        this.afterInput(to);
      }
      return;
    }
    if (this.chaos && this.nextFaultMs === t) {
      this.injectFault();
      this.nextFaultMs = this.now + this.faultDelay();
      return;
    }
    if (this.chaos && this.nextChangeMs === t) {
      this.changeMembership();
      this.nextChangeMs = this.now + this.changeDelay();
      return;
    }
    if (this.nextProposalMs === t) {
      this.propose();
      this.nextProposalMs = this.now + this.random.int(1, 40);
      return;
    }
    for (const n of this.nodes) {
      if (n.writing && n.writing.doneAtMs === t) {
        this.completeWrite(n);
        this.afterInput(n);
        return;
      }
      if (n.core && n.core.nextDeadlineMs === t) {
        n.core.tick(this.now);
        this.afterInput(n);
        return;
      }
      if (!n.core && n.restartAtMs === t) {
        this.start(n);
        return;
      }
    }
    throw new Error(`no event at ${t}`);
  }

  private afterInput(n: SimNode): void {
    this.drain(n);
    if (n.core) {
      this.checker.checkNode(n.watch, n.core);
      this.stats.maxCommitIndex = Math.max(this.stats.maxCommitIndex, n.core.commitIndex);
      this.stats.maxTerm = Math.max(this.stats.maxTerm, n.core.term);
      if (n.core.role === 'leader') this.leaderGuess = n.id;
    }
    if (this.step % FULL_CHECK_EVERY_STEPS === 0) {
      for (const m of this.nodes) if (m.core) this.checker.fullCheck(m.watch, m.core);
    }
  }

  /** The driver loop of docs/raft.md: persist, then send, then apply, then advance. */
  private drain(n: SimNode): void {
    if (this.asyncPersistence) {
      if (n.core && !n.writing && n.core.hasReady()) {
        const rd = n.core.ready();
        this.checker.checkReady(n.watch, n.core, rd);
        n.writing = { rd, doneAtMs: this.now + this.random.int(0, MAX_WRITE_MS) };
      }
      return;
    }
    for (let round = 0; n.core && n.core.hasReady(); round++) {
      if (round >= MAX_READY_ROUNDS) throw new SimViolation(`node ${n.id} still has output after ${MAX_READY_ROUNDS} ready rounds`);
      const rd = n.core.ready();
      this.checker.checkReady(n.watch, n.core, rd);
      this.finishWrite(n, rd);
    }
  }

  /** Asynchronous persistence: the write under way completes; then the next one starts. */
  private completeWrite(n: SimNode): void {
    const { rd } = n.writing!;
    n.writing = null;
    this.finishWrite(n, rd);
    this.drain(n);
  }

  /** Persists `rd` (or, by the fault injector's choice, crashes part-way), sends, applies, advances. */
  private finishWrite(n: SimNode, rd: Ready): void {
    const core = n.core!;
    if (this.chaos && this.random.bool(this.faults.tornWriteProbability)) {
      n.persist(rd, this.random.int(0, Math.max(0, writeCount(rd) - 1)));
      this.stats.tornWrites++;
      this.crash(n, 'during a write');
      return;
    }
    n.persist(rd, writeCount(rd));
    for (const m of rd.messages) this.network.send(m, this.now);
    if (n.apply(rd, this.checker)) this.stats.snapshotsInstalled++;
    core.advance();
    if (this.snapshotEvery !== null && n.appliedIndex - core.snapshotIndex >= this.snapshotEvery) {
      core.compact(n.appliedIndex, n.snapshotData());
    }
  }

  // ---- faults, the client, restarts ----

  private injectFault(): void {
    const live = this.nodes.filter((n) => n.core);
    const r = this.random.next();
    if (r < this.faults.crashProbability && live.length > 0) {
      const leader = live.find((n) => n.core!.role === 'leader');
      const victim = leader && this.random.bool(0.5) ? leader : this.random.pick(live);
      this.crash(victim, 'by the fault injector');
      return;
    }
    const ids = this.nodes.map((n) => n.id);
    const kind = this.random.int(0, 4);
    if (kind === 0) {
      this.network.healAll();
      this.log('heal all links');
      return;
    }
    this.stats.partitions++;
    if (kind === 1) {
      const lone = this.random.pick(ids);
      for (const o of ids) {
        if (o === lone) continue;
        this.network.cutLink(lone, o);
        this.network.cutLink(o, lone);
      }
      this.log(`isolate ${lone}`);
    } else if (kind === 2) {
      const side = new Set(this.random.shuffle([...ids]).slice(0, this.random.int(1, Math.floor(ids.length / 2))));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.network.cutLink(a, b);
      this.log(`partition {${[...side].join(',')}} from the rest`);
    } else if (kind === 3) {
      const mute = this.random.pick(ids);
      for (const o of ids) if (o !== mute) this.network.cutLink(mute, o);
      this.log(`one-way: ${mute} can hear but not speak`);
    } else {
      const deaf = this.random.pick(ids);
      for (const o of ids) if (o !== deaf) this.network.cutLink(o, deaf);
      this.log(`one-way: ${deaf} can speak but not hear`);
    }
  }

  private crash(n: SimNode, how: string): void {
    if (n.writing) {
      // Killed in the middle of a write: some prefix of it reached the disk.
      n.persist(n.writing.rd, this.random.int(0, writeCount(n.writing.rd)));
      n.writing = null;
    }
    n.core = null;
    n.restartAtMs = this.now + this.random.int(1, this.faults.maxDownMs);
    this.stats.crashes++;
    this.log(`crash ${n.id} ${how}`);
  }

  /** A node starts from exactly what its disk holds. */
  private start(n: SimNode): void {
    const initial = n.boot();
    n.core = this.createCore({
      id: n.id,
      voters: this.voters,
      learners: this.learners,
      knownPeers: this.spares,
      electionTimeoutMinMs: this.electionTimeoutMinMs,
      electionTimeoutMaxMs: this.electionTimeoutMaxMs,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      random: this.random.fork(),
      initial,
      nowMs: this.now,
    });
    this.log(`start ${n.id} term ${initial.hardState.term} snapshot ${initial.snapshot?.lastIndex ?? 0} entries ${initial.entries.length}`);
    this.checker.checkNode(n.watch, n.core);
  }

  private propose(): void {
    const live = this.nodes.filter((n) => n.core);
    if (live.length === 0) return;
    const guess = this.leaderGuess !== null ? this.node(this.leaderGuess) : null;
    const target = guess?.core ? guess : this.random.pick(live);
    const value = `v${this.seed}-${this.proposalCounter++}`;
    const res = target.core!.propose(encoder.encode(value), this.now);
    if (res.ok) {
      this.stats.proposalsAccepted++;
      this.checker.onProposal(res.index, res.term, value);
      this.log(`propose ${value} at ${target.id}: ${res.index}@${res.term}`);
    } else {
      this.leaderGuess = res.leaderHint;
    }
    this.afterInput(target);
  }

  /**
   * The operator: one membership change at the leader, as `cairn cluster add-controller` and
   * `remove-controller` make them. A caught-up learner is promoted; otherwise a node outside the
   * membership is added as a learner, a voter demoted to learner, or a member removed (never below two voters, so that a
   * crash still leaves the cluster something to do). Refusals (a change in flight, a learner
   * behind) are normal; the operator tries again later.
   */
  private changeMembership(): void {
    const leader = this.currentLeader();
    if (!leader) return;
    const core = leader.core!;
    const m = core.membership;
    const members = new Set([...m.voters, ...m.learners].map((x) => x.id));
    const outside = this.nodes.map((n) => n.id).filter((id) => !members.has(id));
    const options: MembershipChange[] = [];
    for (const l of m.learners) options.push({ kind: 'promote', id: l.id });
    for (const id of outside) options.push({ kind: 'add-learner', id, endpoint: `sim-${id}` });
    for (const l of m.learners) options.push({ kind: 'remove', id: l.id });
    if (m.voters.length > 2) for (const v of m.voters) options.push({ kind: this.random.bool() ? 'remove' : 'demote', id: v.id });
    if (options.length === 0) return;
    const change = this.random.pick(options);
    const before = core.membership;
    const res = core.changeMembership(change, this.now);
    if (res.ok) {
      this.stats.membershipChanges++;
      this.checker.onMembershipChange(leader.watch, before, core.membership);
    }
    this.log(`membership ${change.kind} ${change.id} at ${leader.id}: ${res.ok ? `${res.index}@${res.term} -> ${describeMembership(core.membership)}` : res.reason}`);
    this.afterInput(leader);
  }

  // ---- helpers ----

  private currentLeader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes) {
      if (n.core?.role === 'leader' && (!best || n.core.term > best.core!.term)) best = n;
    }
    return best;
  }

  private node(id: NodeId): SimNode {
    return this.nodes[id - 1]!;
  }

  private changeDelay(): number {
    return this.random.int(1, 4 * this.faults.faultMeanIntervalMs);
  }

  private faultDelay(): number {
    return this.random.int(1, 2 * this.faults.faultMeanIntervalMs);
  }

  private log(line: string): void {
    if (this.trace) this.trace(`[${this.seed}] #${this.step} ${this.now}ms ${line}`);
  }

  private result(violation: string | null): SimulationResult {
    this.stats.messagesSent = this.network.sent;
    this.stats.messagesDropped = this.network.dropped;
    const base = { seed: this.seed, steps: this.step, simulatedMs: this.now, stats: this.stats };
    if (violation === null) return { ...base, ok: true };
    return { ...base, ok: false, violation: `seed ${this.seed}, step ${this.step}, t=${this.now}ms: ${violation}` };
  }
}

/** Runs one seed with the given options. */
export function simulate(options: SimulationOptions): SimulationResult {
  return new RaftSimulation(options).run();
}
