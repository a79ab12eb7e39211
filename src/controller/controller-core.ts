import { ErrorCode, type Random } from '../common';
import type { MetadataImage } from '../metadata';
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
import { alterClientQuotas, alterUserScramCredentials, createAcls, deleteAcls } from './security-ops';
import {
  brokerHeartbeat,
  type BrokerRegistrationRequest,
  ensureClusterId,
  expireRegistrations,
  type HeartbeatRequest,
  type HeartbeatResponse,
  registerBroker,
  type RegisterBrokerResponse,
} from './broker-ops';
import { fenceExpired } from './controller-ops';
import { BrokerHeartbeatManager } from './heartbeat-manager';
import { type AllocateProducerIdsRequest, type AllocateProducerIdsResponse, allocateProducerIds } from './producer-id-ops';
import { type AlterPartitionItem, type AlterPartitionResponse, alterPartition, alterReassignments } from './isr-ops';
import { preferredLeaderChanges } from './partition-ops';
import { alterTopicConfigs, type ControllerResult, createTopics, deleteTopics, type TopicDefaults } from './topic-ops';

/** What the controller core needs to know of the node's configuration. */
export interface ControllerCoreConfig {
  nodeId: number;
  /** broker.session.timeout.ms: a broker not heard from for this long is fenced. */
  brokerSessionTimeoutMs: number;
  /** unclean.leader.election.enable, the cluster default (a topic config overrides it). */
  uncleanLeaderElection: boolean;
  /** auto.leader.rebalance.enable */
  autoLeaderRebalance: boolean;
  /** leader.imbalance.check.interval.seconds, in ms. */
  leaderImbalanceCheckIntervalMs: number;
  topicDefaults: TopicDefaults;
}

/**
 * The controller's timed work, as data: `tick` returns these and the shell submits each to the
 * controller's event loop, where `runTask` turns it into records against the image of that
 * moment (a heartbeat that arrived in between is taken into account).
 */
export type ControllerTask =
  /** This controller just became active and the cluster has no id yet. */
  | { kind: 'ensureClusterId'; clusterId: string }
  /** Unfenced brokers whose session ran out by `nowMs` (listed as the tick saw them). */
  | { kind: 'fenceExpired'; nowMs: number; brokers: number[] }
  /** Fenced brokers silent for a session that host no replica (listed as the tick saw them). */
  | { kind: 'expireRegistrations'; nowMs: number; brokers: number[] }
  /** The preferred-leader check interval elapsed and some partition is not led by its first replica. */
  | { kind: 'rebalanceLeaders' };

export type ControllerTaskOutcome =
  { kind: 'ensureClusterId'; clusterId: string } | { kind: 'fenceExpired'; fenced: number[] } | { kind: 'expireRegistrations'; removed: number[] } | { kind: 'rebalanceLeaders'; moved: number };

export interface ControllerTickOutput {
  /** 'activated': this tick found the node newly active (sessions restarted); 'resigned': no longer. */
  transition: 'activated' | 'resigned' | null;
  tasks: ControllerTask[];
}

export interface ElectLeadersRequest {
  /** Empty: every topic. */
  topics: string[];
}

export interface ElectLeadersResponse {
  errorCode: ErrorCode;
  errorMessage: string;
  moved: number;
}

export interface AlterPartitionRequest {
  brokerId: number;
  brokerEpoch: number;
  partitions: AlterPartitionItem[];
}

/**
 * The active controller's decisions, pure (design brief §2, style §1): it owns the broker
 * sessions and the rebalance schedule, reads no clock and arms no timer — `nowMs` comes in with
 * every call — and answers each operation with the records to append and a response that
 * carries an error code. Expected refusals (a stale broker epoch, an unknown topic, a bad
 * replication factor) are codes; a throw is a bug. The shell (ControllerService) runs these on
 * the controller's event loop against the committed image plus the round's earlier records.
 */
export class ControllerCore {
  private readonly sessions: BrokerHeartbeatManager;
  private active = false;
  private lastRebalanceMs = 0;

