import { CairnError, type Clock, ErrorCode, errorName, type Logger, type TimerHandle, type Timers } from '../common';
import type { BrokerRegistrationRequest, HeartbeatRequest, HeartbeatResponse, RegisterBrokerResponse } from './broker-ops';

/**
 * How a broker reaches the active controller: gRPC through the voters in production
 * (server/broker-lifecycle.ts), the simulated network in the whole-cluster simulation. A promise
 * that rejects is a transport failure (no controller answered, a timeout); a refusal is an
 * answer with an error code.
 */
export interface ControllerTransport {
  registerBroker(req: BrokerRegistrationRequest): Promise<RegisterBrokerResponse>;
  brokerHeartbeat(req: HeartbeatRequest, timeoutMs: number): Promise<HeartbeatResponse>;
}

export interface BrokerSessionClientOptions {
  nodeId: number;
  /** Random per process start: tells this process's registration from an earlier one's. */
  incarnationId: string;
  host: string;
  port: number;
  /** The advertised internal listener, when the node has one apart from clients. */
  internal: { host: string; port: number } | null;
  /** Where its Prometheus endpoint answers, when it serves one. */
  metrics?: { host: string; port: number } | null;
  rack: string | null;
  /** broker.heartbeat.interval.ms */
  heartbeatIntervalMs: number;
  transport: ControllerTransport;
  /** How far this broker has replayed the metadata log (its image's offset). */
  metadataOffset: () => number;
  /** `topicId:partition` of replicas whose log is offline here, reported with every heartbeat. */
  offlinePartitions: () => string[];
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

/** Registration retries back off up to this. */
const REGISTER_BACKOFF_MAX_MS = 1_000;
/** A broker whose id another live process holds gives up after this many refusals. */
const DUPLICATE_REGISTRATION_ATTEMPTS_MAX = 20;
/** Pause between heartbeats of a controlled shutdown. */
const SHUTDOWN_POLL_MS = 100;

/**
 * A broker's side of the controller protocol (Kafka's BrokerLifecycleManager): register with a
 * fresh incarnation, heartbeat every interval with how far the metadata log has been replayed,
 * get unfenced once caught up, and on shutdown ask the controller to move leadership away before
 * stopping (controlled shutdown). Time and timers are injected, so the simulation runs it as is.
 */
export class BrokerSessionClient {
  private epoch = -1;
  private isFenced = true;
  private timer: TimerHandle | null = null;
  private stopped = false;
  private wantShutdown = false;
  private inflight: Promise<HeartbeatResponse | null> | null = null;
  private registering: Promise<void> | null = null;

  constructor(private readonly o: BrokerSessionClientOptions) {}

  /** The epoch of this incarnation's registration; -1 until registered. */
  get brokerEpoch(): number {
    return this.epoch;
  }

  /** As the last heartbeat answer said (true until a controller unfences this broker). */
  get fenced(): boolean {
    return this.isFenced;
  }

  /**
   * Registers (retrying until a controller answers) and starts heartbeating. Rejects only when
   * another live process keeps holding this broker id.
   */
  start(): Promise<void> {
    if (!this.registering) {
      this.registering = this.register().finally(() => {
        this.registering = null;
      });
    }
    return this.registering;
  }

  private async register(): Promise<void> {
    this.cancelTimer();
    for (let attempt = 0; !this.stopped; attempt++) {
      let code: ErrorCode;
      let message: string;
      try {
        const res = await this.o.transport.registerBroker({
          brokerId: this.o.nodeId,
          incarnationId: this.o.incarnationId,
          host: this.o.host,
          port: this.o.port,
          ...(this.o.internal ? { internalHost: this.o.internal.host, internalPort: this.o.internal.port } : {}),
          ...(this.o.metrics ? { metricsHost: this.o.metrics.host, metricsPort: this.o.metrics.port } : {}),
          rack: this.o.rack,
        });
        if (res.errorCode === ErrorCode.NONE) {
          this.epoch = res.brokerEpoch;
          this.o.logger.info({ brokerEpoch: res.brokerEpoch }, 'registered with controller');
          this.schedule(0);
          return;
        }
        code = res.errorCode;
        message = res.errorMessage ?? '';
      } catch (err) {
        code = err instanceof CairnError ? err.code : ErrorCode.NETWORK_EXCEPTION;
        message = (err as Error).message;
      }
      if (code === ErrorCode.DUPLICATE_BROKER_REGISTRATION && attempt > DUPLICATE_REGISTRATION_ATTEMPTS_MAX) throw new CairnError(code, message);
      if (attempt % 10 === 0) this.o.logger.warn({ err: `${errorName(code)}: ${message}`, attempt }, 'broker registration failed; retrying');
      await this.sleep(Math.min(REGISTER_BACKOFF_MAX_MS, 100 * (attempt + 1)));
    }
  }

  private schedule(ms: number): void {
    this.cancelTimer();
    if (this.stopped) return;
    this.timer = this.o.timers.after(ms, () => void this.beat());
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private async beat(): Promise<HeartbeatResponse | null> {
    if (this.inflight) return this.inflight;
    this.inflight = this.sendHeartbeat();
    const res = await this.inflight;
    this.inflight = null;
    // While registering again, the registration schedules the next heartbeat.
    if (!this.registering) this.schedule(this.o.heartbeatIntervalMs);
    return res;
  }

  private async sendHeartbeat(): Promise<HeartbeatResponse | null> {
    let res: HeartbeatResponse;
    try {
      res = await this.o.transport.brokerHeartbeat(
        {
          brokerId: this.o.nodeId,
          brokerEpoch: this.epoch,
          incarnationId: this.o.incarnationId,
          metadataOffset: this.o.metadataOffset(),
          wantFence: false,
          wantShutdown: this.wantShutdown,
          offlinePartitions: this.o.offlinePartitions(),
        },
        Math.max(1000, this.o.heartbeatIntervalMs),
      );
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'heartbeat failed');
      return null;
    }
    if (res.errorCode === ErrorCode.STALE_BROKER_EPOCH || res.errorCode === ErrorCode.BROKER_ID_NOT_REGISTERED) {
      // The controller no longer knows this incarnation (e.g. fenced and replaced): register again.
      this.o.logger.warn({ err: errorName(res.errorCode) }, 'heartbeat refused; registering again');
      this.start().catch((err: Error) => this.o.logger.error({ err: err.message }, 'broker registration gave up'));
      return null;
    }
    if (res.errorCode !== ErrorCode.NONE) return null;
    if (this.isFenced !== res.isFenced) this.o.logger.info({ fenced: res.isFenced, brokerEpoch: this.epoch }, res.isFenced ? 'broker fenced' : 'broker unfenced');
    this.isFenced = res.isFenced;
    return res;
  }

  /**
   * Controlled shutdown: heartbeats asking to shut down until the controller says this broker
   * leads nothing, or `timeoutMs` passes (then the broker stops anyway; its leaders move on
   * session expiry).
   */
  async controlledShutdown(timeoutMs: number): Promise<boolean> {
    if (this.epoch < 0) return true;
    this.wantShutdown = true;
    const deadline = this.o.clock.nowMs() + timeoutMs;
    while (this.o.clock.nowMs() < deadline) {
      this.cancelTimer();
      const res = await this.beat();
      if (res?.shouldShutdown) {
        this.o.logger.info({}, 'controlled shutdown complete: no partitions led here');
        return true;
      }
      await this.sleep(SHUTDOWN_POLL_MS);
    }
    this.o.logger.warn({ timeoutMs }, 'controlled shutdown timed out');
    return false;
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.o.timers.after(ms, resolve));
  }
}
