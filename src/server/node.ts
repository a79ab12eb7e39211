import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLogger, systemClock, systemTimers } from '../common/io';
import { CairnError, type Clock, DEFAULT_LOG_CONFIG, ErrorCode, type Logger, resolveLogConfig, validateTopicConfigs } from '../common';
import { MetadataFetchTransport } from '../metadata/io';
import { internalEndpoint, type MetadataLog, MetadataPublisher } from '../metadata';
import { type AllocateProducerIdsResponse, ProducerIdManager } from '../controller';
import { DEFAULT_GROUP_COORDINATOR_CONFIG, offsetsTopicSpec, transactionTopicSpec } from '../coordinator';
import { CoordinatorTxnVerifier, GroupCoordinatorShell, TransactionCoordinatorShell, writeTxnMarkers } from '../coordinator/io';
import type { CreatableTopic, TxnErrorResponse, WriteTxnMarkersRequest, WriteTxnMarkersResponse } from '../protocol';
import { SERVER_OPTIONS, serviceDefinition } from '../protocol/io';
import { GrpcReplicaFetchTransport, ReplicaManager } from '../replication/io';
import { type FileSystem, LogManager, nodeFileSystem } from '../storage';
import { adminService, type ControllerChannel, type QuorumChangeRequest, type QuorumChangeResponse, type QuorumChannel } from './admin-service';
import { BrokerLifecycle } from './broker-lifecycle';
import { brokerService } from './broker-service';
import { type NodeConfig, peerAddress } from './config';
import { ControllerClient } from './controller-client';
import { ControllerRole, controllerAddresses, quorumChangeTimeoutMs } from './controller-role';
import { FetchHandler } from './fetch-handler';
import { ControllerAlterPartitionTransport } from './alter-partition-manager';
import { bidi, tuneServerConnections, unary } from './grpc-util';
import { addReflection, NodeHealth } from './health';
import { PeerClients } from './peer-clients';
import { ProduceHandler } from './produce-handler';
import { ReplicaFetchHandler } from './replica-fetch-handler';
import type { ServicePolicy } from './access';
import { NodeSecurity } from './node-security';
import { NodeMetrics, type NodeView } from './node-metrics';
import { describeLogDirs } from './log-dirs';
import { describeQuorum } from './quorum-description';

/** How long a stopping broker waits for the controller to move its leaderships away. */
const CONTROLLED_SHUTDOWN_TIMEOUT_MS = 10_000;
/** How often health is re-read besides on metadata changes (a Raft leader may change without one). */
const HEALTH_REFRESH_MS = 500;

/**
 * One `cairn server` process (design brief §1): wires storage, the metadata log, the controller
 * role (if this node is a voter), the broker role (replica manager, lifecycle with the
 * controller) and the gRPC server.
 */
export class CairnNode {
  readonly logger: Logger;
  readonly publisher: MetadataPublisher;
  /** The client listener's server, and the internal listener's (the same one without `internal.listeners`). */
  private server: grpc.Server | null = null;
  private internalServer: grpc.Server | null = null;
  private logs: LogManager | null = null;
  private controllerRole: ControllerRole | null = null;
  private fetchTransport: MetadataFetchTransport | null = null;
  private replicas: ReplicaManager | null = null;
  private producerIds: ProducerIdManager | null = null;
  private groups: GroupCoordinatorShell | null = null;
  private txns: TransactionCoordinatorShell | null = null;
  private verifier: CoordinatorTxnVerifier | null = null;
  private readonly peers: PeerClients;
  private lifecycle: BrokerLifecycle | null = null;
  private controllers: ControllerClient;
  /** TLS files, peer credentials, cluster members, and the client listener's gate (node-security.ts). */
  private readonly security: NodeSecurity;
  private accepting = false;
  private boundPort = 0;
  private boundInternalPort = 0;
  private strayCheckDone = false;
  private health: NodeHealth | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  /** Prometheus metrics, when `metrics.listener` is set. */
  private readonly metrics: NodeMetrics | null;
  private boundMetricsPort = 0;
  readonly incarnationId = randomBytes(8).toString('hex');

