import { CairnError, ErrorCode } from '../common';
import type { ClientOptions } from './cluster';
import { Consumer } from './consumer';
import type { ConsumerRecord } from './fetched-records';
import { Producer, type ProducerRecord } from './producer';
import { isFatalTxnError } from './transactions';

export interface ConsumeTransformProduceOptions extends ClientOptions {
  /** Topics to read, as a member of `groupId` (read_committed: inputs written by transactions count only once committed). */
  input: string | string[];
  groupId: string;
  /** The producer's transactional id: one per instance of the job that may run at once (a restarted instance takes its id back and fences its zombie). */
  transactionalId: string;
  /** What to write for one input record: nothing (null or []), one record, or several. */
  transform: (r: ConsumerRecord) => ProducerRecord | ProducerRecord[] | null | Promise<ProducerRecord | ProducerRecord[] | null>;
  /** Most input records one transaction covers (the consumer's maxPollRecords; default 10 000: a transaction covers what one poll brings, so a job that falls behind catches up in larger ones). */
  maxRecordsPerTransaction?: number;
  /** Stop after this many input records (default: until stop() or the signal). */
  maxMessages?: number;
  /** Where a new group starts (default 'earliest'). */
  autoOffsetReset?: 'earliest' | 'latest';
  transactionTimeoutMs?: number;
  /** Called after each committed transaction: how many input records it covered. */
  onCommit?: (records: number) => void;
  /** Called when a transaction is aborted and its input will be read again. */
  onAbort?: (err: Error) => void;
  signal?: AbortSignal;
}

export interface ConsumeTransformProduceResult {
  /** Input records whose outputs and offsets committed. */
  records: number;
  transactions: number;
  aborted: number;
}

/**
 * Exactly-once consume-transform-produce inside the cluster (KIP-98 + KIP-447): reads `input` as a
 * member of `groupId` at read_committed, and for each poll runs one transaction that writes the
 * transformed records and commits the input offsets (sendOffsetsToTransaction, fenced by the
 * member's epoch). A transaction that fails is aborted and its input read again from the
 * positions it started at; a fenced producer (another instance took the transactional id)
 * stops the job with PRODUCER_FENCED. Whatever crashes, the output holds each input record's
 * transform exactly once for read_committed readers.
 */
export async function consumeTransformProduce(o: ConsumeTransformProduceOptions): Promise<ConsumeTransformProduceResult> {
  const {
    input,
    groupId,
    transactionalId,
    transform,
    maxRecordsPerTransaction = 10_000,
    maxMessages = Number.MAX_SAFE_INTEGER,
    autoOffsetReset = 'earliest',
    transactionTimeoutMs,
    onCommit,
    onAbort,
    signal,
    ...client
  } = o;
  const consumer = new Consumer({ ...client, groupId, isolationLevel: 'read_committed', enableAutoCommit: false, autoOffsetReset, maxPollRecords: maxRecordsPerTransaction });
  const producer = new Producer({ ...client, transactionalId, transactionTimeoutMs });
  const result: ConsumeTransformProduceResult = { records: 0, transactions: 0, aborted: 0 };
  const stopped = () => signal?.aborted === true || result.records >= maxMessages;
  const onAbortSignal = () => void consumer.close();
  signal?.addEventListener('abort', onAbortSignal);
  try {
    await producer.initTransactions();
    consumer.subscribe(Array.isArray(input) ? input : [input]);
    while (!stopped()) {
      let records: ConsumerRecord[];
      try {
        records = await consumer.poll(200);
      } catch (err) {
        if (stopped()) break;
        throw err;
      }
      if (records.length === 0) continue;
      const take = records.slice(0, maxMessages - result.records);
      // Where each partition's part of this poll starts: read again from there if the transaction fails.
      const starts = new Map<string, { topic: string; partition: number; offset: number }>();
      const next = new Map<string, { topic: string; partition: number; offset: number }>();
      for (const r of take) {
        const k = `${r.topic}\u0000${r.partition}`;
        if (!starts.has(k)) starts.set(k, { topic: r.topic, partition: r.partition, offset: r.offset });
        next.set(k, { topic: r.topic, partition: r.partition, offset: r.offset + 1 });
      }
      producer.beginTransaction();
      try {
        const sends: Promise<unknown>[] = [];
        for (const r of take) {
          const out = await transform(r);
          for (const rec of out === null ? [] : Array.isArray(out) ? out : [out]) sends.push(producer.send(rec));
        }
        // With the whole poll taken, the consumer's positions: past trailing transaction markers too, so a drained group shows no lag.
        const offsets = [...next.values()].map((n) => (take.length === records.length ? { ...n, offset: Math.max(n.offset, consumer.position(n.topic, n.partition) ?? n.offset) } : n));
        await producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
        await Promise.all(sends);
        await producer.commitTransaction();
        result.records += take.length;
        result.transactions++;
        // Records polled past maxMessages are not processed: the job stops, and the group's next reader starts at its committed offsets.
        onCommit?.(take.length);
      } catch (err) {
        const e = err instanceof CairnError ? err : new CairnError(ErrorCode.UNKNOWN_SERVER_ERROR, (err as Error).message);
        if (isFatalTxnError(e.code) || producer.transactionState === 'fenced') throw e;
        await producer.abortTransaction();
        result.aborted++;
        onAbort?.(e);
        // Read the aborted input again; partitions given up meanwhile start at the group's committed offsets with their next owner.
        for (const s of starts.values()) {
          if (consumer.position(s.topic, s.partition) !== null) consumer.seek(s.topic, s.partition, s.offset);
        }
      }
    }
    return result;
  } finally {
    signal?.removeEventListener('abort', onAbortSignal);
    await consumer.close().catch(() => undefined);
    await producer.close().catch(() => undefined);
  }
}
