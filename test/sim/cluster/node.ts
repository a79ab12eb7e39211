/**
 * One node of the whole-cluster simulation, wired as `CairnNode` wires a combined-mode node, but
 * with simulated ports instead of gRPC, node:fs and the system clock: the real RaftDriver (over
 * the controller disk of raft-disk.ts), the real ControllerService and BrokerSessionClient, the
 * real LogManager and PartitionLogs on a SimDisk, and the real ReplicaManager (its replication core
 * and shells) with its fetches and ISR changes carried by the simulated network. Clients reach it
 * through the real ProduceHandler.
 *
 * A crash abandons every object of the incarnation: its timers die with its NodeTime, and the
 * network neither delivers to it nor carries what it still tries to send. A restart builds the
 * next incarnation from what its disks kept.
 */
import { CairnError, ErrorCode } from '../../../src/common/errors';
import type { Logger } from '../../../src/common/logger';
import type { Random } from '../../../src/common/random';
import { callActiveController, type ControllerAnswer } from '../../../src/controller/active-controller';
import { BrokerSessionClient, type ControllerTransport } from '../../../src/controller/broker-session-client';
import { ControllerService } from '../../../src/controller/controller-service';
import { MetadataPublisher } from '../../../src/metadata/metadata-publisher';
import { encodeRecords } from '../../../src/metadata/records';
import type { CreatableTopic, ReplicaFetchRequest, ReplicaFetchResponse } from '../../../src/protocol/messages';
import { RaftDriver } from '../../../src/raft/io/raft-driver';
import type { ReplicaCore } from '../../../src/replication/replica-core';
import { ReplicaManager } from '../../../src/replication/io/replica-manager';
import type { AlterPartitionRequest, AlterPartitionResponse, ReplicaCoreOptions } from '../../../src/replication/replica-types';
import { ProducerIdManager } from '../../../src/controller/producer-id-manager';
import { ProduceHandler } from '../../../src/server/produce-handler';
import { DEFAULT_GROUP_COORDINATOR_CONFIG } from '../../../src/coordinator/group-messages';
import { offsetsTopicSpec } from '../../../src/coordinator/group-record-codec';
import { GroupCoordinatorShell, type GroupCoordinatorShellOptions } from '../../../src/coordinator/io/group-coordinator-shell';
import { TransactionCoordinatorShell, type TransactionCoordinatorShellOptions } from '../../../src/coordinator/io/transaction-coordinator-shell';
import { writeTxnMarkers } from '../../../src/coordinator/io/txn-marker-writer';
import { CoordinatorTxnVerifier } from '../../../src/coordinator/io/txn-verifier';
import { transactionTopicSpec } from '../../../src/coordinator/txn-record-codec';
import type { AddPartitionsToTxnRequest, TxnErrorResponse, WriteTxnMarkersRequest, WriteTxnMarkersResponse } from '../../../src/protocol/messages';
import { DEFAULT_LOG_CONFIG, resolveLogConfig } from '../../../src/common/log-config';
import { LogManager } from '../../../src/storage/log-manager';
import type { FileSystem } from '../../../src/storage/file-system';
import type { PartitionLog } from '../../../src/storage/partition-log';
import { SimDisk } from '../sim-disk';
import { SimRaftDisk } from './raft-disk';
import { CallTimeout, type SimNetwork } from './network';
import { NodeTime, type SimScheduler } from './scheduler';

export interface ClusterConfig {
  nodes: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  brokerSessionTimeoutMs: number;
  brokerHeartbeatIntervalMs: number;
  replicaLagTimeMaxMs: number;
  replicaFetchWaitMaxMs: number;
  electionTimeoutMs: number;
  raftHeartbeatIntervalMs: number;
  metadataSnapshotEvery: number;
  uncleanLeaderElection: boolean;
  segmentBytes: number;
  /** offsets.topic.num.partitions, and the group coordinator's session and heartbeat interval. */
  offsetsTopicPartitions: number;
  groupSessionTimeoutMs: number;
  groupHeartbeatIntervalMs: number;
  /** transaction.state.log.num.partitions, and how often coordinators abort timed-out transactions. */
  transactionTopicPartitions: number;
  transactionAbortCheckIntervalMs: number;
}

