import { CairnError, type Clock, ErrorCode, type Logger, type Random, type TimerHandle, type Timers } from '../common';
import type { MetadataImage, MetadataLog, MetadataPublisher } from '../metadata';
import type {
  AlterConfigsRequest,
  AlterConfigsResponse,
  AlterReassignmentsRequest,
  AlterReassignmentsResponse,
  CreateTopicsRequest,
  CreateTopicsResponse,
  DeleteTopicsRequest,
  DeleteTopicsResponse,
  AlterClientQuotasRequest,
  AlterClientQuotasResponse,
  AlterUserScramCredentialsRequest,
  AlterUserScramCredentialsResponse,
  CreateAclsRequest,
  CreateAclsResponse,
  DeleteAclsRequest,
  DeleteAclsResponse,
} from '../protocol';
import type { BrokerRegistrationRequest, HeartbeatRequest, HeartbeatResponse, RegisterBrokerResponse } from './broker-ops';
import {
  type AlterPartitionRequest,
  ControllerCore,
  type ControllerCoreConfig,
  type ControllerTask,
  type ControllerTaskOutcome,
  type ElectLeadersRequest,
  type ElectLeadersResponse,
} from './controller-core';
import type { AlterPartitionResponse } from './isr-ops';
import type { AllocateProducerIdsRequest, AllocateProducerIdsResponse } from './producer-id-ops';
import { QuorumController } from './quorum-controller';
import type { ControllerResult } from './topic-ops';

/** How often the active controller's timed work runs (fencing, expiry, rebalancing). */
export const CONTROLLER_TICK_MS = 250;

/** A refused broker-to-controller call names who leads the quorum, when known (-1 otherwise). */
export interface LeaderHint {
  leaderHint?: number;
}

export interface ControllerServiceOptions {
  config: ControllerCoreConfig;
  log: MetadataLog;
  /** Publishes the committed image the controller decides from (subscribed to `log`). */
  publisher: MetadataPublisher;
  clock: Clock;
  timers: Timers;
  random: Random;
  logger: Logger;
  /** Default CONTROLLER_TICK_MS. */
  tickIntervalMs?: number;
}

/**
 * The controller's handlers, callable without gRPC (the gRPC services of server/controller-role.ts
 * and the whole-cluster simulation both call these): each runs the core's decision on the
 * controller's event loop and answers once its records commit. Every answer carries an error
 * code — NOT_CONTROLLER (with a leader hint) when this node is not, or stops being, the active
 * controller, or the code of an expected refusal; a rejected promise means a bug.
 */
export class ControllerService {
  readonly core: ControllerCore;
  private readonly loop: QuorumController;
  private ticker: TimerHandle | null = null;

  constructor(private readonly o: ControllerServiceOptions) {
    this.core = new ControllerCore(o.config, o.random);
    this.loop = new QuorumController(o.log, o.publisher, o.random, o.logger);
  }

  /** Starts the timed work on `timers`. */
  start(): void {
    if (this.ticker) return;
    this.ticker = this.o.timers.every(this.o.tickIntervalMs ?? CONTROLLER_TICK_MS, () => this.tick());
  }

  stop(): void {
    this.ticker?.cancel();
    this.ticker = null;
  }

  /** True while the metadata log lets this node append: it is the active controller. */
  get isActive(): boolean {
    return this.o.log.isLeader();
  }

  /** When `brokerId` was last heard from by this controller (its activation time if not since). */
  lastContactMs(brokerId: number): number {
    return this.core.lastContactMs(brokerId);
  }

  /** One round of the core's timed work; the timer calls it, and so does the first request after a leadership change. */
  tick(): void {
    const out = this.core.tick(this.o.clock.nowMs(), this.o.publisher.image, this.o.log.isLeader());
    if (out.transition === 'activated') this.o.logger.info({ term: this.o.log.leaderEpoch() }, 'became active controller');
    if (out.transition === 'resigned') this.o.logger.info({ term: this.o.log.leaderEpoch(), leader: this.o.log.leaderId() }, 'no longer the active controller');
    for (const task of out.tasks) {
      this.loop
        .submit(task.kind, (img) => this.core.runTask(img, task))
        .then(
          (outcome) => this.logOutcome(task, outcome),
          // NOT_CONTROLLER or a full queue: the next tick decides again from the image then.
          () => undefined,
        );
    }
  }

