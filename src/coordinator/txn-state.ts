import type { TopicPartitions } from '../common';

/**
 * The states of a transactional id (Kafka's TransactionState). A transaction runs
 * Empty/Complete* → Ongoing (a partition or the offsets of a group joined it) → Prepare* (the
 * outcome is decided and durable) → Complete* (every marker is written).
 */
export type TxnState = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort';

export const TXN_STATES: readonly TxnState[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort'];

/** What `__transaction_state` holds for one transactional id (Kafka's TransactionMetadata). */
export interface TxnMetadata {
  readonly transactionalId: string;
  /** The identity the producer uses now: after an end, the bumped epoch (or a new id). */
  readonly producerId: number;
  readonly producerEpoch: number;
  /**
   * The identity of the transaction last ended, -1 when none: its markers carry
   * `prevProducerId` at `prevProducerEpoch + 1`, and a retried end with it is recognised.
   */
  readonly prevProducerId: number;
  readonly prevProducerEpoch: number;
  readonly timeoutMs: number;
  readonly state: TxnState;
  /** The partitions of the transaction (Ongoing, Prepare*): where the markers go. */
  readonly partitions: TopicPartitions;
  /** When the transaction became Ongoing (-1 otherwise): its timeout counts from here. */
  readonly txnStartTimestampMs: number;
  readonly lastUpdateTimestampMs: number;
}

/** One record of `__transaction_state`: the whole metadata of an id, or null (a tombstone). */
export interface TxnRecord {
  readonly transactionalId: string;
  readonly value: TxnMetadata | null;
}

/** The state a coordinator rebuilds by replaying its partition: the last record of each id wins. */
export class TxnsState {
  readonly txns = new Map<string, TxnMetadata>();

  replay(r: TxnRecord): void {
    if (r.value === null) this.txns.delete(r.transactionalId);
    else this.txns.set(r.transactionalId, r.value);
  }
}

/** The identity the markers of an ending transaction carry (KIP-890: the bumped epoch). */
export function markerIdentity(m: TxnMetadata): { producerId: number; producerEpoch: number } {
  return { producerId: m.prevProducerId, producerEpoch: m.prevProducerEpoch + 1 };
}
