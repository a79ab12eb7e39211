import { type Clock, type Logger, type Timers } from '../common';
import { systemClock, systemTimers } from '../common/io';
import { type BrokerRegistrationRequest, BrokerSessionClient, type ControllerTransport, type HeartbeatRequest, type HeartbeatResponse, type RegisterBrokerResponse } from '../controller';
import type { MetadataPublisher } from '../metadata';
import type { ControllerClient } from './controller-client';

/** The broker's controller calls over gRPC, through the voters (ControllerClient follows NOT_CONTROLLER hints). */
export class GrpcControllerTransport implements ControllerTransport {
  constructor(private readonly controllers: ControllerClient) {}

  registerBroker(req: BrokerRegistrationRequest): Promise<RegisterBrokerResponse> {
    return this.controllers.call<RegisterBrokerResponse>('Controller', 'RegisterBroker', {
      brokerId: req.brokerId,
      incarnationId: req.incarnationId,
      host: req.host,
      port: req.port,
      internalHost: req.internalHost ?? '',
      internalPort: req.internalPort ?? 0,
      rack: req.rack ?? '',
    });
  }

  brokerHeartbeat(req: HeartbeatRequest, timeoutMs: number): Promise<HeartbeatResponse> {
    return this.controllers.call<HeartbeatResponse>('Controller', 'BrokerHeartbeat', { ...req, offlinePartitions: req.offlinePartitions ?? [] }, timeoutMs);
  }
}

/**
 * The broker's session with the controller in a `cairn server` process: BrokerSessionClient
 * (src/controller) over gRPC, on the system clock and timers unless told otherwise.
 */
export class BrokerLifecycle extends BrokerSessionClient {
  constructor(o: {
    nodeId: number;
    incarnationId: string;
    host: string;
    port: number;
    internal: { host: string; port: number } | null;
    rack: string | null;
    heartbeatIntervalMs: number;
    controllers: ControllerClient;
    publisher: MetadataPublisher;
    logger: Logger;
    offlinePartitions: () => string[];
    clock?: Clock;
    timers?: Timers;
  }) {
    super({
      nodeId: o.nodeId,
      incarnationId: o.incarnationId,
      host: o.host,
      port: o.port,
      internal: o.internal,
      rack: o.rack,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      transport: new GrpcControllerTransport(o.controllers),
      metadataOffset: () => o.publisher.image.offset,
      offlinePartitions: o.offlinePartitions,
      clock: o.clock ?? systemClock,
      timers: o.timers ?? systemTimers,
      logger: o.logger,
    });
  }
}