/** What a node needs of the simulation around it. */
export interface SimContext {
  readonly scheduler: SimScheduler;
  readonly network: SimNetwork;
  readonly config: ClusterConfig;
  readonly logger: Logger;
  node(id: number): ClusterNode;
  /** Deliberately broken parts, for the seeded-bug tests (null: the shipped ones). */
  readonly overrides: NodeOverrides;
  /** A node's metadata log or storage hit a fatal error: the node stops, as the process would. */
  fatal(id: number, err: Error): void;
}

export interface NodeOverrides {
  /** Builds each broker's replication core (a broken subclass). */
  createReplicaCore?: (options: ReplicaCoreOptions, nowMs: number) => ReplicaCore;
  /** Wraps each node's disk as the storage sees it (a disk that lies about fsync). */
  wrapDisk?: (node: number, disk: FileSystem) => FileSystem;
  /** Breaks each partition log as it opens (its producer state). */
  patchLog?: (log: PartitionLog) => void;
  /** Builds each broker's group coordinators (a broken subclass). */
  createGroupShell?: (options: GroupCoordinatorShellOptions) => GroupCoordinatorShell;
  /** Builds each broker's transaction coordinators (a broken subclass). */
  createTxnShell?: (options: TransactionCoordinatorShellOptions) => TransactionCoordinatorShell;
  /** The leaders write a producer's first transactional batch of an epoch without asking its coordinator (a seeded bug). */
  skipTxnVerification?: boolean;
}

/** How long a controller call, a replica fetch beyond its long poll, and a produce may take. */
export const CONTROLLER_CALL_TIMEOUT_MS = 1_000;
export const FETCH_TIMEOUT_SLACK_MS = 1_000;
export const DATA_DIR = '/data';

export class ClusterNode {
  up = false;
  incarnation = 0;
  time: NodeTime;
  readonly raftDisk: SimRaftDisk;
  readonly disk: SimDisk;
  driver: RaftDriver | null = null;
  publisher: MetadataPublisher | null = null;
  controller: ControllerService | null = null;
  session: BrokerSessionClient | null = null;
  logs: LogManager | null = null;
  replicas: ReplicaManager | null = null;
  produce: ProduceHandler | null = null;
  producerIds: ProducerIdManager | null = null;
  groups: GroupCoordinatorShell | null = null;
  txns: TransactionCoordinatorShell | null = null;
  restartAtMs = Number.POSITIVE_INFINITY;
  private readonly voters: number[];

  constructor(
    readonly id: number,
    private readonly ctx: SimContext,
    private readonly random: Random,
  ) {
    this.time = new NodeTime(ctx.scheduler);
    this.raftDisk = new SimRaftDisk(ctx.scheduler, random.fork(), 4);
    this.disk = new SimDisk(random.fork(), (ms, fn) => void this.time.after(ms, fn), {
      fsyncDelayMs: { min: 1, max: 15 },
      tornWriteProbability: 0.5,
      tornGarbageProbability: 0.3,
      lostDirectoryEntries: true,
    });
    this.voters = Array.from({ length: ctx.config.nodes }, (_, i) => i + 1);
  }

  get incarnationId(): string {
    return `sim-${this.id}-${this.incarnation}`;
  }

