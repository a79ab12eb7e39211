/**
 * The whole-cluster simulation (issue 16; docs/simulation.md): N combined-mode nodes built from
 * the code we ship (cluster/node.ts), a producer, and faults, all in one process on simulated time
 * drawn from one seed, so a failing seed replays exactly:
 *
 *   npm run sim:cluster -- --seeds 1 --seed-start <seed> [--trace] [--bug <name>]
 *
 * A run has three phases. Chaos: the producer writes with acks=all while the fault injector
 * crashes processes, cuts power (to one node or all), partitions the network (one-way too),
 * jumps wall clocks and slows disks. Heal: every node runs, every link works, the network is calm.
 * Liveness: within a bound, every partition has a leader and a full ISR, a fresh acks=all write to
 * each succeeds, and every replica converges to the leader's log. The invariants of invariants.ts
 * are checked after every step of every phase.
 */
import { ErrorCode, errorName } from '../../../src/common/errors';
import { silentLogger } from '../../../src/common/io/logger';
import { type Logger } from '../../../src/common/logger';
import { SeededRandom, type Random } from '../../../src/common/random';
import { tpKey } from '../../../src/common/types';
import { offsetsTopicSpec } from '../../../src/coordinator/group-record-codec';
import { transactionTopicSpec } from '../../../src/coordinator/txn-record-codec';
import type { ControllerService } from '../../../src/controller/controller-service';
import type { ProduceResponse } from '../../../src/protocol/messages';
import { batchLastOffset, batchSize, decodeAllRecords, forEachBatch } from '../../../src/record/batch';
import { readTxnMarker } from '../../../src/record/control';
import type { PartitionLog } from '../../../src/storage/partition-log';
import type { PartitionSendState } from '../../../src/client/idempotence';
import { SimGroup } from './group-members';
import { type SimBatch, SimIdempotentProducer } from './idempotent-producer';
import { ClusterChecker, type MetadataView, type ReplicaView, Violation } from './invariants';
import { CALM_LINKS, type LinkFaults, SimNetwork } from './network';
import { type ClusterConfig, ClusterNode, callController, type NodeOverrides, type SimContext } from './node';
import { SimScheduler } from './scheduler';
import { SimTransactionalProducers } from './transactional-producers';

export const TOPIC = 'sim';
/** The client's address on the simulated network; it never crashes. */
export const CLIENT = 100;

export interface ClusterSimOptions {
  seed: number;
  /** Simulated milliseconds of chaos, counted from when the topic exists and the producer and group start. */
  chaosMs?: number;
  partitions?: number;
  nodes?: 3 | 5;
  links?: Partial<LinkFaults>;
  overrides?: NodeOverrides;
  config?: Partial<ClusterConfig>;
  /** The idempotent producer's send core (a broken one, for a seeded bug); the client's by default. */
  producerCore?: () => PartitionSendState<SimBatch>;
  /** Mean simulated ms between faults. */
  faultMeanIntervalMs?: number;
  /** The consumer group's members never apply their own deadlines (a seeded bug). */
  groupMembersIgnoreDeadlines?: boolean;
  /** Run transactional producers (and make `__transaction_state`); default true. Off, a seed runs as it did before transactions. */
  transactions?: boolean;
  /** One line per event. */
  trace?: (line: string) => void;
}

export interface ClusterSimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation?: string;
  readonly simulatedMs: number;
  readonly stats: ClusterSimStats;
}

export interface ClusterSimStats {
  steps: number;
  acked: number;
  produceErrors: number;
  crashes: number;
  powerCuts: number;
  partitions: number;
  clockJumps: number;
  messages: number;
  dropped: number;
  /** Acknowledged commits of the consumer group, and partitions handed to its members. */
  groupCommits: number;
  groupHandovers: number;
  /** Idempotent batches the producer failed with their outcome unknown (delivery timeout, or given up at an epoch bump). */
  failedBatches: number;
  /** Transactions of the transactional producers, by what they were told. */
  txnCommitted: number;
  txnAborted: number;
  txnUnknown: number;
}