  constructor(
    readonly config: ControllerCoreConfig,
    /** Seeded: topic ids, replica placement and the cluster id come from it. */
    readonly random: Random,
  ) {
    this.sessions = new BrokerHeartbeatManager(config.brokerSessionTimeoutMs);
  }

  /** Whether the last tick found this node the active controller. */
  get isActive(): boolean {
    return this.active;
  }

  /**
   * The timed work at `nowMs`. `isLeader` is whether the metadata log lets this node append (it
   * leads the quorum and has applied its own term's first entry). Becoming active restarts every
   * broker session (one timeout of grace, as Kafka: a failover never fences healthy brokers)
   * and the rebalance interval.
   */
  tick(nowMs: number, image: MetadataImage, isLeader: boolean): ControllerTickOutput {
    const tasks: ControllerTask[] = [];
    if (!isLeader) {
      const transition = this.active ? 'resigned' : null;
      this.active = false;
      return { transition, tasks };
    }
    let transition: ControllerTickOutput['transition'] = null;
    if (!this.active) {
      this.active = true;
      transition = 'activated';
      this.sessions.activate(nowMs);
      this.lastRebalanceMs = nowMs;
      if (image.clusterId === null) tasks.push({ kind: 'ensureClusterId', clusterId: this.newClusterId(nowMs) });
    }
    const expired = this.silentBrokers(image, false, nowMs);
    if (expired.length > 0) tasks.push({ kind: 'fenceExpired', nowMs, brokers: expired });
    const removable = expireRegistrations(image, this.silentBrokers(image, true, nowMs)).response;
    if (removable.length > 0) tasks.push({ kind: 'expireRegistrations', nowMs, brokers: removable });
    if (this.config.autoLeaderRebalance && nowMs - this.lastRebalanceMs >= this.config.leaderImbalanceCheckIntervalMs) {
      this.lastRebalanceMs = nowMs;
      if (preferredLeaderChanges(image).length > 0) tasks.push({ kind: 'rebalanceLeaders' });
    }
    return { transition, tasks };
  }

  /** A task from `tick`, against `image` (the event loop's working image). */
  runTask(image: MetadataImage, task: ControllerTask): ControllerResult<ControllerTaskOutcome> {
    switch (task.kind) {
      case 'ensureClusterId': {
        const r = ensureClusterId(image, task.clusterId);
        return { records: r.records, response: { kind: task.kind, clusterId: r.response } };
      }
      case 'fenceExpired': {
        const r = fenceExpired(image, this.silentBrokers(image, false, task.nowMs), this.config.uncleanLeaderElection);
        return { records: r.records, response: { kind: task.kind, fenced: r.response } };
      }
      case 'expireRegistrations': {
        const r = expireRegistrations(image, this.silentBrokers(image, true, task.nowMs));
        return { records: r.records, response: { kind: task.kind, removed: r.response } };
      }
      case 'rebalanceLeaders': {
        const records = preferredLeaderChanges(image);
        return { records, response: { kind: task.kind, moved: records.length } };
      }
    }
  }

  // ---- broker sessions ----

  /**
   * RegisterBroker. A live session under another incarnation refuses it
   * (DUPLICATE_BROKER_REGISTRATION). Call `sessionStarted` once its records committed.
   */
  registerBroker(image: MetadataImage, req: BrokerRegistrationRequest, nowMs: number): ControllerResult<RegisterBrokerResponse> {
    return registerBroker(image, req, true, (id) => this.sessions.hasLiveSession(id, nowMs), this.config.uncleanLeaderElection);
  }

  /** The registration of `brokerId` committed: its session starts at `nowMs`. */
  sessionStarted(brokerId: number, nowMs: number): void {
    this.sessions.touch(brokerId, nowMs);
  }

