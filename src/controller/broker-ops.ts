import { CairnError, ErrorCode } from '../common/errors';
import { type MetadataImage, replay } from '../metadata/image';
import type { MetadataRecord } from '../metadata/records';
import { electForLeaderless, ledBy, movePartitionsAwayFrom } from './partition-ops';
import type { ControllerResult } from './topic-ops';

export interface BrokerRegistrationRequest {
  brokerId: number;
  incarnationId: string;
  host: string;
  port: number;
  rack: string | null;
}

/**
 * Broker registration (KIP-631): every process start registers with a fresh incarnation id and
 * gets a new, larger broker epoch. The broker starts fenced — it leads nothing and joins no ISR —
 * until it has caught up with the metadata log and a heartbeat unfences it. A second live process
 * claiming the same id is refused.
 */
export function registerBroker(image: MetadataImage, req: BrokerRegistrationRequest, startFenced: boolean, sessionAlive: (brokerId: number) => boolean, uncleanDefault = false): ControllerResult<{ brokerEpoch: number }> {
  if (!Number.isInteger(req.brokerId) || req.brokerId < 0) throw new CairnError(ErrorCode.INVALID_REQUEST, `invalid broker id ${req.brokerId}`);
  const existing = image.brokers.get(req.brokerId);
  if (existing && existing.incarnationId === req.incarnationId) {
    // A retried registration of the same process: answer with the epoch it already has.
    return { records: [], response: { brokerEpoch: existing.epoch } };
  }
  if (existing && !existing.fenced && sessionAlive(req.brokerId)) {
    throw new CairnError(ErrorCode.DUPLICATE_BROKER_REGISTRATION, `broker ${req.brokerId} is registered by another live process (incarnation ${existing.incarnationId})`);
  }
  const brokerEpoch = image.maxBrokerEpoch + 1;
  const records: MetadataRecord[] = [
    { type: 'RegisterBroker', brokerId: req.brokerId, brokerEpoch, incarnationId: req.incarnationId, host: req.host, port: req.port, rack: req.rack, fenced: startFenced },
  ];
  // A restarted broker comes back fenced: whatever its old incarnation led must move now.
  if (existing && startFenced) records.push(...movePartitionsAwayFrom(replay(image, records, image.offset).image, req.brokerId, uncleanDefault));
  return { records, response: { brokerEpoch } };
}

export interface HeartbeatRequest {
  brokerId: number;
  brokerEpoch: number;
  metadataOffset: number;
  wantFence: boolean;
  wantShutdown: boolean;
}

export interface HeartbeatResponse {
  isFenced: boolean;
  isCaughtUp: boolean;
  shouldShutdown: boolean;
}

/**
 * A heartbeat: unfences a caught-up broker (and hands it leaderless partitions), or runs a
 * controlled shutdown — leadership moves to other in-sync replicas first, and the broker is told
 * it may stop only once it leads nothing (design brief §5).
 */
export function brokerHeartbeat(image: MetadataImage, req: HeartbeatRequest, registrationOffset: number, uncleanDefault: boolean): ControllerResult<HeartbeatResponse> {
  const b = image.brokers.get(req.brokerId);
  if (!b) throw new CairnError(ErrorCode.BROKER_NOT_REGISTERED, `broker ${req.brokerId} is not registered`);
  if (b.epoch !== req.brokerEpoch) throw new CairnError(ErrorCode.STALE_BROKER_EPOCH, `broker ${req.brokerId} epoch ${req.brokerEpoch} is not the current ${b.epoch}`);
  const caughtUp = req.metadataOffset >= registrationOffset;
  const records: MetadataRecord[] = [];
  if (req.wantShutdown) {
    if (!b.inControlledShutdown || !b.fenced) {
      const step: MetadataRecord = { type: 'BrokerRegistrationChange', brokerId: b.id, brokerEpoch: b.epoch, inControlledShutdown: true };
      records.push(step, ...movePartitionsAwayFrom(replay(image, [step], image.offset).image, b.id, uncleanDefault));
    }
    const after = records.length > 0 ? replay(image, records, image.offset).image : image;
    const stillLeads = ledBy(after, b.id).length;
    return { records, response: { isFenced: b.fenced, isCaughtUp: caughtUp, shouldShutdown: stillLeads === 0 } };
  }
  if (b.fenced && caughtUp && !req.wantFence) {
    const step: MetadataRecord = { type: 'BrokerRegistrationChange', brokerId: b.id, brokerEpoch: b.epoch, fenced: false, inControlledShutdown: false };
    records.push(step, ...electForLeaderless(replay(image, [step], image.offset).image, uncleanDefault));
    return { records, response: { isFenced: false, isCaughtUp: true, shouldShutdown: false } };
  }
  return { records, response: { isFenced: b.fenced, isCaughtUp: caughtUp, shouldShutdown: false } };
}

/** The broker's session expired: fence it and move its partitions (design brief §5). */
export function fenceBroker(image: MetadataImage, brokerId: number, uncleanDefault: boolean): ControllerResult<void> {
  const b = image.brokers.get(brokerId);
  if (!b || b.fenced) return { records: [], response: undefined };
  const step: MetadataRecord = { type: 'BrokerRegistrationChange', brokerId, brokerEpoch: b.epoch, fenced: true };
  return { records: [step, ...movePartitionsAwayFrom(replay(image, [step], image.offset).image, brokerId, uncleanDefault)], response: undefined };
}

/** Names the cluster once, on the first controller's first start. */
export function ensureClusterId(image: MetadataImage, clusterId: string): ControllerResult<string> {
  if (image.clusterId !== null) return { records: [], response: image.clusterId };
  return { records: [{ type: 'ClusterId', clusterId }], response: clusterId };
}
