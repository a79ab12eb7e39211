import { CairnError, ErrorCode } from '../common/errors';
import type { MetadataImage } from '../metadata/image';
import type { MetadataRecord } from '../metadata/records';
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
 * until it has caught up with the metadata log and a heartbeat unfences it.
 */
export function registerBroker(image: MetadataImage, req: BrokerRegistrationRequest, startFenced: boolean): ControllerResult<{ brokerEpoch: number }> {
  if (!Number.isInteger(req.brokerId) || req.brokerId < 0) throw new CairnError(ErrorCode.INVALID_REQUEST, `invalid broker id ${req.brokerId}`);
  const existing = image.brokers.get(req.brokerId);
  if (existing && existing.incarnationId === req.incarnationId) {
    // A retried registration of the same process: answer with the epoch it already has.
    return { records: [], response: { brokerEpoch: existing.epoch } };
  }
  const brokerEpoch = image.maxBrokerEpoch + 1;
  const records: MetadataRecord[] = [
    { type: 'RegisterBroker', brokerId: req.brokerId, brokerEpoch, incarnationId: req.incarnationId, host: req.host, port: req.port, rack: req.rack, fenced: startFenced },
  ];
  return { records, response: { brokerEpoch } };
}

/** Names the cluster once, on the first controller's first start. */
export function ensureClusterId(image: MetadataImage, clusterId: string): ControllerResult<string> {
  if (image.clusterId !== null) return { records: [], response: image.clusterId };
  return { records: [{ type: 'ClusterId', clusterId }], response: clusterId };
}