  constructor(
    readonly config: NodeConfig,
    logger?: Logger,
    private readonly clock: Clock = systemClock,
    /** The disk the partition logs live on (the chaos suite's fault wrappers come in here, from src/cli/server.ts). */
    private readonly storageFs: FileSystem = nodeFileSystem,
  ) {
    this.logger = logger ?? createLogger({ node: config.nodeId });
    this.publisher = new MetadataPublisher(this.logger);
    this.security = new NodeSecurity(config, this.logger);
    this.peers = new PeerClients((id) => this.internalAddressOf(id), this.peerCredentials);
    this.metrics = config.metrics ? new NodeMetrics(config.nodeId, this.metricsView(), this.logger) : null;
    const metrics = this.metrics;
    if (metrics) this.publisher.addListener((image, changes) => metrics.onImage(image, changes));
    this.controllers = new ControllerClient(() => this.controllerList(), this.peerCredentials);
  }

  /**
   * The controllers to call (ControllerClient) or fetch the metadata log from (`withLearners`): the
   * membership in force on a controller, the newest committed one of the metadata image on a
   * broker-only node (KIP-853), at `controller.quorum.voters` addresses or the endpoints recorded
   * when voters were added; `controller.quorum.voters` while the membership never changed.
   */
  private controllerList(withLearners = false): { id: number; address: string }[] {
    const c = this.config;
    const membership = this.controllerRole?.log.membership ?? this.publisher.image.quorum;
    const addresses = controllerAddresses(c, membership);
    const at = (ids: readonly { id: number }[]) => ids.filter((v) => addresses.has(v.id)).map((v) => ({ id: v.id, address: addresses.get(v.id)! }));
    const members = membership ? at(withLearners ? [...membership.voters, ...membership.learners] : membership.voters) : [];
    return members.length > 0 ? members : at(c.voters);
  }

  /**
   * Where this node reaches broker `id` for node-to-node calls (replica fetches, markers, Broker's
   * AddPartitionsToTxn): its internal listener if it registered one, else its only one.
   */
  private internalAddressOf(id: number): string | null {
    const b = this.publisher.image.brokers.get(id);
    const a = peerAddress(this.config, id, b && internalEndpoint(b));
    return a ? `${a.host}:${a.port}` : null;
  }

  get port(): number {
    return this.boundPort;
  }

  private get peerCredentials(): grpc.ChannelCredentials | undefined {
    return this.security.peerCredentials;
  }

  /** Where `/metrics` answers (0: metrics off). */
  get metricsPort(): number {
    return this.boundMetricsPort;
  }

  /** Where the node-to-node services listen (the client port without `internal.listeners`). */
  get internalPort(): number {
    return this.boundInternalPort;
  }

  private get metadataLog(): MetadataLog {
    return (this.controllerRole?.log ?? this.fetchTransport)!;
  }

  private checkDataDir(): void {
    fs.mkdirSync(this.config.dataDir, { recursive: true });
    const meta = path.join(this.config.dataDir, 'meta.properties');
    if (fs.existsSync(meta)) {
      const m = /node\.id=(\d+)/.exec(fs.readFileSync(meta, 'utf8'));
      if (m && Number(m[1]) !== this.config.nodeId) throw new Error(`data directory ${this.config.dataDir} belongs to node ${m[1]}, not ${this.config.nodeId}`);
    } else {
      fs.writeFileSync(meta, `version=1\nnode.id=${this.config.nodeId}\n`);
    }
  }

