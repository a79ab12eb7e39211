import { TRANSACTION_STATE_TOPIC } from '../common';
import type { CreatableTopic } from '../protocol';
import { offsetsPartitionFor } from './group-record-codec';
import { corrupt, int, parseJson, partitionsField, short } from './record-json';
import { TXN_STATES, type TxnMetadata, type TxnRecord, type TxnState } from './txn-state';

/** The version written first in every key and value; a reader refuses versions it does not know. */
const VERSION = 1;

/**
 * A transaction record as a record of `__transaction_state`: the key is the transactional id (its
 * compaction key), the value the id's whole metadata, null for a tombstone. JSON with a version,
 * as the group records, so `cairn consume __transaction_state` shows them; `decodeTxnRecord`
 * checks every field and throws CORRUPT_MESSAGE for anything else.
 */
export function encodeTxnRecord(r: TxnRecord): { key: Buffer; value: Buffer | null } {
  const key = Buffer.from(JSON.stringify([VERSION, 'txn', r.transactionalId]));
  if (r.value === null) return { key, value: null };
  const { transactionalId: _id, ...body } = r.value;
  return { key, value: Buffer.from(JSON.stringify({ v: VERSION, ...body })) };
}

export function decodeTxnRecord(key: Buffer | null, value: Buffer | null): TxnRecord {
  const k = parseJson(key, 'transaction', 'key');
  if (!Array.isArray(k) || k[0] !== VERSION || k[1] !== 'txn' || typeof k[2] !== 'string' || k[2].length === 0) throw corrupt(`key ${short(key)}: not a version ${VERSION} transaction record key`);
  const transactionalId = k[2];
  if (value === null) return { transactionalId, value: null };
  const v = parseJson(value, 'transaction', 'value') as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || v.v !== VERSION) throw corrupt(`value of ${short(key)}: not version ${VERSION}`);
  if (!TXN_STATES.includes(v.state as TxnState)) throw corrupt(`state ${JSON.stringify(v.state)} is not a transaction state`);
  const m: TxnMetadata = {
    transactionalId,
    producerId: int(v.producerId, 'producerId'),
    producerEpoch: int(v.producerEpoch, 'producerEpoch'),
    prevProducerId: int(v.prevProducerId, 'prevProducerId'),
    prevProducerEpoch: int(v.prevProducerEpoch, 'prevProducerEpoch'),
    timeoutMs: int(v.timeoutMs, 'timeoutMs'),
    state: v.state as TxnState,
    partitions: partitionsField(v.partitions),
    txnStartTimestampMs: int(v.txnStartTimestampMs, 'txnStartTimestampMs'),
    lastUpdateTimestampMs: int(v.lastUpdateTimestampMs, 'lastUpdateTimestampMs'),
  };
  if (m.producerId < 0 || m.producerEpoch < 0) throw corrupt(`"${transactionalId}" has producer ${m.producerId} epoch ${m.producerEpoch}`);
  return { transactionalId, value: m };
}

/** The `__transaction_state` partition of a transactional id: the same hash as groups use (Kafka's). */
export function transactionPartitionFor(transactionalId: string, partitions: number): number {
  return offsetsPartitionFor(transactionalId, partitions);
}

/** `__transaction_state` as the brokers ask the controller for it: compacted, min.insync.replicas 2 where there are 3 replicas (Kafka's defaults). */
export function transactionTopicSpec(numPartitions: number, replicationFactor: number): CreatableTopic {
  return {
    name: TRANSACTION_STATE_TOPIC,
    numPartitions,
    replicationFactor,
    configs: { 'cleanup.policy': 'compact', ...(replicationFactor >= 3 ? { 'min.insync.replicas': '2' } : {}) },
  };
}