  private logOutcome(task: ControllerTask, outcome: ControllerTaskOutcome): void {
    switch (outcome.kind) {
      case 'fenceExpired':
        if (outcome.fenced.length > 0) this.o.logger.warn({ brokers: outcome.fenced, sessionTimeoutMs: this.o.config.brokerSessionTimeoutMs }, 'brokers fenced: session expired');
        return;
      case 'expireRegistrations':
        if (outcome.removed.length > 0) this.o.logger.warn({ brokers: outcome.removed }, 'registrations removed: fenced, silent for a session and hosting no replica');
        return;
      case 'rebalanceLeaders':
        if (outcome.moved > 0) this.o.logger.info({ partitions: outcome.moved }, 'preferred leaders restored');
        return;
      case 'ensureClusterId':
        if (task.kind === 'ensureClusterId' && outcome.clusterId === task.clusterId) this.o.logger.info({ clusterId: outcome.clusterId }, 'cluster id set');
        return;
    }
  }

  // ---- broker-to-controller ----

  async registerBroker(req: BrokerRegistrationRequest): Promise<RegisterBrokerResponse & LeaderHint> {
    const res = await this.run<RegisterBrokerResponse & LeaderHint>(
      'registerBroker',
      (img) => this.core.registerBroker(img, req, this.o.clock.nowMs()),
      (errorCode, errorMessage, leaderHint) => ({ errorCode, errorMessage, brokerEpoch: -1, leaderHint }),
    );
    if (res.errorCode === ErrorCode.NONE) {
      this.core.sessionStarted(req.brokerId, this.o.clock.nowMs());
      this.o.logger.info({ broker: req.brokerId, brokerEpoch: res.brokerEpoch, host: req.host, port: req.port }, 'broker registered');
    }
    return res;
  }

  brokerHeartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse & LeaderHint> {
    return this.run<HeartbeatResponse & LeaderHint>(
      'brokerHeartbeat',
      (img) => this.core.brokerHeartbeat(img, req, this.o.clock.nowMs()),
      (errorCode, errorMessage, leaderHint) => ({ errorCode, errorMessage, isFenced: true, isCaughtUp: false, shouldShutdown: false, leaderHint }),
    );
  }

  async alterPartition(req: AlterPartitionRequest): Promise<AlterPartitionResponse & LeaderHint> {
    const res = await this.run<AlterPartitionResponse & LeaderHint>(
      'alterPartition',
      (img) => this.core.alterPartition(img, req),
      (errorCode, errorMessage, leaderHint) => ({ errorCode, errorMessage, results: [], leaderHint }),
    );
    for (const r of res.results) {
      if (r.errorCode === ErrorCode.NONE) this.o.logger.info({ topicId: r.topicId, partition: r.partition, isr: r.isr, partitionEpoch: r.partitionEpoch, broker: req.brokerId }, 'isr changed');
    }
    return res;
  }

  allocateProducerIds(req: AllocateProducerIdsRequest): Promise<AllocateProducerIdsResponse & LeaderHint> {
    return this.run<AllocateProducerIdsResponse & LeaderHint>(
      'allocateProducerIds',
      (img) => this.core.allocateProducerIds(img, req),
      (errorCode, errorMessage, leaderHint) => ({ errorCode, errorMessage, producerIdStart: -1, producerIdLen: 0, leaderHint }),
    );
  }

  // ---- admin (server/admin-service.ts ControllerChannel) ----