export const DEFAULT_LINKS: LinkFaults = { dropProbability: 0.02, minDelayMs: 1, maxDelayMs: 8, longDelayProbability: 0.01, longDelayMaxMs: 400, duplicateProbability: 0.02 };

export const DEFAULT_CLUSTER_CONFIG: ClusterConfig = {
  nodes: 3,
  replicationFactor: 3,
  minInsyncReplicas: 2,
  brokerSessionTimeoutMs: 1_200,
  brokerHeartbeatIntervalMs: 200,
  replicaLagTimeMaxMs: 1_000,
  replicaFetchWaitMaxMs: 200,
  electionTimeoutMs: 300,
  raftHeartbeatIntervalMs: 75,
  metadataSnapshotEvery: 50,
  uncleanLeaderElection: false,
  segmentBytes: 4_096,
  offsetsTopicPartitions: 2,
  groupSessionTimeoutMs: 1_500,
  groupHeartbeatIntervalMs: 150,
  transactionTopicPartitions: 2,
  transactionAbortCheckIntervalMs: 200,
};

/** After the heal: a quiet time, then this long for a leader, a full ISR, a write and convergence per partition. */
export const QUIET_MS = 3_000;
export const LIVENESS_BOUND_MS = 20_000;
const PRODUCE_TIMEOUT_MS = 1_500;

export class ClusterSimulation implements SimContext {
  readonly seed: number;
  readonly scheduler = new SimScheduler();
  readonly network: SimNetwork;
  readonly config: ClusterConfig;
  readonly logger: Logger = silentLogger;
  readonly overrides: NodeOverrides;
  readonly checker: ClusterChecker;
  private readonly random: Random;
  private readonly nodes: ClusterNode[] = [];
  private readonly chaosMs: number;
  private readonly partitions: number;
  private readonly faultMeanMs: number;
  private readonly trace: ((line: string) => void) | undefined;
  private chaos = true;
  private readonly transactions: boolean;
  private nextValue = 0;
  private fatalError: string | null = null;
  private readonly startFailures = new Map<number, string>();
  /** A violation found outside the loop (in a client's continuation): the loop throws it. */
  private pending: Violation | null = null;
  private readonly mirrors = new Map<string, Mirror>();
  private readonly digestCache = new Map<string, string>();
  readonly idempotent: SimIdempotentProducer;
  readonly group: SimGroup;
  readonly stats: ClusterSimStats = {
    steps: 0,
    acked: 0,
    produceErrors: 0,
    crashes: 0,
    powerCuts: 0,
    partitions: 0,
    clockJumps: 0,
    messages: 0,
    dropped: 0,
    groupCommits: 0,
    groupHandovers: 0,
    failedBatches: 0,
    txnCommitted: 0,
    txnAborted: 0,
    txnUnknown: 0,
  };
  readonly transactional: SimTransactionalProducers;

  constructor(o: ClusterSimOptions) {
    this.seed = o.seed;
    this.random = new SeededRandom(o.seed);
    this.config = { ...DEFAULT_CLUSTER_CONFIG, nodes: o.nodes ?? 3, ...o.config };
    this.overrides = o.overrides ?? {};
    this.chaosMs = o.chaosMs ?? 8_000;
    this.partitions = o.partitions ?? 2;
    this.faultMeanMs = o.faultMeanIntervalMs ?? 400;
    this.trace = o.trace;
    this.checker = new ClusterChecker({ minInsyncReplicas: this.config.minInsyncReplicas });
    this.network = new SimNetwork(this.scheduler, this.random.fork(), { ...DEFAULT_LINKS, ...o.links }, (id) => {
      if (id === CLIENT) return 0;
      const n = this.nodes[id - 1];
      return n && n.up ? n.incarnation : null;
    });
    for (let id = 1; id <= this.config.nodes; id++) this.nodes.push(new ClusterNode(id, this, this.random.fork()));
    // What every client workload sees of the simulation: its clock, the network, the nodes, and the trace.
    const client = {
      scheduler: this.scheduler,
      network: this.network,
      client: CLIENT,
      topic: TOPIC,
      partitions: this.partitions,
      node: (id: number) => this.node(id),
      upNodes: () => this.nodes.filter((n) => n.up),
      leaderGuess: (p: number) => this.leaderGuess(p),
      fail: (v: Violation) => (this.pending ??= v),
      log: (line: string) => this.log(line),
    };
    this.idempotent = new SimIdempotentProducer({ ...client, onAck: (tp, offset, value) => this.checker.onAck(tp, offset, value) }, this.random.fork(), o.producerCore);
    this.group = new SimGroup(client, this.random.fork(), o.groupMembersIgnoreDeadlines);
    this.transactions = o.transactions ?? true;
    this.transactional = new SimTransactionalProducers({ ...client, active: () => this.chaos }, this.random.fork(), this.transactions ? 2 : 0);
  }

