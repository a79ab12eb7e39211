import { ErrorCode } from '../common';
import type { MetadataImage } from '../metadata';
import type { ControllerResult } from './topic-ops';

/** Producer ids per block (Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE). */
export const PRODUCER_ID_BLOCK_SIZE = 1000;
/** Ids are JavaScript numbers: past this, the next block could not be told apart from its neighbour. */
export const MAX_PRODUCER_ID = Number.MAX_SAFE_INTEGER;

export interface AllocateProducerIdsRequest {
  brokerId: number;
  brokerEpoch: number;
}

export interface AllocateProducerIdsResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  /** The first id of the block; -1 when refused. */
  producerIdStart: number;
  producerIdLen: number;
}

/**
 * AllocateProducerIds (KIP-730): the next block of producer ids for a registered broker at its
 * current epoch. The block's end is written to the metadata log as a ProducerIds record, and the
 * answer leaves only once that record commits, so a block is never handed out twice — not after a
 * controller failover either (the next controller starts from the committed counter).
 */
export function allocateProducerIds(image: MetadataImage, req: AllocateProducerIdsRequest): ControllerResult<AllocateProducerIdsResponse> {
  const refuse = (errorCode: ErrorCode, errorMessage: string): ControllerResult<AllocateProducerIdsResponse> => ({
    records: [],
    response: { errorCode, errorMessage, producerIdStart: -1, producerIdLen: 0 },
  });
  const b = image.brokers.get(req.brokerId);
  if (!b) return refuse(ErrorCode.BROKER_ID_NOT_REGISTERED, `broker ${req.brokerId} is not registered`);
  if (b.epoch !== req.brokerEpoch) return refuse(ErrorCode.STALE_BROKER_EPOCH, `broker ${req.brokerId} epoch ${req.brokerEpoch} is stale (current ${b.epoch})`);
  const start = image.nextProducerId;
  if (start + PRODUCER_ID_BLOCK_SIZE > MAX_PRODUCER_ID) return refuse(ErrorCode.UNKNOWN_SERVER_ERROR, `producer ids are exhausted (next ${start})`);
  return {
    records: [{ type: 'ProducerIds', brokerId: req.brokerId, brokerEpoch: req.brokerEpoch, nextProducerId: start + PRODUCER_ID_BLOCK_SIZE }],
    response: { errorCode: ErrorCode.NONE, producerIdStart: start, producerIdLen: PRODUCER_ID_BLOCK_SIZE },
  };
}
