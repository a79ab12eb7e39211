import type * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CairnError, type Clock, ErrorCode, type Logger, SeededRandom, type Timers } from '../common';
import { systemTimers } from '../common/io';
import { type AllocateProducerIdsRequest, type AlterPartitionItem, ControllerService, type HeartbeatRequest } from '../controller';
import { encodeRecords, internalEndpoint, type MetadataListener, type MetadataPublisher, type QuorumMembershipRecord } from '../metadata';
import { RaftDriver, RaftTransport } from '../raft/io';
import { fromWire, type Membership, type RaftMessageWire } from '../raft';
import type { ControllerChannel, QuorumChangeRequest, QuorumChangeResponse, QuorumChannel } from './admin-service';
import { type NodeConfig, peerAddress } from './config';
import { invalidArgument, unary } from './grpc-util';

/** How long an add-controller may wait for the new voter to catch up, unless the request says. */
export const DEFAULT_QUORUM_CHANGE_TIMEOUT_MS = 60_000;

/** The time a quorum change may take: the request's, or the default. */
export function quorumChangeTimeoutMs(req: QuorumChangeRequest): number {
  return req.timeoutMs > 0 ? req.timeoutMs : DEFAULT_QUORUM_CHANGE_TIMEOUT_MS;
}

/**
 * Where each controller listens, this node included: `controller.quorum.voters` (or its
 * overrides), then the endpoints `membership` records for voters added at run time (KIP-853).
 */
export function controllerAddresses(config: NodeConfig, membership: Pick<Membership, 'voters' | 'learners'> | QuorumMembershipRecord | null): Map<number, string> {
  const addresses = new Map<number, string>();
  for (const v of config.voters) {
    const a = peerAddress(config, v.id, v)!;
    addresses.set(v.id, `${a.host}:${a.port}`);
  }
  for (const m of membership ? [...membership.voters, ...membership.learners] : []) {
    if (m.endpoint === '' || config.peerOverrides.has(m.id)) continue;
    addresses.set(m.id, m.endpoint);
  }
  return addresses;
}

/** The other controllers' addresses, for the Raft transport. */
function raftPeerAddresses(config: NodeConfig, membership: Membership | null): Map<number, string> {
  const peers = controllerAddresses(config, membership);
  peers.delete(config.nodeId);
  return peers;
}

/** The file of the one-voter metadata log that Cairn kept before every controller ran Raft. */
export const LEGACY_METADATA_LOG_FILE = 'metadata.log';

/**
 * The metadata directory holds a `metadata.log` written by the one-voter metadata log that Cairn
 * no longer has (docs/upgrading.md): this version cannot read it, and starting on an empty Raft
 * log beside it would silently forget every topic.
 */
export class LegacyMetadataLogError extends CairnError {
  constructor(readonly file: string) {
    super(ErrorCode.INVALID_CONFIG, `${file} was written by an older single-node Cairn and cannot be read by this version; see docs/upgrading.md (remove the data directory to start afresh)`);
    this.name = 'LegacyMetadataLogError';
  }
}

/**
 * The controller role of a node (design brief §5), a shell: the metadata log (Raft across the
 * voters — one voter elects itself at once), the Raft and Controller gRPC services, and the
 * timers that drive the controller. What the controller decides lives in src/controller
 * (ControllerService over ControllerCore), which the simulation runs without any of this.
 */
export class ControllerRole {
  readonly log: RaftDriver;
  readonly service: ControllerService;

  private constructor(
    private readonly config: NodeConfig,
    log: RaftDriver,
    private readonly publisher: MetadataPublisher,
    clock: Clock,
    timers: Timers,
    private readonly logger: Logger,
    seed: number,
  ) {
    this.log = log;
    // In combined mode every voter is taken to be a broker too (how Cairn's small clusters run).
    const expectedBrokers = config.roles.includes('broker') ? config.voters.length : 0;
    this.service = new ControllerService({
      config: {
        nodeId: config.nodeId,
        brokerSessionTimeoutMs: config.brokerSessionTimeoutMs,
        uncleanLeaderElection: config.uncleanLeaderElection,
        autoLeaderRebalance: config.autoLeaderRebalance,
        leaderImbalanceCheckIntervalMs: config.leaderImbalanceCheckIntervalMs,
        topicDefaults: { numPartitions: config.numPartitions, replicationFactor: config.defaultReplicationFactor, expectedBrokers, maxPartitions: config.maxPartitions },
      },
      log,
      publisher,
      clock,
      timers,
      random: new SeededRandom(seed),
      logger,
    });
  }

