import { performance } from 'node:perf_hooks';
import { CairnError, ErrorCode, errorName } from '../common/errors';
import type { Logger } from '../common/logger';
import type { MetadataPublisher } from '../metadata/metadata-publisher';
import type { ControllerClient } from './controller-client';

interface HeartbeatResponse {
  errorCode: number;
  errorMessage?: string;
  isFenced: boolean;
  isCaughtUp: boolean;
  shouldShutdown: boolean;
  leaderHint?: number;
}

/**
 * A broker's side of the controller protocol (Kafka's BrokerLifecycleManager): register with a
 * fresh incarnation, heartbeat every interval with how far the metadata log has been replayed,
 * get unfenced once caught up, and on shutdown ask the controller to move leadership away before
 * stopping (controlled shutdown).
 */
export class BrokerLifecycle {
  brokerEpoch = -1;
  fenced = true;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private wantShutdown = false;
  private inflight: Promise<HeartbeatResponse | null> | null = null;

  constructor(
    private readonly o: {
      nodeId: number;
      incarnationId: string;
      host: string;
      port: number;
      /** The advertised internal listener, when the node has one apart from clients. */
      internal: { host: string; port: number } | null;
      rack: string | null;
      heartbeatIntervalMs: number;
      controllers: ControllerClient;
      publisher: MetadataPublisher;
      logger: Logger;
      /** Replicas whose log is offline here, reported with every heartbeat. */
      offlinePartitions: () => string[];
    },
  ) {}

  /** Registers (retrying until a controller answers) and starts heartbeating. */
  async start(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const res = await this.o.controllers.call<{ errorCode: number; errorMessage?: string; brokerEpoch: number }>('Controller', 'RegisterBroker', {
          brokerId: this.o.nodeId,
          incarnationId: this.o.incarnationId,
          host: this.o.host,
          port: this.o.port,
          internalHost: this.o.internal?.host ?? '',
          internalPort: this.o.internal?.port ?? 0,
          rack: this.o.rack ?? '',
        });
        if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage);
        this.brokerEpoch = res.brokerEpoch;
        this.o.logger.info({ brokerEpoch: res.brokerEpoch, controller: this.o.controllers.leaderHint }, 'registered with controller');
        break;
      } catch (err) {
        const code = err instanceof CairnError ? err.code : ErrorCode.NETWORK_EXCEPTION;
        if (code === ErrorCode.DUPLICATE_BROKER_REGISTRATION && attempt > 20) throw err;
        if (attempt % 10 === 0) this.o.logger.warn({ err: `${errorName(code)}: ${(err as Error).message}`, attempt }, 'broker registration failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
      }
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat(), ms);
  }

  private async beat(): Promise<HeartbeatResponse | null> {
    if (this.inflight) return this.inflight;
    this.inflight = this.sendHeartbeat();
    const res = await this.inflight;
    this.inflight = null;
    this.schedule(this.o.heartbeatIntervalMs);
    return res;
  }

  private async sendHeartbeat(): Promise<HeartbeatResponse | null> {
    try {
      const res = await this.o.controllers.call<HeartbeatResponse>('Controller', 'BrokerHeartbeat', {
        brokerId: this.o.nodeId,
        brokerEpoch: this.brokerEpoch,
        incarnationId: this.o.incarnationId,
        metadataOffset: this.o.publisher.image.offset,
        wantFence: false,
        wantShutdown: this.wantShutdown,
        offlinePartitions: this.o.offlinePartitions(),
      }, Math.max(1000, this.o.heartbeatIntervalMs));
      if (res.errorCode === ErrorCode.STALE_BROKER_EPOCH || res.errorCode === ErrorCode.BROKER_ID_NOT_REGISTERED) {
        // The controller no longer knows this incarnation (e.g. fenced and replaced): register again.
        this.o.logger.warn({ err: errorName(res.errorCode) }, 'heartbeat refused; registering again');
        if (this.timer) clearTimeout(this.timer);
        void this.start();
        return null;
      }
      if (res.errorCode !== ErrorCode.NONE) return null;
      if (this.fenced !== res.isFenced) this.o.logger.info({ fenced: res.isFenced, brokerEpoch: this.brokerEpoch }, res.isFenced ? 'broker fenced' : 'broker unfenced');
      this.fenced = res.isFenced;
      return res;
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'heartbeat failed');
      return null;
    }
  }

  /**
   * Controlled shutdown: heartbeats asking to shut down until the controller says this broker
   * leads nothing, or `timeoutMs` passes (then the broker stops anyway; its leaders move on
   * session expiry).
   */
  async controlledShutdown(timeoutMs: number): Promise<boolean> {
    if (this.brokerEpoch < 0) return true;
    this.wantShutdown = true;
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.timer) clearTimeout(this.timer);
      const res = await this.beat();
      if (res?.shouldShutdown) {
        this.o.logger.info({}, 'controlled shutdown complete: no partitions led here');
        return true;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.o.logger.warn({ timeoutMs }, 'controlled shutdown timed out');
    return false;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