  /**
   * BrokerHeartbeat. Only a heartbeat of the registered incarnation at its current epoch renews
   * the session: the epoch alone is public, and a forgery must not keep a dead broker alive.
   */
  brokerHeartbeat(image: MetadataImage, req: HeartbeatRequest, nowMs: number): ControllerResult<HeartbeatResponse> {
    const b = image.brokers.get(req.brokerId);
    if (b && b.epoch === req.brokerEpoch && b.incarnationId === req.incarnationId) this.sessions.touch(req.brokerId, nowMs);
    return brokerHeartbeat(image, req, b?.registeredAtOffset ?? Infinity, this.config.uncleanLeaderElection);
  }

  /** When the broker was last heard from (or this controller's activation, if not since). */
  lastContactMs(brokerId: number): number {
    return this.sessions.lastContact(brokerId);
  }

  // ---- partitions and topics ----

  /** AllocateProducerIds: the next block of producer ids, for a registered broker at its current epoch. */
  allocateProducerIds(image: MetadataImage, req: AllocateProducerIdsRequest): ControllerResult<AllocateProducerIdsResponse> {
    return allocateProducerIds(image, req);
  }

  alterPartition(image: MetadataImage, req: AlterPartitionRequest): ControllerResult<AlterPartitionResponse> {
    return alterPartition(image, req.brokerId, req.brokerEpoch, req.partitions, this.config.uncleanLeaderElection);
  }

  createTopics(image: MetadataImage, req: CreateTopicsRequest): ControllerResult<CreateTopicsResponse> {
    const r = createTopics(image, req.topics, this.config.topicDefaults, this.random, req.validateOnly);
    return { records: r.records, response: { results: r.response } };
  }

  deleteTopics(image: MetadataImage, req: DeleteTopicsRequest): ControllerResult<DeleteTopicsResponse> {
    const r = deleteTopics(image, req.names);
    return { records: r.records, response: { results: r.response } };
  }

  alterConfigs(image: MetadataImage, req: AlterConfigsRequest): ControllerResult<AlterConfigsResponse> {
    return alterTopicConfigs(image, req.topic, req.set ?? {}, req.delete ?? [], req.validateOnly);
  }

  alterReassignments(image: MetadataImage, req: AlterReassignmentsRequest): ControllerResult<AlterReassignmentsResponse> {
    const r = alterReassignments(image, req.reassignments, this.config.uncleanLeaderElection);
    return { records: r.records, response: { results: r.response } };
  }

  /** Preferred-leader election on demand (`cairn cluster elect-leaders`); empty `topics`: all. */
  electLeaders(image: MetadataImage, req: ElectLeadersRequest): ControllerResult<ElectLeadersResponse> {
    const records = preferredLeaderChanges(image, req.topics);
    return { records, response: { errorCode: ErrorCode.NONE, errorMessage: '', moved: records.length } };
  }

  createAcls(image: MetadataImage, req: CreateAclsRequest): ControllerResult<CreateAclsResponse> {
    return createAcls(image, req, this.random);
  }

  deleteAcls(image: MetadataImage, req: DeleteAclsRequest): ControllerResult<DeleteAclsResponse> {
    return deleteAcls(image, req);
  }

  alterUserScramCredentials(image: MetadataImage, req: AlterUserScramCredentialsRequest): ControllerResult<AlterUserScramCredentialsResponse> {
    return alterUserScramCredentials(image, req);
  }

  alterClientQuotas(image: MetadataImage, req: AlterClientQuotasRequest): ControllerResult<AlterClientQuotasResponse> {
    return alterClientQuotas(image, req);
  }

  // ---- helpers ----

  /** The brokers of `image`, fenced or not as asked, whose session has run out by `nowMs`. */
  private silentBrokers(image: MetadataImage, fenced: boolean, nowMs: number): number[] {
    return this.sessions.expired(
      [...image.brokers.values()].filter((b) => b.fenced === fenced).map((b) => b.id),
      nowMs,
    );
  }

  private newClusterId(nowMs: number): string {
    return `${this.config.nodeId}-${Math.floor(nowMs).toString(36)}-${Math.floor(this.random.next() * 2 ** 32).toString(36)}`;
  }
}
