/**
 * Deterministic simulation of a Raft cluster (style §2, in the spirit of TigerBeetle's VOPR and
 * FoundationDB's simulator). Everything — network delays, drops, duplicates, partitions, crashes,
 * torn writes, client proposals, every node's election timeouts — comes from one PRNG seeded by
 * `seed`, so a failing seed replays exactly:
 *
 *   npm run sim -- --seeds 1 --seed-start <seed> [--nodes 3|5] [--steps K] [--trace]
 *
 * A run has three phases: chaos (`steps` events with faults), heal (every link restored, every
 * node restarted, no more drops or duplicates) and a quiet period, then a liveness check: within
 * LIVENESS_BOUND_MS a leader exists and a fresh proposal commits. Safety invariants
 * (raft-invariants.ts) are checked after every step.
 */
import type { NodeId } from '../../src/common/types';
import { nodeId, term as toTerm } from '../../src/common/types';
import { SeededRandom } from '../../src/common/random';
import type { Random } from '../../src/common/random';
import { RaftCore } from '../../src/raft/raft-core';
import type { RaftCoreOptions } from '../../src/raft/options';
import { describeMessage } from '../../src/raft/messages';
import type { Entry, HardState, Ready, Snapshot } from '../../src/raft/types';
import type { NodeWatch } from './raft-invariants';
import { RaftChecker, SimViolation } from './raft-invariants';
import type { NetworkFaults } from './sim-network';
import { CALM_NETWORK, SimNetwork } from './sim-network';

export interface FaultProfile extends NetworkFaults {
  /** Mean time between partition / heal / crash events during chaos. */
  faultMeanIntervalMs: number;
  crashProbability: number;
  /** A crash in the middle of persisting a ready: only a prefix of its writes reaches the disk. */
  tornWriteProbability: number;
  maxDownMs: number;
}

export const DEFAULT_FAULTS: FaultProfile = {
  dropProbability: 0.05,
  duplicateProbability: 0.03,
  minDelayMs: 1,
  maxDelayMs: 15,
  longDelayProbability: 0.02,
  longDelayMaxMs: 600,
  faultMeanIntervalMs: 400,
  crashProbability: 0.35,
  tornWriteProbability: 0.001,
  maxDownMs: 2000,
};

export interface SimulationOptions {
  seed: number;
  /** Voters. */
  nodes?: 3 | 5;
  learners?: number;
  /** Events in the chaos phase. */
  steps?: number;
  faults?: Partial<FaultProfile>;
  /** Compact every this many applied entries; null never; undefined picks from the seed. */
  snapshotEvery?: number | null;
  /** Builds each node's core; tests pass deliberately broken subclasses. */
  createCore?: (options: RaftCoreOptions) => RaftCore;
  /** Election timeout range; narrow ranges provoke split votes. */
  electionTimeoutMinMs?: number;
  electionTimeoutMaxMs?: number;
  /** Receives one line per event. */
  trace?: (line: string) => void;
}

export interface SimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  /** Present on failure; always names the seed. */
  readonly violation?: string;
  readonly steps: number;
  readonly simulatedMs: number;
  readonly stats: SimulationStats;
}

export interface SimulationStats {
  messagesSent: number;
  messagesDropped: number;
  crashes: number;
  tornWrites: number;
  partitions: number;
  proposalsAccepted: number;
  maxCommitIndex: number;
  maxTerm: number;
  snapshotsInstalled: number;
}

export const ELECTION_TIMEOUT_MIN_MS = 150;
export const ELECTION_TIMEOUT_MAX_MS = 300;
export const HEARTBEAT_INTERVAL_MS = 50;
export const QUIET_PERIOD_MS = 1_000;
export const LIVENESS_BOUND_MS = 6_000;
/** With the client stopped, every node must hold and apply the leader's whole log within this. */
export const CONVERGENCE_MS = 2_000;
/** ready() rounds per input before the driver declares the core stuck in a loop. */
const MAX_READY_ROUNDS = 64;
/** Full (not incremental) prefix checks every this many steps. */
const FULL_CHECK_EVERY_STEPS = 64;

interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

interface SimNode {
  readonly id: NodeId;
  readonly isLearner: boolean;
  core: RaftCore | null;
  readonly disk: Disk;
  watch: NodeWatch;
  appliedIndex: number;
  digest: number;
  restartAtMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeSnapshot(appliedIndex: number, digest: number): Uint8Array {
  return encoder.encode(JSON.stringify({ appliedIndex, digest }));
}

function decodeSnapshot(data: Uint8Array): { appliedIndex: number; digest: number } {
  return JSON.parse(decoder.decode(data)) as { appliedIndex: number; digest: number };
}

export class RaftSimulation {
  readonly seed: number;
  private readonly random: Random;
  private readonly faults: FaultProfile;
  private readonly network: SimNetwork;
  private readonly checker = new RaftChecker();
  private readonly nodes: SimNode[] = [];
  private readonly voters: NodeId[];
  private readonly learners: NodeId[];
  private readonly snapshotEvery: number | null;
  private readonly createCore: (options: RaftCoreOptions) => RaftCore;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly chaosSteps: number;
  private readonly electionTimeoutMinMs: number;
  private readonly electionTimeoutMaxMs: number;

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
    this.snapshotEvery = options.snapshotEvery !== undefined ? options.snapshotEvery : this.random.pick([null, 5, 20, 50]);
    this.createCore = options.createCore ?? ((o) => new RaftCore(o));
    this.trace = options.trace;
    this.chaosSteps = options.steps ?? 3000;
    this.electionTimeoutMinMs = options.electionTimeoutMinMs ?? ELECTION_TIMEOUT_MIN_MS;
    this.electionTimeoutMaxMs = options.electionTimeoutMaxMs ?? ELECTION_TIMEOUT_MAX_MS;
    this.nextFaultMs = this.faultDelay();
    for (const id of [...this.voters, ...this.learners]) {
      const node: SimNode = {
        id,
        isLearner: this.learners.includes(id),
        core: null,
        disk: { hardState: { term: toTerm(0), votedFor: null }, snapshot: null, entries: [] },
        watch: this.newWatch(id),
        appliedIndex: 0,
        digest: 0,
        restartAtMs: Number.POSITIVE_INFINITY,
      };
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
        this.drain(leader);
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
    for (const n of this.nodes) {
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
    if (this.chaos) t = Math.min(t, this.nextFaultMs);
    for (const n of this.nodes) t = Math.min(t, n.core ? n.core.nextDeadlineMs : n.restartAtMs);
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
    if (this.nextProposalMs === t) {
      this.propose();
      this.nextProposalMs = this.now + this.random.int(1, 40);
      return;
    }
    for (const n of this.nodes) {
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
    for (let round = 0; n.core && n.core.hasReady(); round++) {
      if (round >= MAX_READY_ROUNDS) throw new SimViolation(`node ${n.id} still has output after ${MAX_READY_ROUNDS} ready rounds`);
      const core = n.core;
      const rd = core.ready();
      this.checker.checkReady(n.watch, core, rd);
      if (this.chaos && this.random.bool(this.faults.tornWriteProbability)) {
        this.persist(n, rd, this.random.int(0, Math.max(0, writeCount(rd) - 1)));
        this.stats.tornWrites++;
        this.crash(n, 'during a write');
        return;
      }
      this.persist(n, rd, writeCount(rd));
      for (const m of rd.messages) this.network.send(m, this.now);
      this.apply(n, rd);
      core.advance();
      if (this.snapshotEvery !== null && n.appliedIndex - core.snapshotIndex >= this.snapshotEvery) {
        core.compact(n.appliedIndex, encodeSnapshot(n.appliedIndex, n.digest));
      }
    }
  }

  /** Applies the first `budget` writes of `rd` to the node's disk, in the order the contract fixes. */
  private persist(n: SimNode, rd: Ready, budget: number): void {
    const disk = n.disk;
    let left = budget;
    if (rd.hardState && left-- > 0) disk.hardState = rd.hardState;
    if (rd.truncateFrom !== undefined && left-- > 0) {
      const from = rd.truncateFrom;
      disk.entries = disk.entries.filter((e) => e.index < from);
    }
    if (rd.snapshotToSave && left-- > 0) {
      const s = rd.snapshotToSave;
      disk.snapshot = s;
      disk.entries = disk.entries.filter((e) => e.index > s.lastIndex);
    }
    for (const e of rd.entriesToAppend) {
      if (left-- <= 0) break;
      const expected = disk.entries.length > 0 ? disk.entries[disk.entries.length - 1]!.index + 1 : (disk.snapshot?.lastIndex ?? 0) + 1;
      if (e.index !== expected) throw new SimViolation(`node ${n.id} was asked to persist entry ${e.index} where ${expected} comes next`);
      disk.entries.push(e);
    }
  }

  private apply(n: SimNode, rd: Ready): void {
    const term = n.core!.term;
    if (rd.snapshotToApply) {
      const s = decodeSnapshot(rd.snapshotToApply.data);
      if (s.appliedIndex !== rd.snapshotToApply.lastIndex) throw new SimViolation(`snapshot ${rd.snapshotToApply.lastIndex} holds state ${s.appliedIndex}`);
      this.checker.onSnapshotApplied(n.watch, n.appliedIndex, s.appliedIndex, s.digest);
      n.appliedIndex = s.appliedIndex;
      n.digest = s.digest;
      this.stats.snapshotsInstalled++;
    }
    for (const e of rd.committed) {
      n.digest = this.checker.onApply(n.watch, term, n.appliedIndex, n.digest, e);
      n.appliedIndex = e.index;
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
      for (const o of ids) if (o !== lone) (this.network.cutLink(lone, o), this.network.cutLink(o, lone));
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
    n.core = null;
    n.restartAtMs = this.now + this.random.int(1, this.faults.maxDownMs);
    this.stats.crashes++;
    this.log(`crash ${n.id} ${how}`);
  }

  /** A node starts from exactly what its disk holds. */
  private start(n: SimNode): void {
    const d = n.disk;
    n.core = this.createCore({
      id: n.id,
      voters: this.voters,
      learners: this.learners,
      electionTimeoutMinMs: this.electionTimeoutMinMs,
      electionTimeoutMaxMs: this.electionTimeoutMaxMs,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      random: this.random.fork(),
      initial: { hardState: d.hardState, snapshot: d.snapshot, entries: [...d.entries] },
      nowMs: this.now,
    });
    n.restartAtMs = Number.POSITIVE_INFINITY;
    n.watch = this.newWatch(n.id);
    const s = d.snapshot ? decodeSnapshot(d.snapshot.data) : { appliedIndex: 0, digest: 0 };
    n.appliedIndex = s.appliedIndex;
    n.digest = s.digest;
    this.log(`start ${n.id} term ${d.hardState.term} snapshot ${d.snapshot?.lastIndex ?? 0} entries ${d.entries.length}`);
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

  private newWatch(id: NodeId): NodeWatch {
    return { id, isLearner: this.learners.includes(id), lastCommit: 0, verifiedCommit: 0, wasLeader: false };
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

function writeCount(rd: Ready): number {
  return (rd.hardState ? 1 : 0) + (rd.truncateFrom !== undefined ? 1 : 0) + (rd.snapshotToSave ? 1 : 0) + rd.entriesToAppend.length;
}

/** Runs one seed with the given options. */
export function simulate(options: SimulationOptions): SimulationResult {
  return new RaftSimulation(options).run();
}
