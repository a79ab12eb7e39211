import type * as grpc from '@grpc/grpc-js';
import * as path from 'node:path';
import type { Clock } from '../common/clock';
import { CairnError, ErrorCode } from '../common/errors';
import type { Logger } from '../common/logger';
import { SeededRandom } from '../common/random';
import { brokerHeartbeat, ensureClusterId, expireRegistrations, type HeartbeatRequest, registerBroker } from '../controller/broker-ops';
import { fenceExpired } from '../controller/controller-ops';
import { type AlterPartitionItem, alterPartition, alterReassignments } from '../controller/isr-ops';
import { BrokerHeartbeatManager } from '../controller/heartbeat-manager';
import { preferredLeaderChanges } from '../controller/partition-ops';
import { QuorumController } from '../controller/quorum-controller';
import { alterTopicConfigs, createTopics, deleteTopics } from '../controller/topic-ops';
import type { MetadataImage } from '../metadata/image';
import { LocalMetadataLog } from '../metadata/local-metadata-log';
import type { MetadataListener, MetadataLog } from '../metadata/metadata-log';
import type { MetadataPublisher } from '../metadata/metadata-publisher';
import { encodeRecords } from '../metadata/records';
import { RaftDriver } from '../raft/raft-driver';
import { RaftTransport } from '../raft/raft-transport';
import { fromWire, type RaftMessageWire } from '../raft/raft-wire';
import type { ControllerChannel } from './admin-service';
import type { NodeConfig } from './config';
import { peerAddress } from './config';
import { invalidArgument, unary } from './grpc-util';

const TICK_MS = 250;

/**
 * The controller role of a node (design brief §5): the metadata log (Raft across the voters, or a
 * local file when this node is the only voter), the active controller's event loop, broker
 * sessions, and the periodic work — fencing expired brokers, moving leadership back to preferred
 * replicas. Serves the Raft and Controller gRPC services.
 */
export class ControllerRole {
  readonly log: MetadataLog & { close(): void | Promise<void> };
  readonly controller: QuorumController;
  readonly heartbeats: BrokerHeartbeatManager;
  private timer: NodeJS.Timeout | null = null;
  private wasActive = false;
  private lastRebalanceMs = 0;

  private constructor(
    private readonly config: NodeConfig,
    log: MetadataLog & { close(): void | Promise<void> },
    private readonly publisher: MetadataPublisher,
    private readonly clock: Clock,
    private readonly logger: Logger,
    seed: number,
  ) {
    this.log = log;
    this.controller = new QuorumController(log, publisher, new SeededRandom(seed), logger);
    this.heartbeats = new BrokerHeartbeatManager(config.brokerSessionTimeoutMs);
  }

  static async open(config: NodeConfig, publisher: MetadataPublisher, clock: Clock, logger: Logger, seed: number, onFatal: (err: Error) => void): Promise<ControllerRole> {
    const dir = path.join(config.dataDir, '__cluster_metadata-0');
    const single = config.voters.length === 1 && config.voters[0]!.id === config.nodeId;
    let log: MetadataLog & { close(): void | Promise<void> };
    if (single) {
      log = new LocalMetadataLog(dir, config.nodeId, logger);
    } else {
      const peers = new Map<number, string>();
      for (const v of config.voters) {
        if (v.id === config.nodeId) continue;
        const a = peerAddress(config, v.id, v)!;
        peers.set(v.id, `${a.host}:${a.port}`);
      }
      log = await RaftDriver.open({
        nodeId: config.nodeId,
        voters: config.voters.map((v) => v.id),
        dir,
        transport: new RaftTransport(peers, logger),
        electionTimeoutMs: config.electionTimeoutMs,
        heartbeatIntervalMs: config.raftHeartbeatIntervalMs,
        snapshotEvery: config.metadataSnapshotEvery,
        snapshotData: () => encodeRecords(publisher.image.toRecords()),
        logger,
        clock,
        random: new SeededRandom(seed ^ 0x5bd1e995),
        onFatal,
      });
    }
    return new ControllerRole(config, log, publisher, clock, logger, seed);
  }