  node(id: number): ClusterNode {
    return this.nodes[id - 1]!;
  }

  fatal(id: number, err: Error): void {
    // A node whose metadata log fails stops, as its process would; that is not a violation by itself.
    this.log(`node ${id} fatal: ${err.message}`);
    const n = this.node(id);
    if (n.up) this.crashNode(n, false, 'fatal error');
  }

  async run(): Promise<ClusterSimResult> {
    try {
      for (const n of this.nodes) this.startNode(n);
      await this.createTopic();
      this.startProducer();
      this.group.start();
      this.transactional.start((err) => (this.pending ??= err instanceof Violation ? err : new Violation(`a transactional producer threw: ${err.stack ?? err.message}`)));
      this.scheduleFault();
      await this.runUntil(this.scheduler.nowMs + this.chaosMs);
      this.heal();
      await this.runUntil(this.scheduler.nowMs + QUIET_MS);
      await this.checkLiveness();
      if (this.fatalError) throw new Violation(this.fatalError);
      return this.result(null);
    } catch (err) {
      const what = err instanceof Violation ? err.message : `the simulation threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      return this.result(what);
    }
  }

  // ---- the loop ----

  private async runUntil(untilMs: number): Promise<void> {
    while (await this.scheduler.step(untilMs)) {
      this.stats.steps++;
      this.restartDue();
      if (this.pending) throw this.pending;
      this.check();
    }
  }

  private check(): void {
    this.checker.check(this.replicaViews(), this.metadataViews());
    this.group.check();
  }

  // ---- the workload ----

  private async createTopic(): Promise<void> {
    const deadline = this.scheduler.nowMs + 10_000;
    while (this.scheduler.nowMs < deadline) {
      let done = false;
      void callController(
        this,
        CLIENT,
        -1,
        'createTopics',
        1_000,
        () => true,
        (c: ControllerService) =>
          c
            .createTopics({
              topics: [
                { name: TOPIC, numPartitions: this.partitions, replicationFactor: this.config.replicationFactor, configs: {} },
                // The coordinators' topics too (brokers would make them on the first FindCoordinator), so groups and transactions start with the chaos.
                offsetsTopicSpec(this.config.offsetsTopicPartitions, this.config.replicationFactor),
                ...(this.transactions ? [transactionTopicSpec(this.config.transactionTopicPartitions, this.config.replicationFactor)] : []),
              ],
            })
            .then((r) => ({ ...r, errorCode: r.results.find((x) => x.errorCode !== ErrorCode.NONE && x.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS)?.errorCode ?? ErrorCode.NONE })),
      ).then(
        (r) => {
          if (r.errorCode === ErrorCode.NONE || r.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) done = true;
        },
        () => undefined,
      );
      await this.runUntil(this.scheduler.nowMs + 1_000);
      if (done && this.converged()) return;
    }
    throw new Violation('the topic was not created within 10 s of a calm start');
  }

  private startProducer(): void {
    const tick = () => {
      if (!this.chaos) return;
      for (let p = 0; p < this.partitions; p++) {
        void this.produce(p, `v${this.nextValue++}`, 3);
        this.idempotent.produce(p);
      }
      this.scheduler.after(this.random.int(10, 60), tick);
    };
    this.scheduler.after(0, tick);
  }

  /** One acks=all write, retried (to whoever the metadata says leads) up to `attempts` times. */
  private async produce(partition: number, value: string, attempts: number): Promise<boolean> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const leader = this.leaderGuess(partition);
      if (leader > 0) {
        try {
          const res = await this.network.call<ProduceResponse>(CLIENT, leader, 'produce', PRODUCE_TIMEOUT_MS, () => {
            const h = this.node(leader).produce;
            return h
              ? h.handle({ correlationId: 0, acks: -1, timeoutMs: PRODUCE_TIMEOUT_MS, partitions: [{ topic: TOPIC, partition, records: [{ value: Buffer.from(value) }] }] })
              : Promise.reject(new Error('down'));
          });
          const r = res.results[0]!;
          if (r.errorCode === ErrorCode.NONE) {
            this.stats.acked++;
            try {
              this.checker.onAck(tpKey(TOPIC, partition), r.baseOffset, value);
            } catch (err) {
              this.pending ??= err as Violation;
            }
            return true;
          }
          this.stats.produceErrors++;
          this.log(`produce ${value} to ${leader}: ${errorName(r.errorCode)}`);
        } catch (err) {
          if (err instanceof Violation) throw err;
          this.stats.produceErrors++;
        }
      }
      await new Promise<void>((resolve) => this.scheduler.after(this.random.int(20, 200), resolve));
    }
    return false;
  }

  /** Who leads `partition` by the metadata of a random running node (clients learn from any broker). */
  private leaderGuess(partition: number): number {
    const up = this.nodes.filter((n) => n.up && n.publisher);
    if (up.length === 0) return -1;
    return this.random.pick(up).publisher!.image.partition(TOPIC, partition)?.leader ?? -1;
  }

  // ---- faults ----

  private scheduleFault(): void {
    this.scheduler.after(this.random.int(1, 2 * this.faultMeanMs), () => {
      if (!this.chaos) return;
      this.injectFault();
      this.scheduleFault();
    });
  }

  private injectFault(): void {
    const r = this.random.next();
    const up = this.nodes.filter((n) => n.up);
    const quorum = Math.floor(this.config.nodes / 2) + 1;
    if (r < 0.3) {
      // At most a minority down at once by this fault: the cluster should keep working.
      if (up.length <= quorum) return;
      const victim = this.random.pick(up);
      this.crashNode(victim, this.random.bool(0.3), 'by the fault injector');
    } else if (r < 0.33) {
      this.stats.powerCuts++;
      for (const n of up) this.crashNode(n, true, 'power cut (whole cluster)');
    } else if (r < 0.6) {
      this.stats.partitions++;
      const a = this.random.int(1, this.config.nodes);
      if (this.random.bool()) {
        for (let b = 1; b <= this.config.nodes; b++) {
          if (b === a) continue;
          this.network.cutLink(a, b);
          this.network.cutLink(b, a);
        }
        this.network.cutLink(CLIENT, a);
        this.network.cutLink(a, CLIENT);
        this.log(`isolate node ${a}`);
      } else {
        const b = this.random.int(1, this.config.nodes);
        if (a !== b) this.network.cutLink(a, b);
        this.log(`cut link ${a}>${b}`);
      }
    } else if (r < 0.8) {
      this.network.healAll();
      this.log('heal all links');
    } else if (r < 0.9) {
      this.stats.clockJumps++;
      const n = this.random.pick(this.nodes);
      n.time.skewMs += this.random.pick([-1, 1]) * this.random.int(10_000, 3_600_000);
      this.log(`node ${n.id} wall clock jumps to skew ${n.time.skewMs} ms`);
    } else {
      const n = this.random.pick(this.nodes);
      const slow = this.random.bool();
      n.disk.faults.fsyncDelayMs = slow ? { min: 20, max: 400 } : { min: 1, max: 15 };
      this.log(`node ${n.id} disk ${slow ? 'slow' : 'fast'}`);
    }
  }

  private crashNode(n: ClusterNode, powerCut: boolean, how: string): void {
    this.stats.crashes++;
    this.log(`${powerCut ? 'power cut' : 'crash'} node ${n.id} (${how})`);
    this.freezeMirrors(n);
    n.crash(powerCut);
    if (this.chaos) n.restartAtMs = this.scheduler.nowMs + this.random.int(100, 2_500);
  }

  /**
   * Starts a node's next incarnation. A start that throws (storage it cannot open) leaves the node
   * down, as the process would exit; the liveness check then reports it.
   */
  private startNode(n: ClusterNode): void {
    try {
      n.start();
    } catch (err) {
      this.log(`node ${n.id} failed to start: ${(err as Error).message}`);
      this.startFailures.set(n.id, (err as Error).message);
      n.crash(false);
      n.restartAtMs = Number.POSITIVE_INFINITY;
    }
  }

  private restartDue(): void {
    const now = this.scheduler.nowMs;
    for (const n of this.nodes) {
      if (n.up || n.restartAtMs > now) continue;
      this.log(`restart node ${n.id}`);
      this.startNode(n);
    }
  }

  private heal(): void {
    this.chaos = false;
    this.group.heal();
    this.network.healAll();
    this.network.faults = { ...CALM_LINKS };
    for (const n of this.nodes) {
      n.disk.faults.fsyncDelayMs = { min: 1, max: 15 };
      if (!n.up) this.startNode(n);
    }
    this.log('heal: every node up, every link restored, a calm network');
  }

  // ---- liveness ----

  private async checkLiveness(): Promise<void> {
    // First with no new write: what the logs already hold commits by itself. A leader whose high
    // watermark waits for a write to come (say, to learn of an fsync) passes the fresh writes below,
    // yet holds an acks=all producer whose resent batch is already in its log until it times out.
    const quietDeadline = this.scheduler.nowMs + LIVENESS_BOUND_MS;
    while (!(this.idempotent.drained && this.converged() && this.leadersCommittedTheirLogs())) {
      if (this.scheduler.nowMs >= quietDeadline) {
        throw new Violation(
          `liveness: with no new write, the idempotent producer ${this.idempotent.drained ? 'had' : 'had not'} every batch acknowledged, replicas ${this.converged() ? '' : 'not '}converged, leaders ${this.leadersCommittedTheirLogs() ? '' : 'had not '}committed their whole logs, within ${LIVENESS_BOUND_MS} ms of the quiet period (${this.partitionStates()})`,
        );
      }
      await this.runUntil(this.scheduler.nowMs + 500);
    }
    const deadline = this.scheduler.nowMs + LIVENESS_BOUND_MS;
    const written = new Set<number>();
    while (this.scheduler.nowMs < deadline) {
      for (let p = 0; p < this.partitions; p++) {
        if (written.has(p)) continue;
        void this.produce(p, `live-${p}-${this.nextValue++}`, 1).then((ok) => {
          if (ok) written.add(p);
        });
      }
      await this.runUntil(this.scheduler.nowMs + 500);
      if (written.size === this.partitions && this.idempotent.drained && this.converged() && this.group.settled(this.partitions) && this.transactional.stable(this.leaderLogs())) {
        const views = this.replicaViews();
        this.checker.checkConverged(views);
        this.idempotent.checkExactlyOnce(views.filter((v) => v.live && v.role === 'leader'));
        this.transactional.check(this.leaderLogs());
        return;
      }
    }
    const state = this.partitionStates();
    const failures = [...this.startFailures].map(([id, why]) => `node ${id} cannot start: ${why}`).join('; ');
    throw new Violation(
      `liveness: ${failures ? `${failures}; ` : ''}${written.size} of ${this.partitions} partitions took a write, the idempotent producer ${this.idempotent.drained ? 'had' : 'had not'} every batch acknowledged, replicas ${this.converged() ? '' : 'not '}converged, the group ${this.group.settled(this.partitions) ? 'settled' : `not settled (${this.group.describe()})`}, transactions ${
        this.transactional.stable(this.leaderLogs())
          ? 'ended'
          : `still hold a last stable offset back (${this.leaderLogs()
              .map((l) => (l ? `${l.lastStableOffset}/${l.highWatermark} ${JSON.stringify(l.openTransactions())}` : 'no leader'))
              .join('; ')})`
      }, within ${LIVENESS_BOUND_MS} ms of the heal (${state})`,
    );
  }

  /** Every replica of every partition: role, epoch, ISR, log end, durable end and high watermark. */
  private partitionStates(): string {
    return this.nodes
      .flatMap((n) =>
        Array.from({ length: this.partitions }, (_, p) => {
          const part = n.replicas?.get(TOPIC, p);
          return part
            ? `${TOPIC}-${p}@${n.id}: ${part.role} e${part.leaderEpoch} isr [${part.isr.join(',')}] end ${part.log.logEndOffset} durable ${part.log.durableEndOffset} hw ${part.highWatermark}${part.log.isOffline ? ' offline' : ''}`
            : `${TOPIC}-${p}@${n.id}: not hosted`;
        }),
      )
      .join('; ');
  }

  /** Every partition's leader has committed everything in its log (its high watermark is its log end). */
  private leadersCommittedTheirLogs(): boolean {
    return this.leaderLogs().every((l) => l !== undefined && l.highWatermark === l.logEndOffset);
  }

  /** Each partition's leader's log, undefined where none leads. */
  private leaderLogs(): (PartitionLog | undefined)[] {
    return Array.from({ length: this.partitions }, (_, p) => {
      for (const n of this.nodes) {
        const part = n.up ? n.replicas?.get(TOPIC, p) : undefined;
        if (part?.role === 'leader') return part.log;
      }
      return undefined;
    });
  }

  /** Every partition has a leader whose ISR is every replica, and every replica ends where the leader does. */
  private converged(): boolean {
    for (let p = 0; p < this.partitions; p++) {
      const replicas = this.nodes.find((n) => n.up && n.publisher)?.publisher?.image.partition(TOPIC, p)?.replicas;
      if (!replicas) return false;
      const parts = replicas.map((id) => this.node(id).replicas?.get(TOPIC, p));
      const leader = parts.find((x) => x?.role === 'leader');
      if (!leader || leader.isr.length !== this.config.replicationFactor) return false;
      if (parts.some((x) => !x || x.log.isOffline || x.log.logEndOffset !== leader.log.logEndOffset || x.highWatermark !== leader.highWatermark)) return false;
    }
    return true;
  }

  // ---- what the checker sees ----

  private replicaViews(): ReplicaView[] {
    const out: ReplicaView[] = [];
    for (const n of this.nodes) {
      for (let p = 0; p < this.partitions; p++) {
        const tp = tpKey(TOPIC, p);
        const key = `${n.id} ${tp}`;
        const part = n.up ? n.replicas?.get(TOPIC, p) : undefined;
        let m = this.mirrors.get(key);
        if (!part) {
          if (m) out.push(m.frozenView());
          continue;
        }
        if (!m || m.log !== part.log) this.mirrors.set(key, (m = new Mirror(n.id, tp, part.log, (m?.generation ?? 0) + 1)));
        m.refresh();
        out.push(m.view(part.role, part.leaderEpoch, part.highWatermark));
      }
    }
    return out;
  }

  private freezeMirrors(n: ClusterNode): void {
    for (let p = 0; p < this.partitions; p++) this.mirrors.get(`${n.id} ${tpKey(TOPIC, p)}`)?.freeze();
  }

  private metadataViews(): MetadataView[] {
    const out: MetadataView[] = [];
    for (const n of this.nodes) {
      const image = n.up ? n.publisher?.image : undefined;
      if (!image || image.offset === 0) continue;
      const key = `${n.id}:${n.incarnation}:${image.offset}`;
      let digest = this.digestCache.get(key);
      if (digest === undefined) {
        digest = image.digest();
        this.digestCache.set(key, digest);
      }
      out.push({ node: n.id, offset: image.offset, digest });
    }
    return out;
  }

  // ---- reporting ----

  private log(line: string): void {
    this.trace?.(`[${this.scheduler.nowMs}ms] ${line}`);
  }

  private result(violation: string | null): ClusterSimResult {
    this.stats.messages = this.network.sent;
    this.stats.dropped = this.network.dropped;
    this.stats.groupCommits = this.group.commits;
    this.stats.groupHandovers = this.group.handovers;
    this.stats.failedBatches = this.idempotent.failedBatches;
    const t = this.transactional.transactions;
    this.stats.txnCommitted = t.committed;
    this.stats.txnAborted = t.aborted;
    this.stats.txnUnknown = t.unknown;
    return {
      seed: this.seed,
      ok: violation === null,
      ...(violation === null ? {} : { violation: `seed ${this.seed}, t=${this.scheduler.nowMs}ms: ${violation}` }),
      simulatedMs: this.scheduler.nowMs,
      stats: this.stats,
    };
  }
}

/**
 * What one replica's log holds, read incrementally from the real PartitionLog: values by offset.
 * Truncations are seen by wrapping the log's truncating methods, so the checker re-checks what was
 * cut. When its node crashes, the view freezes at what the log had fsynced.
 */
class Mirror {
  private values: (string | undefined)[] = [];
  private end = 0;
  private start = 0;
  private frozen: ReplicaView | null = null;
  private lastRole: 'leader' | 'follower' = 'follower';
  private lastEpoch = -1;
  private lastHw = 0;

  constructor(
    readonly broker: number,
    readonly tp: string,
    readonly log: PartitionLog,
    public generation: number,
  ) {
    for (const name of ['truncateTo', 'truncateFullyAndStartAt'] as const) {
      const original = log[name].bind(log);
      log[name] = (offset: number) => {
        this.cut(name === 'truncateTo' ? offset : 0);
        original(offset);
      };
    }
  }

  private cut(offset: number): void {
    this.generation++;
    this.values.length = Math.min(this.values.length, offset);
    this.end = Math.min(this.end, offset);
  }

  refresh(): void {
    const log = this.log;
    if (log.isOffline) return;
    if (log.logEndOffset < this.end) this.cut(log.logEndOffset);
    this.start = log.logStartOffset;
    while (this.end < log.logEndOffset) {
      const buf = log.read(this.end, 1 << 20, log.logEndOffset, true);
      if (buf.length === 0) break;
      const before = this.end;
      forEachBatch(buf, (pos) => {
        // A transaction marker holds its offset too: the mirror names it, so the checker sees the offset held.
        const marker = readTxnMarker(buf, pos);
        if (marker !== null) {
          const offset = batchLastOffset(buf, pos);
          if (offset >= this.end && offset < log.logEndOffset) {
            this.values[offset] = `${marker.commit ? 'commit' : 'abort'}-marker:${marker.producerId}:${marker.producerEpoch}`;
            this.end = offset + 1;
          }
          return;
        }
        for (const r of decodeAllRecords(buf.subarray(pos, pos + batchSize(buf, pos)), this.end)) {
          if (r.offset >= log.logEndOffset) break;
          this.values[r.offset] = r.value?.toString() ?? '';
          this.end = r.offset + 1;
        }
      });
      if (this.end === before) break;
    }
  }

  view(role: 'leader' | 'follower', leaderEpoch: number, highWatermark: number): ReplicaView {
    this.lastRole = role;
    this.lastEpoch = leaderEpoch;
    this.lastHw = highWatermark;
    const log = this.log;
    const values = this.values;
    return {
      broker: this.broker,
      tp: this.tp,
      live: true,
      role,
      leaderEpoch,
      highWatermark,
      logStartOffset: this.start,
      logEndOffset: Math.min(this.end, log.logEndOffset),
      durableEndOffset: log.isOffline ? 0 : log.durableEndOffset,
      offline: log.isOffline,
      generation: this.generation,
      valueAt: (o) => (o < this.end ? values[o] : undefined),
    };
  }

  /** The node died: from now on its replica is what it had fsynced, until it restarts. */
  freeze(): void {
    const durable = this.log.isOffline ? 0 : Math.min(this.log.durableEndOffset, this.end);
    const values = this.values.slice(0, durable);
    this.frozen = {
      broker: this.broker,
      tp: this.tp,
      live: false,
      role: 'follower',
      leaderEpoch: this.lastEpoch,
      highWatermark: Math.min(this.lastHw, durable),
      logStartOffset: this.start,
      logEndOffset: durable,
      durableEndOffset: durable,
      offline: this.log.isOffline,
      generation: this.generation + 1,
      valueAt: (o) => values[o],
    };
    void this.lastRole;
  }

  frozenView(): ReplicaView {
    return this.frozen ?? this.view('follower', this.lastEpoch, 0);
  }
}
