import { CairnError, ErrorCode, TRANSACTION_STATE_TOPIC } from '../../common';
import { type MetadataImage, NO_LEADER } from '../../metadata';
import type { AddPartitionsToTxnRequest, TxnErrorResponse } from '../../protocol';
import { transactionPartitionFor } from '..';

export interface TxnVerifyRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  topic: string;
  partition: number;
  /** Only confirm the partition is in the transaction (offsets, added by AddOffsetsToTxn); else add it (KIP-890 part 2). */
  verifyOnly: boolean;
}

/** What a partition leader asks before a write that opens a producer's transaction in one of its partitions. */
export interface TxnVerifier {
  /** Resolves once the transaction coordinator has the partition in the producer's ongoing transaction; else throws its CairnError. */
  verify(req: TxnVerifyRequest): Promise<void>;
}

/** AddPartitionsToTxn at broker `to` (the transactional id's coordinator), over whatever carries it: gRPC, in process, the simulation. */
export type AddPartitionsCall = (to: number, req: AddPartitionsToTxnRequest) => Promise<TxnErrorResponse>;

/**
 * The leader's side of KIP-890: finds the transactional id's coordinator (the leader of its
 * `__transaction_state` partition in this broker's image) and asks it to add the partition to
 * the producer's ongoing transaction, or to confirm it is there. A refusal comes back as the
 * coordinator's error (PRODUCER_FENCED for a late write of an ended transaction, CONCURRENT_TRANSACTIONS
 * while the previous one completes, NOT_COORDINATOR while the coordinator moves: the client retries).
 */
export class CoordinatorTxnVerifier implements TxnVerifier {
  constructor(
    private readonly image: () => MetadataImage,
    private readonly call: AddPartitionsCall,
  ) {}

  async verify(req: TxnVerifyRequest): Promise<void> {
    if (typeof req.transactionalId !== 'string' || req.transactionalId.length === 0) {
      throw new CairnError(ErrorCode.INVALID_REQUEST, 'a transactional write needs the transactional id of its producer (ProduceRequest.transactional_id)');
    }
    const topic = this.image().topicsByName.get(TRANSACTION_STATE_TOPIC);
    if (!topic) throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${TRANSACTION_STATE_TOPIC} does not exist yet`);
    const reg = topic.partitions[transactionPartitionFor(req.transactionalId, topic.partitions.length)]!;
    if (reg.leader === NO_LEADER) throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${TRANSACTION_STATE_TOPIC}-${reg.partition} has no leader`);
    let res: TxnErrorResponse;
    try {
      res = await this.call(reg.leader, {
        transactionalId: req.transactionalId,
        producerId: req.producerId,
        producerEpoch: req.producerEpoch,
        partitions: { topics: [{ topic: req.topic, partitions: [req.partition] }] },
        verifyOnly: req.verifyOnly,
      });
    } catch (err) {
      if (err instanceof CairnError) throw err;
      throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `transaction coordinator ${reg.leader} did not answer: ${(err as Error).message}`);
    }
    if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage || 'the transaction coordinator refused the partition');
  }
}
