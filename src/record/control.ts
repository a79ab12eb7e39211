import { batchIsControl, batchProducerEpoch, batchProducerId, batchRecordCount, decodeRecords, encodeBatch } from './batch';

/**
 * Transaction markers: the control batches a partition leader writes, on the transaction
 * coordinator's word, to end one producer's transaction there (KIP-98's EndTransactionMarker).
 * A marker is a control and transactional batch of one record carrying the producer id and the
 * epoch the coordinator ended the transaction with:
 * - key: `version int16 (0) | type int16` (0 abort, 1 commit), as Kafka's ControlRecordType;
 * - value: `version int16 (0) | coordinatorEpoch int32`, the leader epoch of the coordinator's
 *   `__transaction_state` partition, so a marker from a deposed coordinator can be refused.
 * Consumers never see control records (they are skipped, never decoded as data).
 */
export interface TxnMarker {
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
}

const CONTROL_VERSION = 0;
const ABORT_TYPE = 0;
const COMMIT_TYPE = 1;

/** The control batch of one marker, base offset 0 (the leader stamps it like any batch). */
export function encodeTxnMarker(m: TxnMarker, nowMs: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(CONTROL_VERSION, 0);
  key.writeInt16BE(m.commit ? COMMIT_TYPE : ABORT_TYPE, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(CONTROL_VERSION, 0);
  value.writeInt32BE(m.coordinatorEpoch, 2);
  return encodeBatch([{ key, value, timestamp: nowMs }], { control: true, transactional: true, producerId: m.producerId, producerEpoch: m.producerEpoch }, nowMs);
}

/**
 * The marker of the control batch at `pos`, or null when it is not a transaction marker this
 * version understands (not a control batch, not one record, an unknown type or version).
 * Never throws on damage inside the record: that too is null.
 */
export function readTxnMarker(buf: Buffer, pos = 0): TxnMarker | null {
  if (!batchIsControl(buf, pos) || batchRecordCount(buf, pos) !== 1) return null;
  let key: Buffer | null;
  let value: Buffer | null;
  try {
    const [r] = decodeRecords(buf, pos);
    key = r?.key ?? null;
    value = r?.value ?? null;
  } catch {
    return null;
  }
  if (key === null || key.length < 4 || key.readInt16BE(0) !== CONTROL_VERSION) return null;
  const type = key.readInt16BE(2);
  if (type !== ABORT_TYPE && type !== COMMIT_TYPE) return null;
  const coordinatorEpoch = value !== null && value.length >= 6 ? value.readInt32BE(2) : -1;
  return { producerId: batchProducerId(buf, pos), producerEpoch: batchProducerEpoch(buf, pos), coordinatorEpoch, commit: type === COMMIT_TYPE };
}