  /** Subscribe listeners first, then start: the persisted snapshot is delivered to them. */
  start(): void {
    if (this.log instanceof RaftDriver) this.log.start();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  subscribe(listener: MetadataListener): void {
    this.log.subscribe(listener);
  }

  get isActive(): boolean {
    return this.controller.isActive;
  }

  private tick(): void {
    const now = this.clock.nowMs();
    const active = this.controller.isActive;
    if (active && !this.wasActive) {
      this.heartbeats.activate(now);
      this.lastRebalanceMs = now;
      this.logger.info({ term: this.log.leaderEpoch() }, 'became active controller');
      void this.controller.submit('ensureClusterId', (img) => ensureClusterId(img, `${this.config.nodeId}-${now.toString(36)}-${Math.floor(this.controller.random.next() * 2 ** 32).toString(36)}`)).catch(() => undefined);
    }
    this.wasActive = active;
    if (!active) return;
    const image = this.publisher.image;
    if (this.silentBrokers(image, false).length > 0) {
      this.controller
        .submit('fenceExpired', (img) => fenceExpired(img, this.silentBrokers(img, false), this.config.uncleanLeaderElection))
        .then((fenced) => {
          if (fenced.length > 0) this.logger.warn({ brokers: fenced, sessionTimeoutMs: this.config.brokerSessionTimeoutMs }, 'brokers fenced: session expired');
        })
        .catch(() => undefined);
    }
    if (expireRegistrations(image, this.silentBrokers(image, true)).records.length > 0) {
      this.controller
        .submit('expireRegistrations', (img) => expireRegistrations(img, this.silentBrokers(img, true)))
        .then((gone) => {
          if (gone.length > 0) this.logger.warn({ brokers: gone }, 'registrations removed: fenced, silent for a session and hosting no replica');
        })
        .catch(() => undefined);
    }
    if (this.config.autoLeaderRebalance && now - this.lastRebalanceMs >= this.config.leaderImbalanceCheckIntervalMs) {
      this.lastRebalanceMs = now;
      void this.controller.submit('preferredLeaders', (img) => ({ records: preferredLeaderChanges(img), response: undefined })).catch(() => undefined);
    }
  }

  /** The brokers of `image`, fenced or not as asked, whose session has run out by now. */
  private silentBrokers(image: MetadataImage, fenced: boolean): number[] {
    return this.heartbeats.expired([...image.brokers.values()].filter((b) => b.fenced === fenced).map((b) => b.id), this.clock.nowMs());
  }

  /** Admin operations against this node's controller (callers forward when it is not active). */
  channel(): ControllerChannel {
    const ctl = this.controller;
    // In combined mode every voter is taken to be a broker too (how Cairn's small clusters run).
    const expectedBrokers = this.config.roles.includes('broker') ? this.config.voters.length : 0;
    const defaults = () => ({ numPartitions: this.config.numPartitions, replicationFactor: this.config.defaultReplicationFactor, expectedBrokers, maxPartitions: this.config.maxPartitions });
    return {
      createTopics: async (req) => ({ results: await ctl.submit('createTopics', (img) => createTopics(img, req.topics, defaults(), ctl.random, req.validateOnly)) }),
      deleteTopics: async (req) => ({ results: await ctl.submit('deleteTopics', (img) => deleteTopics(img, req.names)) }),
      alterConfigs: (req) => ctl.submit('alterConfigs', (img) => alterTopicConfigs(img, req.topic, req.set ?? {}, req.delete ?? [], req.validateOnly)),
      alterReassignments: async (req) => ({ results: await ctl.submit('alterReassignments', (img) => alterReassignments(img, req.reassignments, this.config.uncleanLeaderElection)) }),
      electLeaders: async (req) => {
        const moved = await ctl.submit('electLeaders', (img) => {
          const records = preferredLeaderChanges(img, req.topics);
          return { records, response: records.length };
        });
        return { errorCode: ErrorCode.NONE, errorMessage: '', moved };
      },
    };
  }

  private notController() {
    return { errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: `node ${this.config.nodeId} is not the active controller`, leaderHint: this.log.leaderId() };
  }

  /** Answers a controller RPC with NOT_CONTROLLER (and a hint) unless this node is active; maps CairnErrors to codes. */
  private guarded<Req, Res>(name: string, fn: (req: Req) => Promise<Res>): (req: Req) => Promise<Res | ReturnType<ControllerRole['notController']>> {
    return async (req) => {
      if (!this.controller.isActive) return this.notController();
      try {
        return await fn(req);
      } catch (err) {
        if (err instanceof CairnError) return { errorCode: err.code, errorMessage: err.message, leaderHint: this.log.leaderId() } as never;
        this.logger.error({ op: name, err: (err as Error).stack }, 'controller request failed');
        throw err;
      }
    };
  }

  services(): { raft: grpc.UntypedServiceImplementation; controller: grpc.UntypedServiceImplementation } {
    const raft: grpc.UntypedServiceImplementation = {
      Send: (call: grpc.ServerReadableStream<RaftMessageWire, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        call.on('data', (w: RaftMessageWire) => {
          if (!(this.log instanceof RaftDriver)) return;
          const parsed = fromWire(w);
          if ('problem' in parsed) {
            this.logger.warn({ problem: parsed.problem, from: w.from }, 'malformed raft message dropped');
            return;
          }
          if (parsed.message.to !== this.config.nodeId) return;
          this.log.receive(parsed.message);
        });
        call.on('end', () => callback(null, {}));
        call.on('error', () => undefined);
      },
    };
    const controller: grpc.UntypedServiceImplementation = {
      RegisterBroker: unary(
        this.logger,
        this.guarded('registerBroker', async (req: { brokerId: number; incarnationId: string; host: string; port: number; internalHost: string; internalPort: number; rack: string }) => {
          const now = this.clock.nowMs();
          const res = await this.controller.submit('registerBroker', (img) =>
            registerBroker(img, { ...req, rack: req.rack || null }, true, (id) => this.heartbeats.hasLiveSession(id, this.clock.nowMs()), this.config.uncleanLeaderElection),
          );
          this.heartbeats.touch(req.brokerId, now);
          this.logger.info({ broker: req.brokerId, brokerEpoch: res.brokerEpoch, host: req.host, port: req.port }, 'broker registered');
          return { errorCode: ErrorCode.NONE, brokerEpoch: res.brokerEpoch };
        }),
      ),
      BrokerHeartbeat: unary(
        this.logger,
        this.guarded('brokerHeartbeat', async (req: HeartbeatRequest & { offlinePartitions: string[] }) => {
          const b = this.publisher.image.brokers.get(req.brokerId);
          if (b && b.epoch === req.brokerEpoch && b.incarnationId === req.incarnationId) this.heartbeats.touch(req.brokerId, this.clock.nowMs());
          const res = await this.controller.submit('brokerHeartbeat', (img) => brokerHeartbeat(img, req, img.brokers.get(req.brokerId)?.registeredAtOffset ?? Infinity, this.config.uncleanLeaderElection));
          return { errorCode: ErrorCode.NONE, ...res };
        }),
      ),
      FetchMetadata: (call: grpc.ServerWritableStream<{ brokerId: number; fromOffset: number }, unknown>) => this.serveMetadata(call),
      AlterPartition: unary(
        this.logger,
        this.guarded('alterPartition', async (req: { brokerId: number; brokerEpoch: number; partitions: AlterPartitionItem[] }) => {
          const results = await this.controller.submit('alterPartition', (img) => alterPartition(img, req.brokerId, req.brokerEpoch, req.partitions, this.config.uncleanLeaderElection));
          for (const r of results) {
            if (r.errorCode === ErrorCode.NONE) this.logger.info({ topicId: r.topicId, partition: r.partition, isr: r.isr, partitionEpoch: r.partitionEpoch, broker: req.brokerId }, 'isr changed');
          }
          return { errorCode: ErrorCode.NONE, results };
        }),
      ),
    };
    return { raft, controller };
  }

  /** Streams committed metadata to a broker: a snapshot if it is too far behind, then every batch as it commits. */
  private serveMetadata(call: grpc.ServerWritableStream<{ brokerId: number; fromOffset: number }, unknown>): void {
    const from = Number(call.request.fromOffset);
    if (!Number.isSafeInteger(from) || from < 1) {
      call.emit('error', invalidArgument(`fromOffset must be a positive integer, not ${call.request.fromOffset}`));
      return;
    }
    let sent = from - 1;
    const write = (offset: number, records: Buffer, snapshot: boolean) => {
      call.write({ offset, records, snapshot });
      sent = offset;
    };
    const snapshot = () => write(this.publisher.image.offset, encodeRecords(this.publisher.image.toRecords()), true);
    const image = this.publisher.image;
    if (from <= image.offset) {
      const batches = this.log.readCommitted?.(from) ?? null;
      if (batches !== null && batches.length > 0 && batches[batches.length - 1]!.offset === image.offset) {
        for (const b of batches) write(b.offset, encodeRecords(b.records), false);
      } else {
        snapshot();
      }
    }
    const stop = this.log.follow({
      onCommit: (b) => {
        if (b.offset <= sent) return;
        if (b.offset === sent + 1) write(b.offset, encodeRecords(b.records), false);
        else snapshot(); // the broker asked for an offset this node had not reached: catch it up wholesale
      },
      onSnapshot: () => snapshot(),
    });
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.log.close();
  }
}