  static async open(
    config: NodeConfig,
    publisher: MetadataPublisher,
    clock: Clock,
    logger: Logger,
    seed: number,
    onFatal: (err: Error) => void,
    timers: Timers = systemTimers,
    /** TLS toward the other voters when the internal listener is SSL. */
    peerCredentials?: grpc.ChannelCredentials,
  ): Promise<ControllerRole> {
    const dir = path.join(config.dataDir, '__cluster_metadata-0');
    const legacy = path.join(dir, LEGACY_METADATA_LOG_FILE);
    if (fs.existsSync(legacy)) {
      const err = new LegacyMetadataLogError(legacy);
      logger.fatal({ file: legacy, err: err.message }, 'metadata directory holds a legacy single-node metadata log');
      throw err;
    }
    if (!config.voters.some((v) => v.id === config.nodeId)) {
      logger.warn({ voters: config.voters.map((v) => v.id) }, 'this controller is not in controller.quorum.voters: it observes the quorum until `cairn cluster add-controller` makes it a voter');
    }
    const transport = new RaftTransport(raftPeerAddresses(config, null), logger, peerCredentials);
    const log = await RaftDriver.open({
      nodeId: config.nodeId,
      voters: config.voters.map((v) => v.id),
      dir,
      transport,
      onMembership: (m) => transport.setPeers(raftPeerAddresses(config, m)),
      electionTimeoutMs: config.electionTimeoutMs,
      heartbeatIntervalMs: config.raftHeartbeatIntervalMs,
      snapshotEvery: config.metadataSnapshotEvery,
      snapshotData: () => encodeRecords(publisher.image.toRecords()),
      logger,
      clock,
      timers,
      random: new SeededRandom(seed ^ 0x5bd1e995),
      onFatal,
    });
    return new ControllerRole(config, log, publisher, clock, timers, logger, seed);
  }

  /** Subscribe listeners first, then start: the persisted snapshot is delivered to them. */
  start(): void {
    this.log.start();
    this.service.start();
  }

  subscribe(listener: MetadataListener): void {
    this.log.subscribe(listener);
  }

  get isActive(): boolean {
    return this.service.isActive;
  }

  /** When the active controller last heard from `brokerId` (for DescribeQuorum). */
  lastContactMs(brokerId: number): number {
    return this.service.lastContactMs(brokerId);
  }

  /**
   * Adds or removes controller voters (KIP-853) at this node, the active controller. A new voter's
   * endpoint defaults to the internal address it registered with as a broker.
   */
  quorum(): QuorumChannel {
    const log = this.log;
    const answer = async (op: () => Promise<void>): Promise<QuorumChangeResponse> => {
      try {
        await op();
        return { errorCode: ErrorCode.NONE, errorMessage: '', leaderHint: this.config.nodeId };
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        return { errorCode: err.code, errorMessage: err.message, leaderHint: log.leaderId() };
      }
    };
    return {
      addController: (req) =>
        answer(async () => {
          const endpoint = req.endpoint || this.registeredEndpoint(req.nodeId);
          if (!endpoint) throw new CairnError(ErrorCode.INVALID_REQUEST, `node ${req.nodeId} has not registered as a broker: give its controller endpoint (host:port)`);
          if (!/^[^\s:]+:\d{1,5}$/.test(endpoint)) throw new CairnError(ErrorCode.INVALID_REQUEST, `endpoint "${endpoint}" is not host:port`);
          await log.addVoter(req.nodeId, endpoint, quorumChangeTimeoutMs(req));
        }),
      removeController: (req) => answer(() => log.removeVoter(req.nodeId, quorumChangeTimeoutMs(req))),
    };
  }

  private registeredEndpoint(id: number): string | null {
    const b = this.publisher.image.brokers.get(id);
    if (!b) return null;
    const { host, port } = internalEndpoint(b);
    return `${host}:${port}`;
  }

  /** Admin operations against this node's controller (callers forward when it is not active). */
  channel(): ControllerChannel {
    return this.service;
  }

  services(): { raft: grpc.UntypedServiceImplementation; controller: grpc.UntypedServiceImplementation } {
    const raft: grpc.UntypedServiceImplementation = {
      Send: (call: grpc.ServerReadableStream<RaftMessageWire, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        call.on('data', (w: RaftMessageWire) => {
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
    const svc = this.service;
    const controller: grpc.UntypedServiceImplementation = {
      RegisterBroker: unary(
        this.logger,
        (req: { brokerId: number; incarnationId: string; host: string; port: number; internalHost: string; internalPort: number; metricsHost: string; metricsPort: number; rack: string }) =>
          svc.registerBroker({
            brokerId: req.brokerId,
            incarnationId: req.incarnationId,
            host: req.host,
            port: req.port,
            ...(req.internalHost && req.internalPort ? { internalHost: req.internalHost, internalPort: req.internalPort } : {}),
            ...(req.metricsHost && req.metricsPort ? { metricsHost: req.metricsHost, metricsPort: req.metricsPort } : {}),
            rack: req.rack || null,
          }),
      ),
      BrokerHeartbeat: unary(this.logger, (req: HeartbeatRequest & { offlinePartitions: string[] }) => svc.brokerHeartbeat(req)),
      FetchMetadata: (call: grpc.ServerWritableStream<{ brokerId: number; fromOffset: number }, unknown>) => this.serveMetadata(call),
      AlterPartition: unary(this.logger, (req: { brokerId: number; brokerEpoch: number; partitions: AlterPartitionItem[] }) => svc.alterPartition(req)),
      AllocateProducerIds: unary(this.logger, (req: AllocateProducerIdsRequest) => svc.allocateProducerIds({ brokerId: req.brokerId, brokerEpoch: Number(req.brokerEpoch) })),
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
    this.service.stop();
    await this.log.close();
  }
}
