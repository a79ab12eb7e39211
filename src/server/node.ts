import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemClock, type Clock } from '../common/clock';
import { CairnError, ErrorCode } from '../common/errors';
import { createLogger, type Logger } from '../common/logger';
import { SeededRandom } from '../common/random';
import { ensureClusterId, registerBroker } from '../controller/broker-ops';
import { QuorumController } from '../controller/quorum-controller';
import { alterTopicConfigs, createTopics, deleteTopics } from '../controller/topic-ops';
import { LocalMetadataLog } from '../metadata/local-metadata-log';
import type { MetadataLog } from '../metadata/metadata-log';
import { MetadataPublisher } from '../metadata/metadata-publisher';
import { SERVER_OPTIONS, serviceDefinition } from '../protocol/rpc';
import { ReplicaManager } from '../replication/replica-manager';
import { DEFAULT_LOG_CONFIG, resolveLogConfig, validateTopicConfigs } from '../storage/log-config';
import { LogManager } from '../storage/log-manager';
import { adminService, type ControllerChannel } from './admin-service';
import { brokerService } from './broker-service';
import type { NodeConfig } from './config';
import { FetchHandler } from './fetch-handler';
import { ProduceHandler } from './produce-handler';

/**
 * One `cairn server` process (design brief §1): wires storage, the metadata log, the controller
 * (if this node is a controller), the replica manager (if a broker) and the gRPC server.
 */
export class CairnNode {
  readonly logger: Logger;
  private server: grpc.Server | null = null;
  private logs: LogManager | null = null;
  private metadataLog: (MetadataLog & { close(): void }) | null = null;
  readonly publisher: MetadataPublisher;
  private replicas: ReplicaManager | null = null;
  private controller: QuorumController | null = null;
  private accepting = false;
  private boundPort = 0;
  private readonly incarnationId = randomBytes(8).toString('hex');

  constructor(
    readonly config: NodeConfig,
    logger?: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.logger = logger ?? createLogger({ node: config.nodeId });
    this.publisher = new MetadataPublisher(this.logger);
  }

  get port(): number {
    return this.boundPort;
  }

  private checkDataDir(): void {
    fs.mkdirSync(this.config.dataDir, { recursive: true });
    const meta = path.join(this.config.dataDir, 'meta.properties');
    if (fs.existsSync(meta)) {
      const m = /node\.id=(\d+)/.exec(fs.readFileSync(meta, 'utf8'));
      if (m && Number(m[1]) !== this.config.nodeId) {
        throw new Error(`data directory ${this.config.dataDir} belongs to node ${m[1]}, not ${this.config.nodeId}`);
      }
    } else {
      fs.writeFileSync(meta, `version=1\nnode.id=${this.config.nodeId}\n`);
    }
  }

  async start(): Promise<void> {
    const c = this.config;
    this.checkDataDir();
    this.logger.info({ roles: c.roles, listen: `${c.listen.host}:${c.listen.port}`, dataDir: c.dataDir, voters: c.voters.map((v) => v.id) }, 'node starting');
    const logDefaults = resolveLogConfig(c.logDefaults, DEFAULT_LOG_CONFIG);
    validateTopicConfigs(c.logDefaults);

    this.metadataLog = this.openMetadataLog();
    this.logs = new LogManager({
      dataDir: c.dataDir,
      flushPolicy: c.flushPolicy,
      logger: this.logger,
      nowMs: () => this.clock.nowMs(),
      retentionCheckIntervalMs: c.logRetentionCheckIntervalMs,
    });
    const isBroker = c.roles.includes('broker');
    if (isBroker) this.replicas = new ReplicaManager(c.nodeId, this.logs, this.clock, this.logger, logDefaults);
    this.metadataLog.subscribe(this.publisher);
    if (this.replicas) {
      const rm = this.replicas;
      this.logs.load((topic) => rm.configForExistingTopic(this.publisher.image, topic));
      this.publisher.addListener((image, changes) => rm.applyImage(image, changes));
      rm.applyImage(this.publisher.image, null);
    }
    if (c.roles.includes('controller')) {
      this.controller = new QuorumController(this.metadataLog, this.publisher, new SeededRandom(Number.parseInt(this.incarnationId.slice(0, 8), 16)), this.logger);
    }

    this.server = new grpc.Server(SERVER_OPTIONS);
    const image = () => this.publisher.image;
    if (this.replicas) {
      this.server.addService(
        serviceDefinition('cairn.v1.Broker'),
        brokerService({
          logger: this.logger,
          produce: new ProduceHandler(this.replicas, this.clock, this.logger),
          fetch: new FetchHandler(this.replicas, this.clock, this.logger),
          image,
          controllerId: () => this.metadataLog?.leaderId() ?? -1,
          acceptingRequests: () => this.accepting,
        }),
      );
    }
    this.server.addService(serviceDefinition('cairn.v1.Admin'), adminService(this.logger, this.controllerChannel(), image));
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server!.bindAsync(`${c.listen.host}:${c.listen.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.accepting = true;

    if (this.controller?.isActive) {
      await this.controller.submit('ensureClusterId', (img) => ensureClusterId(img, randomBytes(16).toString('base64url')));
    }
    if (isBroker) await this.register();
    this.logs.startBackgroundTasks();
    this.logger.info({ port: this.boundPort, clusterId: this.publisher.image.clusterId }, 'node started');
  }

  private openMetadataLog(): MetadataLog & { close(): void } {
    const c = this.config;
    const dir = path.join(c.dataDir, '__cluster_metadata-0');
    if (c.voters.length === 1 && c.voters[0]!.id === c.nodeId) return new LocalMetadataLog(dir, c.nodeId, this.logger);
    throw new Error('multi-node controller quorums need the Raft metadata log (not built yet)');
  }

  private async register(): Promise<void> {
    const c = this.config;
    if (!this.controller) throw new Error('a broker without a local controller needs the controller RPCs (not built yet)');
    const advertisedPort = c.advertised.port === 0 ? this.boundPort : c.advertised.port;
    await this.controller.submit('registerBroker', (img) =>
      registerBroker(img, { brokerId: c.nodeId, incarnationId: this.incarnationId, host: c.advertised.host, port: advertisedPort, rack: c.rack }, false),
    );
  }

  private controllerChannel(): ControllerChannel {
    const local = () => {
      if (!this.controller || !this.controller.isActive) throw new CairnError(ErrorCode.NOT_CONTROLLER, 'this node is not the active controller');
      return this.controller;
    };
    const defaults = () => ({ numPartitions: this.config.numPartitions, replicationFactor: this.config.defaultReplicationFactor });
    return {
      createTopics: async (req) => {
        const ctl = local();
        const results = await ctl.submit('createTopics', (img) => createTopics(img, req.topics, defaults(), ctl.random, req.validateOnly));
        return { results };
      },
      deleteTopics: async (req) => ({ results: await local().submit('deleteTopics', (img) => deleteTopics(img, req.names)) }),
      alterConfigs: (req) => local().submit('alterConfigs', (img) => alterTopicConfigs(img, req.topic, req.set ?? {}, req.delete ?? [], req.validateOnly)),
    };
  }

  /** Graceful shutdown (SIGTERM): stop taking requests, let in-flight ones finish, flush, close. */
  async stop(): Promise<void> {
    this.logger.info({}, 'node stopping');
    this.accepting = false;
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    await this.replicas?.close();
    await this.logs?.close();
    this.metadataLog?.close();
    this.logger.info({}, 'node stopped');
  }
}