  /** Starts the next incarnation from what the disks hold. */
  start(): void {
    const { config, network, logger: base } = this.ctx;
    this.incarnation++;
    this.up = true;
    this.restartAtMs = Number.POSITIVE_INFINITY;
    const skew = this.time.skewMs;
    this.time = new NodeTime(this.ctx.scheduler);
    this.time.skewMs = skew;
    const time = this.time;
    const incarnation = this.incarnation;
    const alive = () => this.up && this.incarnation === incarnation;
    const logger = base.child({ node: this.id, incarnation });
    const publisher = new MetadataPublisher(logger);
    this.publisher = publisher;

    const driver = RaftDriver.create(
      {
        nodeId: this.id,
        voters: this.voters,
        dir: '',
        transport: {
          send: (messages) => {
            if (!alive()) return;
            for (const m of messages) network.send(this.id, m.to, () => this.ctx.node(m.to).driver?.receive(m));
          },
          close: () => undefined,
        },
        electionTimeoutMs: config.electionTimeoutMs,
        heartbeatIntervalMs: config.raftHeartbeatIntervalMs,
        snapshotEvery: config.metadataSnapshotEvery,
        snapshotData: () => encodeRecords(publisher.image.toRecords()),
        logger,
        clock: time,
        timers: time,
        random: this.random.fork(),
        onFatal: (err) => this.ctx.fatal(this.id, err),
      },
      this.raftDisk.open(),
      this.raftDisk.boot(),
    );
    this.driver = driver;
    this.controller = new ControllerService({
      config: {
        nodeId: this.id,
        brokerSessionTimeoutMs: config.brokerSessionTimeoutMs,
        uncleanLeaderElection: config.uncleanLeaderElection,
        autoLeaderRebalance: true,
        leaderImbalanceCheckIntervalMs: 2_000,
        topicDefaults: { numPartitions: 1, replicationFactor: config.replicationFactor, expectedBrokers: config.nodes, maxPartitions: 1000 },
      },
      log: driver,
      publisher,
      clock: time,
      timers: time,
      random: this.random.fork(),
      logger,
    });

    const fs = this.ctx.overrides.wrapDisk?.(this.id, this.disk) ?? this.disk;
    const logs = new LogManager({ fs, dataDir: DATA_DIR, flushPolicy: { kind: 'fsync' }, logger, nowMs: () => time.wallMs(), timers: time, onLogOpened: this.ctx.overrides.patchLog });
    logs.load();
    this.logs = logs;
    let session: BrokerSessionClient | null = null;
    const replicas = new ReplicaManager({
      nodeId: this.id,
      incarnationId: this.incarnationId,
      brokerEpoch: () => session?.brokerEpoch ?? -1,
      logs,
      logDefaults: resolveLogConfig({ 'min.insync.replicas': String(config.minInsyncReplicas), 'segment.bytes': String(config.segmentBytes) }, DEFAULT_LOG_CONFIG),
      fetchTransport: {
        send: (leaderId, req) => this.fetchFrom(leaderId, req, alive),
        close: () => undefined,
      },
      alterPartitionTransport: { send: (req) => this.alterPartition(req, alive) },
      clock: time,
      timers: time,
      logger,
      replicaLagTimeMaxMs: config.replicaLagTimeMaxMs,
      replicaFetchWaitMaxMs: config.replicaFetchWaitMaxMs,
      createCore: this.ctx.overrides.createReplicaCore,
    });
    this.replicas = replicas;
    publisher.addListener((image, changes) => replicas.applyImage(image, changes));
    this.producerIds = new ProducerIdManager(
      () => this.callController('allocateProducerIds', CONTROLLER_CALL_TIMEOUT_MS, alive, (c) => c.allocateProducerIds({ brokerId: this.id, brokerEpoch: session?.brokerEpoch ?? -1 })),
      logger,
    );
    const producerIds = this.producerIds;
    const txnOptions: TransactionCoordinatorShellOptions = {
      nodeId: this.id,
      replicas,
      image: () => publisher.image,
      createTransactionTopic: () => this.createInternalTopic(transactionTopicSpec(config.transactionTopicPartitions, config.replicationFactor), alive),
      newProducerId: () => producerIds.nextId(),
      writeMarkers: (to, req) => this.writeMarkersAt(to, req, alive),
      config: { maxTimeoutMs: 900_000, abortCheckIntervalMs: config.transactionAbortCheckIntervalMs },
      clock: time,
      timers: time,
      logger,
    };
    const txns = this.ctx.overrides.createTxnShell?.(txnOptions) ?? new TransactionCoordinatorShell(txnOptions);
    this.txns = txns;
    const verifier = new CoordinatorTxnVerifier(
      () => publisher.image,
      (to, req) => this.addPartitionsAt(to, req, alive),
    );
    const groupOptions: GroupCoordinatorShellOptions = {
      nodeId: this.id,
      replicas,
      image: () => publisher.image,
      verifier,
      createOffsetsTopic: () => this.createInternalTopic(offsetsTopicSpec(config.offsetsTopicPartitions, config.replicationFactor), alive),
      config: { ...DEFAULT_GROUP_COORDINATOR_CONFIG, sessionTimeoutMs: config.groupSessionTimeoutMs, heartbeatIntervalMs: config.groupHeartbeatIntervalMs },
      clock: time,
      timers: time,
      logger,
    };
    const groups = this.ctx.overrides.createGroupShell?.(groupOptions) ?? new GroupCoordinatorShell(groupOptions);
    this.groups = groups;
    // After the replica manager, as CairnNode does: the coordinators follow the leaderships it just took or gave up.
    replicas.addListener((image) => groups.onImage(image));
    replicas.addListener((image) => txns.onImage(image));
    driver.subscribe(publisher);
    this.produce = new ProduceHandler(replicas, time, logger, this.ctx.overrides.skipTxnVerification ? { verify: () => Promise.resolve() } : verifier);
    const transport: ControllerTransport = {
      registerBroker: (req) => this.callController('registerBroker', CONTROLLER_CALL_TIMEOUT_MS, alive, (c) => c.registerBroker(req)),
      brokerHeartbeat: (req, timeoutMs) => this.callController('brokerHeartbeat', timeoutMs, alive, (c) => c.brokerHeartbeat(req)),
    };
    session = new BrokerSessionClient({
      nodeId: this.id,
      incarnationId: this.incarnationId,
      host: 'sim',
      port: this.id,
      internal: null,
      rack: null,
      heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
      transport,
      metadataOffset: () => publisher.image.offset,
      offlinePartitions: () => replicas.offlinePartitions(),
      clock: time,
      timers: time,
      logger,
    });
    this.session = session;
    driver.start();
    this.controller.start();
    logs.startBackgroundTasks();
    void session.start().catch(() => undefined);
  }

