import { CairnError, ErrorCode, TopicPartitionSets, TRANSACTION_STATE_TOPIC } from '../../common';
import { type MetadataImage, NO_LEADER } from '../../metadata';
import { type AddPartitionsToTxnRequest, partitionsToWire, type TxnErrorResponse } from '../../protocol';
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

/** The verifications of one producer epoch bound for one coordinator, sent together as one AddPartitionsToTxn. */
interface PendingCall {
  to: number;
  req: AddPartitionsToTxnRequest;
  /** Each verification's partition (repeats are dropped when the call is made). */
  partitions: [string, number][];
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

/**
 * The leader's side of KIP-890: finds the transactional id's coordinator (the leader of its
 * `__transaction_state` partition in this broker's image) and asks it to add the partition to
 * the producer's ongoing transaction, or to confirm it is there. A refusal comes back as the
 * coordinator's error (PRODUCER_FENCED for a late write of an ended transaction, CONCURRENT_TRANSACTIONS
 * while the previous one completes, NOT_COORDINATOR while the coordinator moves: the client retries).
 *
 * A produce request opens a transaction in several partitions at once: the verifications asked
 * in the same turn for one producer epoch go to the coordinator as one AddPartitionsToTxn (one
 * record there, one append), and each partition gets that call's answer.
 */
export class CoordinatorTxnVerifier implements TxnVerifier {
  /** Calls still gathering partitions this turn, by coordinator, producer epoch and kind. */
  private readonly gathering = new Map<string, PendingCall>();

  constructor(
    private readonly image: () => MetadataImage,
    private readonly call: AddPartitionsCall,
  ) {}

  verify(req: TxnVerifyRequest): Promise<void> {
    if (typeof req.transactionalId !== 'string' || req.transactionalId.length === 0) {
      return Promise.reject(new CairnError(ErrorCode.INVALID_REQUEST, 'a transactional write needs the transactional id of its producer (ProduceRequest.transactional_id)'));
    }
    const topic = this.image().topicsByName.get(TRANSACTION_STATE_TOPIC);
    if (!topic) return Promise.reject(new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${TRANSACTION_STATE_TOPIC} does not exist yet`));
    const reg = topic.partitions[transactionPartitionFor(req.transactionalId, topic.partitions.length)]!;
    if (reg.leader === NO_LEADER) return Promise.reject(new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${TRANSACTION_STATE_TOPIC}-${reg.partition} has no leader`));
    const key = `${reg.leader}|${req.producerId}|${req.producerEpoch}|${req.verifyOnly}|${req.transactionalId}`;
    let pending = this.gathering.get(key);
    if (pending === undefined) {
      const created: PendingCall = {
        to: reg.leader,
        req: { transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch, partitions: null, verifyOnly: req.verifyOnly },
        partitions: [],
        waiters: [],
      };
      pending = created;
      this.gathering.set(key, created);
      // The rest of this turn's verifications of the same producer epoch join the call.
      queueMicrotask(() => {
        this.gathering.delete(key);
        void this.send(created);
      });
    }
    pending.partitions.push([req.topic, req.partition]);
    const waiters = pending.waiters;
    return new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }));
  }

  private async send(pending: PendingCall): Promise<void> {
    let failure: CairnError | null = null;
    try {
      const res = await this.call(pending.to, { ...pending.req, partitions: partitionsToWire(TopicPartitionSets.fromPairs(pending.partitions)) });
      if (res.errorCode !== ErrorCode.NONE) failure = new CairnError(res.errorCode, res.errorMessage || 'the transaction coordinator refused the partition');
    } catch (err) {
      failure = err instanceof CairnError ? err : new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `transaction coordinator ${pending.to} did not answer: ${(err as Error).message}`);
    }
    for (const w of pending.waiters) {
      if (failure === null) w.resolve();
      else w.reject(failure);
    }
  }
}