  async start(): Promise<void> {
    const c = this.config;
    this.checkDataDir();
    validateTopicConfigs(c.logDefaults);
    this.logger.info({ roles: c.roles, listen: `${c.listen.host}:${c.listen.port}`, dataDir: c.dataDir, voters: c.voters.map((v) => v.id) }, 'node starting');
    const isBroker = c.roles.includes('broker');
    const seed = Number.parseInt(this.incarnationId.slice(0, 8), 16);
    const fatal = (err: Error) => {
      this.logger.fatal({ err: err.message }, 'stopping the node after a fatal metadata error');
      void this.stop().finally(() => process.exit(70));
    };
    if (c.roles.includes('controller')) {
      this.controllerRole = await ControllerRole.open(c, this.publisher, this.clock, this.logger, seed, fatal, systemTimers, this.peerCredentials);
    } else {
      this.fetchTransport = new MetadataFetchTransport(c.nodeId, () => this.controllerList(true), this.logger, this.peerCredentials);
    }
    if (isBroker) {
      this.logs = new LogManager({
        fs: this.metrics ? this.metrics.timedFileSystem(this.storageFs) : this.storageFs,
        dataDir: c.dataDir,
        flushPolicy: c.flushPolicy,
        logger: this.logger,
        nowMs: () => this.clock.wallMs(),
        retentionCheckIntervalMs: c.logRetentionCheckIntervalMs,
      });
      this.logs.load();
      const fetchTransport = new GrpcReplicaFetchTransport((id) => this.internalAddressOf(id), this.peerCredentials);
      const rm = new ReplicaManager({
        nodeId: c.nodeId,
        incarnationId: this.incarnationId,
        brokerEpoch: () => this.lifecycle?.brokerEpoch ?? -1,
        logs: this.logs,
        logDefaults: resolveLogConfig(c.logDefaults, DEFAULT_LOG_CONFIG),
        fetchTransport,
        alterPartitionTransport: new ControllerAlterPartitionTransport(this.controllers),
        clock: this.clock,
        timers: systemTimers,
        logger: this.logger,
        replicaLagTimeMaxMs: c.replicaLagTimeMaxMs,
        replicaFetchWaitMaxMs: c.replicaFetchWaitMaxMs,
      });
      this.replicas = rm;
      // The replica manager acts on an image only once this incarnation's registration is in it (ReplicaCore.admitImage).
      this.publisher.addListener((image, changes) => rm.applyImage(image, changes));
      const producerIds = new ProducerIdManager(
        () => this.controllers.call<AllocateProducerIdsResponse>('Controller', 'AllocateProducerIds', { brokerId: c.nodeId, brokerEpoch: this.lifecycle?.brokerEpoch ?? -1 }),
        this.logger,
      );
      this.producerIds = producerIds;
      const txns = new TransactionCoordinatorShell({
        nodeId: c.nodeId,
        replicas: rm,
        image: () => this.publisher.image,
        createTransactionTopic: () => this.createInternalTopic(transactionTopicSpec(c.transactionTopicPartitions, c.transactionTopicReplicationFactor)),
        newProducerId: () => producerIds.nextId(),
        writeMarkers: (to, req) =>
          to === c.nodeId ? this.writeTxnMarkers(req) : this.peers.unary<WriteTxnMarkersRequest, WriteTxnMarkersResponse>(to, 'cairn.v1.Replica', 'WriteTxnMarkers', req, 35_000),
        config: { maxTimeoutMs: c.transactionMaxTimeoutMs, abortCheckIntervalMs: c.transactionAbortCheckIntervalMs },
        clock: this.clock,
        timers: systemTimers,
        logger: this.logger,
      });
      this.txns = txns;
      this.verifier = new CoordinatorTxnVerifier(
        () => this.publisher.image,
        (to, req) => (to === c.nodeId ? txns.addPartitions(req) : this.peers.unary<typeof req, TxnErrorResponse>(to, 'cairn.v1.Broker', 'AddPartitionsToTxn', req, 10_000)),
      );
      const groups = new GroupCoordinatorShell({
        nodeId: c.nodeId,
        replicas: rm,
        image: () => this.publisher.image,
        createOffsetsTopic: () => this.createInternalTopic(offsetsTopicSpec(c.offsetsTopicPartitions, c.offsetsTopicReplicationFactor)),
        verifier: this.verifier,
        config: { ...DEFAULT_GROUP_COORDINATOR_CONFIG, sessionTimeoutMs: c.groupSessionTimeoutMs, heartbeatIntervalMs: c.groupHeartbeatIntervalMs },
        clock: this.clock,
        timers: systemTimers,
        logger: this.logger,
      });
      this.groups = groups;
      rm.addListener((image) => groups.onImage(image));
      rm.addListener((image) => txns.onImage(image));
    }
    this.metadataLog.subscribe(this.publisher);

    // Clients reach Broker and Admin; other nodes reach Raft, Controller and Replica (and Admin and
    // Broker, for forwarded admin calls and transaction verifications). With an internal listener
    // the two are separate servers, so a client cannot even address a node-to-node service; on an
    // SSL listener every node-to-node service answers cluster principals only (docs/security.md).
    const { gate, sasl } = this.security.clientGate(
      () => this.publisher.image,
      this.clock,
      () => this.serviceHealth()['cairn.v1.Admin'] === true,
    );
    const counted = this.metrics ? [this.metrics.interceptor()] : [];
    this.server = new grpc.Server({ ...SERVER_OPTIONS, interceptors: [...counted, gate.interceptor()] });
    const internal = c.internal ? new grpc.Server({ ...SERVER_OPTIONS, interceptors: counted }) : this.server;
    this.internalServer = c.internal ? internal : null;
    const serve = (server: grpc.Server, name: string, impl: grpc.UntypedServiceImplementation, policy: ServicePolicy) => {
      const definition = serviceDefinition(name);
      const secured = (server === internal ? c.protocols.internal : c.protocols.client) === 'SSL';
      // Everything on a separate internal listener is for cluster members.
      const effective: ServicePolicy = c.internal && server === internal ? 'cluster' : policy;
      server.addService(definition, this.security.access.guard(name, definition, impl, effective, secured));
    };
    const image = () => this.publisher.image;
    if (this.replicas) {
      const broker = brokerService({
        logger: this.logger,
        produce: new ProduceHandler(this.replicas, this.clock, this.logger, this.verifier!),
        producerIds: this.producerIds!,
        groups: this.groups!,
        txns: this.txns!,
        fetch: new FetchHandler(this.replicas, this.clock, this.logger),
        image,
        controllerId: () => (this.controllerRole ? this.metadataLog.leaderId() : this.controllers.leaderHint),
        acceptingRequests: () => this.accepting,
        sasl,
      });
      serve(this.server, 'cairn.v1.Broker', broker, 'clients');
      if (c.internal) serve(internal, 'cairn.v1.Broker', broker, 'cluster');
      const handler = new ReplicaFetchHandler(this.replicas, this.logger);
      serve(
        internal,
        'cairn.v1.Replica',
        {
          Fetch: bidi(this.logger, (req: Parameters<ReplicaFetchHandler['handle']>[0], cancelled) => (this.accepting ? handler.handle(req, cancelled) : Promise.resolve(null))),
          OffsetsForLeaderEpoch: unary(this.logger, (req: Parameters<ReplicaFetchHandler['offsetsForLeaderEpoch']>[0]) => handler.offsetsForLeaderEpoch(req)),
          WriteTxnMarkers: unary(this.logger, (req: WriteTxnMarkersRequest) => this.writeTxnMarkers(req)),
        },
        'cluster',
      );
    }
    const admin = adminService(this.logger, this.adminChannel(), this.quorumChannel(), image, {
      describeQuorum: () => this.describeQuorum(),
      describeLogDirs: (topics) => describeLogDirs(c.nodeId, c.dataDir, this.replicas, topics),
    });
    serve(this.server, 'cairn.v1.Admin', admin, 'clients');
    if (c.internal) serve(internal, 'cairn.v1.Admin', admin, 'cluster');
    if (this.controllerRole) {
      const { raft, controller } = this.controllerRole.services();
      serve(internal, 'cairn.v1.Raft', raft, 'cluster');
      serve(internal, 'cairn.v1.Controller', controller, 'cluster');
    }
    this.health = new NodeHealth(() => this.serviceHealth(), this.logger);
    this.health.addToServer(this.server);
    const bind = (server: grpc.Server, at: { host: string; port: number }, slot: 'client' | 'internal') =>
      new Promise<number>((resolve, reject) => {
        server.bindAsync(`${at.host}:${at.port}`, this.security.serverCredentials(slot), (err, port) => (err ? reject(err) : resolve(port)));
      });
    const internalNames = new Set(['cairn.v1.Raft', 'cairn.v1.Controller', 'cairn.v1.Replica']);
    if (c.internal) {
      this.health.addToServer(internal);
      addReflection(
        this.server,
        this.hostedServices().filter((s) => !internalNames.has(s)),
      );
      addReflection(
        internal,
        this.hostedServices().filter((s) => internalNames.has(s) || s === 'cairn.v1.Admin' || s === 'cairn.v1.Broker'),
      );
      this.boundInternalPort = await bind(internal, c.internal.listen, 'internal');
      tuneServerConnections(internal, this.logger);
    } else {
      addReflection(this.server, this.hostedServices());
    }
    this.boundPort = await bind(this.server, c.listen, 'client');
    if (!c.internal) this.boundInternalPort = this.boundPort;
    tuneServerConnections(this.server, this.logger);
    if (this.metrics && c.metrics) this.boundMetricsPort = await this.metrics.listen(c.metrics);
    this.accepting = true;
    this.controllerRole?.start();
    this.fetchTransport?.start();
    if (isBroker) {
      const advertisedPort = c.advertised.port === 0 ? this.boundPort : c.advertised.port;
      this.lifecycle = new BrokerLifecycle({
        nodeId: c.nodeId,
        incarnationId: this.incarnationId,
        host: c.advertised.host,
        port: advertisedPort,
        internal: c.internal ? { host: c.internal.advertised.host, port: c.internal.advertised.port === 0 ? this.boundInternalPort : c.internal.advertised.port } : null,
        metrics: c.metrics ? { host: isWildcard(c.metrics.host) ? c.advertised.host : c.metrics.host, port: this.boundMetricsPort } : null,
        rack: c.rack,
        heartbeatIntervalMs: c.brokerHeartbeatIntervalMs,
        controllers: this.controllers,
        publisher: this.publisher,
        logger: this.logger,
        offlinePartitions: () => this.replicas?.offlinePartitions() ?? [],
        clock: this.clock,
      });
      // Only once *this* incarnation is registered and unfenced is the image known to be current:
      // while a restarted broker replays the metadata log, its old registration looks unfenced at
      // offsets where topics created later do not exist yet (found by the chaos suite: every
      // partition directory was deleted as a "stray" on restart).
      this.publisher.addListener((img) => {
        const me = img.brokers.get(c.nodeId);
        const current = me !== undefined && me.incarnationId === this.incarnationId && !me.fenced;
        this.maybeDeleteStrays(current);
        // Registered and unfenced: have a block of producer ids ready before the first InitProducerId.
        if (current) this.producerIds?.warmUp();
      });
      void this.lifecycle.start().catch((err) => this.logger.error({ err: (err as Error).message }, 'broker registration gave up'));
    }
    this.logs?.startBackgroundTasks();
    const health = this.health;
    this.publisher.addListener(() => health.refresh());
    this.healthTimer = setInterval(() => health.refresh(), HEALTH_REFRESH_MS);
    health.refresh();
    this.logger.info({ port: this.boundPort, internalPort: this.boundInternalPort, ...(this.metrics ? { metricsPort: this.boundMetricsPort } : {}) }, 'node started');
  }