  createTopics(req: CreateTopicsRequest): Promise<CreateTopicsResponse> {
    return this.run(
      'createTopics',
      (img) => this.core.createTopics(img, req),
      (errorCode, errorMessage) => ({
        results: req.topics.map((t) => ({ name: t.name, errorCode, errorMessage, topicId: '', numPartitions: -1, replicationFactor: -1 })),
      }),
    );
  }

  deleteTopics(req: DeleteTopicsRequest): Promise<DeleteTopicsResponse> {
    return this.run(
      'deleteTopics',
      (img) => this.core.deleteTopics(img, req),
      (errorCode, errorMessage) => ({ results: req.names.map((name) => ({ name, errorCode, errorMessage })) }),
    );
  }

  alterConfigs(req: AlterConfigsRequest): Promise<AlterConfigsResponse> {
    return this.run(
      'alterConfigs',
      (img) => this.core.alterConfigs(img, req),
      (errorCode, errorMessage) => ({ errorCode, errorMessage }),
    );
  }

  createAcls(req: CreateAclsRequest): Promise<CreateAclsResponse> {
    return this.run(
      'createAcls',
      (img) => this.core.createAcls(img, req),
      (errorCode, errorMessage) => ({ results: (req.acls ?? []).map(() => ({ errorCode, errorMessage })) }),
    );
  }

  deleteAcls(req: DeleteAclsRequest): Promise<DeleteAclsResponse> {
    return this.run(
      'deleteAcls',
      (img) => this.core.deleteAcls(img, req),
      (errorCode, errorMessage) => ({ results: (req.filters ?? []).map(() => ({ errorCode, errorMessage, deleted: [] })) }),
    );
  }

  alterUserScramCredentials(req: AlterUserScramCredentialsRequest): Promise<AlterUserScramCredentialsResponse> {
    return this.run(
      'alterUserScramCredentials',
      (img) => this.core.alterUserScramCredentials(img, req),
      (errorCode, errorMessage) => ({ results: [...(req.deletions ?? []), ...(req.upsertions ?? [])].map((u) => ({ name: u.name, errorCode, errorMessage })) }),
    );
  }

  alterClientQuotas(req: AlterClientQuotasRequest): Promise<AlterClientQuotasResponse> {
    return this.run(
      'alterClientQuotas',
      (img) => this.core.alterClientQuotas(img, req),
      (errorCode, errorMessage) => ({ results: (req.alterations ?? []).map(() => ({ errorCode, errorMessage })) }),
    );
  }

  alterReassignments(req: AlterReassignmentsRequest): Promise<AlterReassignmentsResponse> {
    return this.run(
      'alterReassignments',
      (img) => this.core.alterReassignments(img, req),
      (errorCode, errorMessage) => ({
        results: req.reassignments.map((r) => ({ topic: r.topic, partition: r.partition, errorCode, errorMessage })),
      }),
    );
  }

  electLeaders(req: ElectLeadersRequest): Promise<ElectLeadersResponse> {
    return this.run(
      'electLeaders',
      (img) => this.core.electLeaders(img, req),
      (errorCode, errorMessage) => ({ errorCode, errorMessage, moved: 0 }),
    );
  }

  /**
   * Runs `op` on the event loop. A CairnError on the way (not the active controller, leadership
   * lost before the records committed, a full queue, a metadata-log write error) becomes the
   * answer `refused` builds (with the quorum leader as a hint); anything else is a bug and rejects.
   */
  private async run<T>(name: string, op: (image: MetadataImage) => ControllerResult<T>, refused: (errorCode: ErrorCode, errorMessage: string, leaderHint: number) => T): Promise<T> {
    // The first request after this node became leader must not wait for the timer to restart
    // the broker sessions: a registration touched before activation would be forgotten by it.
    if (this.o.log.isLeader() !== this.core.isActive) this.tick();
    if (!this.o.log.isLeader()) return refused(ErrorCode.NOT_CONTROLLER, `node ${this.o.config.nodeId} is not the active controller`, this.o.log.leaderId());
    try {
      return await this.loop.submit(name, op);
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      return refused(err.code, err.message, this.o.log.leaderId());
    }
  }
}