  /**
   * The process dies (kill -9): nothing of this incarnation runs again. With `powerCut`, the disks
   * also lose what was never fsynced (and may tear what was being written).
   */
  crash(powerCut: boolean): void {
    this.up = false;
    this.time.cancelAll();
    this.raftDisk.crash();
    if (powerCut) this.disk.crash();
    else this.disk.processCrash();
    this.driver = null;
    this.controller = null;
    this.session = null;
    this.replicas = null;
    this.logs = null;
    this.produce = null;
    this.producerIds = null;
    this.groups = null;
    this.txns = null;
    this.publisher = null;
  }

  /** This broker's side of WriteTxnMarkers, as CairnNode's Replica service runs it. */
  writeTxnMarkers(req: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
    const { replicas, groups } = this;
    if (!replicas) return Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, `broker ${this.id} is down`));
    return writeTxnMarkers(replicas, req, this.time, this.ctx.logger, (partition, producerId, commit) => groups?.onTxnMarker(partition, producerId, commit));
  }

  /** A transaction coordinator's WriteTxnMarkers at broker `to`, over the simulated network (in process when `to` is this broker, as CairnNode does). */
  private writeMarkersAt(to: number, req: WriteTxnMarkersRequest, alive: () => boolean): Promise<WriteTxnMarkersResponse> {
    if (!alive()) return new Promise(() => undefined);
    if (to === this.id) return this.writeTxnMarkers(req);
    return this.ctx.network.call(this.id, to, 'writeTxnMarkers', CONTROLLER_CALL_TIMEOUT_MS * 5, () => this.ctx.node(to).writeTxnMarkers(req));
  }

  /** A leader's AddPartitionsToTxn at the coordinator `to` (KIP-890 verification). */
  private addPartitionsAt(to: number, req: AddPartitionsToTxnRequest, alive: () => boolean): Promise<TxnErrorResponse> {
    if (!alive()) return new Promise(() => undefined);
    const at = async () => {
      const t = this.ctx.node(to).txns;
      if (!t) throw new CairnError(ErrorCode.NETWORK_EXCEPTION, `broker ${to} is down`);
      const res = await t.addPartitions(req);
      this.ctx.logger.debug(
        { node: this.id, coordinator: to, transactionalId: req.transactionalId, producerEpoch: req.producerEpoch, partitions: JSON.stringify(req.partitions), errorCode: res.errorCode },
        'txn verification answered',
      );
      return res;
    };
    if (to === this.id) return at();
    return this.ctx.network.call(this.id, to, 'addPartitionsToTxn', CONTROLLER_CALL_TIMEOUT_MS, at);
  }

  /** As CairnNode asks for them: `__consumer_offsets`, `__transaction_state`; one existing already is fine. */
  private async createInternalTopic(spec: CreatableTopic, alive: () => boolean): Promise<void> {
    const res = await this.callController('createTopics', CONTROLLER_CALL_TIMEOUT_MS, alive, (c) =>
      c.createTopics({ topics: [spec] }).then((r) => ({ ...r, errorCode: r.results[0]?.errorCode ?? ErrorCode.NONE })),
    );
    if (res.errorCode !== ErrorCode.NONE && res.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) throw new CairnError(res.errorCode, `creating ${spec.name} failed`);
  }

  /** A call at the active controller, as ControllerClient makes one: the known leader first, then every voter; NOT_CONTROLLER moves on. */
  callController<Res extends ControllerAnswer>(what: string, timeoutMs: number, alive: () => boolean, fn: (c: ControllerService) => Promise<Res>): Promise<Res> {
    return callController(this.ctx, this.id, this.driver?.leaderId() ?? -1, what, timeoutMs, alive, fn);
  }

  private fetchFrom(leaderId: number, req: ReplicaFetchRequest, alive: () => boolean): Promise<ReplicaFetchResponse> {
    if (!alive()) return new Promise(() => undefined);
    return this.ctx.network.call(this.id, leaderId, 'replicaFetch', req.maxWaitMs + FETCH_TIMEOUT_SLACK_MS, () => {
      const leader = this.ctx.node(leaderId).replicas;
      if (!leader) return Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, `broker ${leaderId} is down`));
      return leader.handleReplicaFetch(req);
    });
  }

  private alterPartition(req: AlterPartitionRequest, alive: () => boolean): Promise<AlterPartitionResponse> {
    return this.callController('alterPartition', CONTROLLER_CALL_TIMEOUT_MS, alive, (c) => c.alterPartition(req) as Promise<AlterPartitionResponse & { leaderHint?: number }>);
  }
}

/**
 * From node `from` (or the client), one call at the active controller over the simulated network,
 * by the shipped voter loop (callActiveController). A caller that crashed meanwhile never sees an answer.
 */
export async function callController<Res extends ControllerAnswer>(
  ctx: SimContext,
  from: number,
  hint: number,
  what: string,
  timeoutMs: number,
  alive: () => boolean,
  fn: (c: ControllerService) => Promise<Res>,
): Promise<Res> {
  const { answer } = await callActiveController<Res>({
    voters: Array.from({ length: ctx.config.nodes }, (_, i) => i + 1),
    hint,
    send: (id) =>
      alive()
        ? ctx.network.call(from, id, what, timeoutMs, () => {
            const c = ctx.node(id).controller;
            return c ? fn(c) : Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, `node ${id} is down`));
          })
        : new Promise<Res>(() => undefined),
    moveOn: (err) => err instanceof CallTimeout || err instanceof CairnError,
  });
  return answer;
}