  /** What a metrics scrape reads (node-metrics.ts). */
  private metricsView(): NodeView {
    return {
      image: () => this.publisher.image,
      partitions: () => this.replicas?.all() ?? [],
      minInsyncReplicas: (topic) => (this.replicas ? this.replicas.logConfigFor(this.publisher.image, topic).minInsyncReplicas : 1),
      quorum: () => {
        const role = this.controllerRole;
        if (!role) return null;
        const raft = role.log;
        const voterLag = raft.role === 'leader' ? raft.progress().map((p) => ({ id: p.id, lag: Math.max(0, raft.commitIndex - p.matchIndex) })) : [];
        return { active: role.isActive, leaderId: this.metadataLog.leaderId(), term: raft.term, commitIndex: raft.commitIndex, voterLag };
      },
      groupOffsets: () => this.groups?.committedOffsets() ?? [],
      wallMs: () => this.clock.wallMs(),
    };
  }

  /** The Cairn services this node serves (what reflection lists and health reports on). */
  private hostedServices(): string[] {
    const roles = this.config.roles;
    return [...(roles.includes('broker') ? ['cairn.v1.Broker', 'cairn.v1.Replica'] : []), 'cairn.v1.Admin', ...(roles.includes('controller') ? ['cairn.v1.Raft', 'cairn.v1.Controller'] : [])];
  }

