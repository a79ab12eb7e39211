import { type Clock, type Timers } from '../common';
import { systemClock, systemTimers } from '../common/io';
import {
  type BrokerRegistrationRequest,
  BrokerSessionClient,
  type BrokerSessionClientOptions,
  type ControllerTransport,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterBrokerResponse,
} from '../controller';
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
      metricsHost: req.metricsHost ?? '',
      metricsPort: req.metricsPort ?? 0,
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
  constructor(
    o: Omit<BrokerSessionClientOptions, 'transport' | 'metadataOffset' | 'clock' | 'timers'> & {
      controllers: ControllerClient;
      publisher: MetadataPublisher;
      clock?: Clock;
      timers?: Timers;
    },
  ) {
    const { controllers, publisher, clock, timers, ...session } = o;
    super({
      ...session,
      transport: new GrpcControllerTransport(controllers),
      metadataOffset: () => publisher.image.offset,
      clock: clock ?? systemClock,
      timers: timers ?? systemTimers,
    });
  }
}