  /**
   * Each hosted service's health. A broker serves once this incarnation is registered and
   * unfenced in its own image — the controller unfences a broker only after it has replayed the
   * metadata log up to its registration, so its answers are current. A controller serves once its
   * quorum has a leader. Admin answers from the image, so it follows the broker (or, on a
   * controller-only node, the quorum).
   */
  private serviceHealth(): Record<string, boolean> {
    const me = this.publisher.image.brokers.get(this.config.nodeId);
    const brokerReady = this.accepting && me !== undefined && me.incarnationId === this.incarnationId && !me.fenced;
    const quorumReady = this.accepting && this.metadataLog.leaderId() >= 0;
    const ready: Record<string, boolean> = {
      'cairn.v1.Broker': brokerReady,
      'cairn.v1.Replica': brokerReady,
      'cairn.v1.Admin': this.config.roles.includes('broker') ? brokerReady : quorumReady,
      'cairn.v1.Raft': quorumReady,
      'cairn.v1.Controller': quorumReady,
    };
    return Object.fromEntries(this.hostedServices().map((name) => [name, ready[name]!]));
  }

  /**
   * Partition directories whose topic was deleted while this broker was down: removed once the
   * broker is unfenced, i.e. has replayed the metadata log far enough to know.
   */
  private maybeDeleteStrays(caughtUp: boolean): void {
    if (this.strayCheckDone || !caughtUp || !this.logs) return;
    this.strayCheckDone = true;
    const image = this.publisher.image;
    for (const dir of this.logs.strayPartitionDirs((topic, p) => image.partition(topic, p)?.replicas.includes(this.config.nodeId) ?? false)) {
      this.logger.warn({ dir }, 'deleting partition data of a topic this broker no longer hosts');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Asks the controller for an internal topic (`__consumer_offsets`, `__transaction_state`); it existing already is fine. */
  private async createInternalTopic(spec: CreatableTopic): Promise<void> {
    const res = await this.adminChannel()(false).createTopics({ topics: [spec] });
    const r = res.results[0];
    if (r && r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) throw new CairnError(r.errorCode, r.errorMessage || `creating ${spec.name} failed`);
    this.logger.info({ topic: spec.name, partitions: spec.numPartitions }, 'internal topic requested');
  }

  /** This broker's side of WriteTxnMarkers (from a transaction coordinator, here or on another broker). */
  private writeTxnMarkers(req: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
    if (!this.replicas || !this.accepting) return Promise.reject(new CairnError(ErrorCode.SHUTTING_DOWN, 'broker is shutting down'));
    const groups = this.groups;
    return writeTxnMarkers(this.replicas, req, this.clock, this.logger, (partition, producerId, commit) => groups?.onTxnMarker(partition, producerId, commit));
  }

  /** Admin calls run at the local controller when it is active, and are forwarded to the active one otherwise. */
  private adminChannel(): (forwarded: boolean) => ControllerChannel {
    return (forwarded) => {
      const role = this.controllerRole;
      if (role?.isActive) return role.channel();
      const forward =
        <Res extends object>(method: string) =>
        async (req: unknown): Promise<Res> => {
          if (forwarded) throw new CairnError(ErrorCode.NOT_CONTROLLER, `node ${this.config.nodeId} is not the active controller`);
          return this.controllers.call<Res & { errorCode?: number }>('Admin', method, req, 30_000, true);
        };
      return {
        createTopics: forward('CreateTopics'),
        deleteTopics: forward('DeleteTopics'),
        alterConfigs: forward('AlterConfigs'),
        alterReassignments: forward('AlterPartitionReassignments'),
        electLeaders: forward('ElectLeaders'),
        createAcls: forward('CreateAcls'),
        deleteAcls: forward('DeleteAcls'),
        alterUserScramCredentials: forward('AlterUserScramCredentials'),
        alterClientQuotas: forward('AlterClientQuotas'),
      };
    };
  }

  /** Controller voter changes run at the local controller when it is active, and are forwarded to the active one otherwise. */
  private quorumChannel(): (forwarded: boolean) => QuorumChannel {
    return (forwarded) => {
      const role = this.controllerRole;
      if (role?.isActive) return role.quorum();
      const forward =
        (method: string) =>
        async (req: QuorumChangeRequest): Promise<QuorumChangeResponse> => {
          if (forwarded) throw new CairnError(ErrorCode.NOT_CONTROLLER, `node ${this.config.nodeId} is not the active controller`);
          const timeoutMs = quorumChangeTimeoutMs(req) + 5_000;
          return this.controllers.call<QuorumChangeResponse>('Admin', method, req, timeoutMs, true);
        };
      return { addController: forward('AddController'), removeController: forward('RemoveController') };
    };
  }

  describeQuorum(): ReturnType<typeof describeQuorum> {
    return describeQuorum(this.config, this.publisher.image, this.controllerRole, this.metadataLog.leaderId(), this.clock.nowMs());
  }

  /** Graceful shutdown (SIGTERM): move leadership away, stop taking requests, flush, close. */
  async stop(): Promise<void> {
    this.logger.info({}, 'node stopping');
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.health?.stopServing();
    if (this.lifecycle) {
      const others = this.publisher.image.liveBrokers().filter((b) => b.id !== this.config.nodeId).length;
      if (others > 0) await this.lifecycle.controlledShutdown(CONTROLLED_SHUTDOWN_TIMEOUT_MS);
      this.lifecycle.stop();
    }
    this.accepting = false;
    this.replicas?.stop();
    const servers = [this.server, this.internalServer].filter((s): s is grpc.Server => s !== null);
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            const force = setTimeout(() => {
              server.forceShutdown();
              resolve();
            }, 3_000);
            server.tryShutdown(() => {
              clearTimeout(force);
              resolve();
            });
          }),
      ),
    );
    this.groups?.close();
    this.txns?.close();
    this.peers.close();
    await this.replicas?.close();
    await this.logs?.close();
    await this.controllerRole?.close();
    this.fetchTransport?.close();
    this.controllers.close();
    await this.metrics?.close();
    this.security.close();
    this.logger.info({}, 'node stopped');
  }
}

/** A listener host meaning "every interface", which other hosts cannot dial. */
function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
