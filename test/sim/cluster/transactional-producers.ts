/**
 * The simulation's transactional producers (issue 19): each runs transactions against the shipped
 * transaction coordinators (TransactionCoordinatorShell on every node), writing transactional
 * batches through the shipped ProduceHandler (whose leaders verify the producer's first write with
 * the coordinator, KIP-890), and ends each with a commit or an abort, at random. The network loses,
 * delays and replays requests and answers; nodes crash, lose power and are partitioned under them.
 *
 * A producer remembers what it was told: a transaction whose commit was answered NONE is
 * committed; one it aborted, or never asked to commit, is aborted (its coordinator aborts it when
 * the producer re-initializes or it times out); one whose commit got no answer is unknown. At the
 * end (`check`), read at read_committed from every partition's leader:
 * - a committed transaction's records are all there, an aborted one's none, an unknown one's all
 *   or none (atomicity: no torn transaction);
 * - no record is there twice;
 * - no partition's last stable offset is held back (no hanging transaction).
 */
import { ErrorCode, errorName, isRetriable } from '../../../src/common/errors';
import type { Random } from '../../../src/common/random';
import type { EndTxnResponse, InitProducerIdResponse, ProduceResponse } from '../../../src/protocol/messages';
import { AbortedTransactionFilter, batchIsControl, batchLastOffset, decodeRecords, encodeBatch, forEachBatch } from '../../../src/record';
import type { PartitionLog } from '../../../src/storage/partition-log';
import type { IdempotentProducerContext } from './idempotent-producer';
import { Violation } from './invariants';
import type { ClusterNode } from './node';

/** Values of transactional records start with this: `t:<producer>:<transaction>:<record>`. */
export const TXN_PREFIX = 't:';
const CALL_TIMEOUT_MS = 1_500;
/** transaction.timeout.ms of the simulated producers: an abandoned transaction is aborted by its coordinator within the liveness bound. */
export const SIM_TXN_TIMEOUT_MS = 3_000;

/** What the idempotent producer sees of the simulation, without its checker hooks, and whether the chaos still runs. */
export type TransactionalProducersContext = Omit<IdempotentProducerContext, 'onAck' | 'fail'> & {
  active(): boolean;
};

type Outcome = 'committed' | 'aborted' | 'unknown';

interface SimTxn {
  readonly name: string;
  /** Records whose write was answered NONE, and those whose write got no definite answer. */
  readonly acked: string[];
  readonly uncertain: string[];
  outcome: Outcome | 'open';
}

class Fenced extends Error {}

/** One transactional producer (its own transactional id), running transactions until the chaos ends. */
class SimTransactionalProducer {
  private producerId = -1;
  private producerEpoch = -1;
  private readonly sequences = new Map<number, number>();
  private txnCount = 0;
  readonly txns: SimTxn[] = [];

  constructor(
    private readonly ctx: TransactionalProducersContext,
    private readonly random: Random,
    readonly transactionalId: string,
  ) {}

  async run(): Promise<void> {
    while (this.ctx.active()) {
      try {
        if (this.producerId < 0) await this.init();
        await this.oneTransaction();
      } catch (err) {
        if (!(err instanceof Fenced)) throw err;
        this.producerId = -1;
      }
      await this.sleep(this.random.int(10, 120));
    }
  }

  private async oneTransaction(): Promise<void> {
    const txn: SimTxn = { name: `${this.transactionalId}#${++this.txnCount}`, acked: [], uncertain: [], outcome: 'open' };
    this.txns.push(txn);
    const records = this.random.int(1, 4);
    let broken = false;
    for (let k = 0; k < records && !broken; k++) {
      const partition = this.random.int(0, this.ctx.partitions - 1);
      const value = `${TXN_PREFIX}${txn.name}:${k}`;
      const written = await this.produce(partition, value);
      if (written === 'yes') txn.acked.push(value);
      else {
        if (written === 'maybe') txn.uncertain.push(value);
        broken = true;
      }
    }
    const commit = !broken && this.random.bool(0.7);
    const answer = await this.endTxn(commit);
    if (answer === 'ok') txn.outcome = commit ? 'committed' : 'aborted';
    else txn.outcome = commit ? 'unknown' : 'aborted';
    this.ctx.log(`txn ${txn.name} ${commit ? 'commit' : 'abort'}: ${answer} (${txn.acked.length} written${txn.uncertain.length ? `, ${txn.uncertain.length} unknown` : ''})`);
    // Without an answer the producer's epoch is unknown: it starts again (InitProducerId ends whatever is left).
    if (answer !== 'ok') throw new Fenced();
  }

  private async init(): Promise<void> {
    for (;;) {
      if (!this.ctx.active()) throw new Fenced();
      const res = await this.atCoordinator<InitProducerIdResponse>('initProducerId', (n) =>
        n.txns!.initProducerId({ transactionalId: this.transactionalId, transactionTimeoutMs: SIM_TXN_TIMEOUT_MS }),
      );
      if (res && res.errorCode === ErrorCode.NONE) {
        this.producerId = res.producerId;
        this.producerEpoch = res.producerEpoch;
        this.sequences.clear();
        this.ctx.log(`${this.transactionalId} initialized: producer ${res.producerId} epoch ${res.producerEpoch}`);
        return;
      }
      this.ctx.log(`${this.transactionalId} init: ${res ? errorName(res.errorCode) : 'no answer'}`);
      await this.sleep(this.random.int(20, 200));
    }
  }

  /** One transactional batch of one record, retried with its sequence while the answers are retriable. */
  private async produce(partition: number, value: string): Promise<'yes' | 'no' | 'maybe'> {
    const seq = this.sequences.get(partition) ?? 0;
    this.sequences.set(partition, seq + 1);
    let maybe = false;
    for (let attempt = 0; attempt < 6; attempt++) {
      const leader = this.ctx.leaderGuess(partition);
      if (leader > 0) {
        try {
          const res = await this.ctx.network.call<ProduceResponse>(this.ctx.client, leader, 'produce', CALL_TIMEOUT_MS, () => {
            const h = this.ctx.node(leader).produce;
            const batches = encodeBatch([{ value: Buffer.from(value) }], { producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence: seq, transactional: true });
            return h
              ? h.handle({ correlationId: 0, acks: -1, timeoutMs: CALL_TIMEOUT_MS, transactionalId: this.transactionalId, partitions: [{ topic: this.ctx.topic, partition, batches }] })
              : Promise.reject(new Error('down'));
          });
          const r = res.results[0]!;
          if (r.errorCode === ErrorCode.NONE) return 'yes';
          if (!isRetriable(r.errorCode)) return maybe ? 'maybe' : 'no';
        } catch {
          maybe = true; // lost request or answer: it may have been written
        }
      }
      await this.sleep(this.random.int(20, 150));
    }
    return maybe ? 'maybe' : 'no';
  }

  private async endTxn(commit: boolean): Promise<'ok' | 'failed'> {
    for (let attempt = 0; attempt < 6; attempt++) {
      const res = await this.atCoordinator<EndTxnResponse>('endTxn', (n) =>
        n.txns!.endTxn({ transactionalId: this.transactionalId, producerId: this.producerId, producerEpoch: this.producerEpoch, commit }),
      );
      if (res && res.errorCode === ErrorCode.NONE) {
        this.producerId = res.producerId;
        this.producerEpoch = res.producerEpoch;
        this.sequences.clear();
        return 'ok';
      }
      if (res && !isRetriable(res.errorCode)) {
        this.ctx.log(`${this.transactionalId} end: ${errorName(res.errorCode)}`);
        return 'failed';
      }
      await this.sleep(this.random.int(20, 150));
    }
    return 'failed';
  }

  /** A call at the transactional id's coordinator (by the metadata of a random running node), or null when it could not be made. */
  private async atCoordinator<T>(what: string, fn: (n: ClusterNode) => Promise<T>): Promise<T | null> {
    const up = this.ctx.upNodes().filter((n) => n.txns);
    if (up.length === 0) return null;
    const found = this.random.pick(up).txns!.findCoordinator(this.transactionalId);
    if (found.errorCode !== ErrorCode.NONE) return null;
    try {
      return await this.ctx.network.call<T>(this.ctx.client, found.nodeId, what, CALL_TIMEOUT_MS, () => {
        const n = this.ctx.node(found.nodeId);
        return n.txns ? fn(n) : Promise.reject(new Error('down'));
      });
    } catch {
      return null;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.ctx.scheduler.after(ms, resolve));
  }
}

export class SimTransactionalProducers {
  private readonly producers: SimTransactionalProducer[];

  constructor(ctx: TransactionalProducersContext, random: Random, count = 2) {
    this.producers = Array.from({ length: count }, (_, i) => new SimTransactionalProducer(ctx, random.fork(), `sim-txn-${i + 1}`));
  }

  start(onError: (err: Error) => void): void {
    for (const p of this.producers) void p.run().catch(onError);
  }

  get transactions(): { committed: number; aborted: number; unknown: number } {
    const all = this.producers.flatMap((p) => p.txns);
    return { committed: all.filter((t) => t.outcome === 'committed').length, aborted: all.filter((t) => t.outcome === 'aborted').length, unknown: all.filter((t) => t.outcome === 'unknown').length };
  }

  /** Whether every partition's leader has its last stable offset at its high watermark (nothing open holds it back). */
  stable(leaders: (PartitionLog | undefined)[]): boolean {
    return leaders.every((log) => log !== undefined && log.lastStableOffset === log.highWatermark);
  }

  /** The invariants of the class comment, on the leaders' logs (after the heal, once stable). */
  check(leaders: (PartitionLog | undefined)[]): void {
    const visible = new Map<string, number>();
    for (const [p, log] of leaders.entries()) {
      if (!log) throw new Violation(`transactions: partition ${p} has no leader to read`);
      if (log.lastStableOffset !== log.highWatermark)
        throw new Violation(
          `transactions: ${log.topic}-${p} has its last stable offset ${log.lastStableOffset} held back below ${log.highWatermark}: a hanging transaction (${JSON.stringify(log.openTransactions())})`,
        );
      for (const value of readCommitted(log)) if (value.startsWith(TXN_PREFIX)) visible.set(value, (visible.get(value) ?? 0) + 1);
    }
    for (const [value, n] of visible) if (n > 1) throw new Violation(`transactions: ${value} is visible ${n} times at read_committed`);
    for (const t of this.producers.flatMap((p) => p.txns)) {
      const seen = t.acked.filter((v) => visible.has(v));
      const seenUncertain = t.uncertain.filter((v) => visible.has(v));
      if (t.outcome === 'committed' && seen.length !== t.acked.length) {
        throw new Violation(
          `transactions: committed transaction ${t.name} shows ${seen.length} of its ${t.acked.length} records at read_committed (lost: ${t.acked.filter((v) => !visible.has(v)).join(', ')})`,
        );
      }
      if ((t.outcome === 'aborted' || t.outcome === 'open') && seen.length + seenUncertain.length > 0) {
        throw new Violation(`transactions: ${t.outcome} transaction ${t.name} shows ${[...seen, ...seenUncertain].join(', ')} at read_committed`);
      }
      if (t.outcome === 'unknown' && seen.length !== 0 && seen.length !== t.acked.length) {
        throw new Violation(`transactions: transaction ${t.name} (commit unanswered) is torn: ${seen.length} of ${t.acked.length} records visible`);
      }
    }
  }
}

/** The values a read_committed consumer reads from `log`: below its last stable offset, aborted transactions dropped, markers skipped. */
export function readCommitted(log: PartitionLog): string[] {
  const out: string[] = [];
  const end = log.lastStableOffset;
  const filter = new AbortedTransactionFilter(log.abortedTransactions(log.logStartOffset, end));
  let offset = log.logStartOffset;
  while (offset < end) {
    const buf = log.read(offset, 1 << 20, end, true);
    if (buf.length === 0) break;
    let next = offset;
    forEachBatch(buf, (pos) => {
      if (filter.keep(buf, pos) && !batchIsControl(buf, pos)) for (const r of decodeRecords(buf, pos)) if (r.offset >= offset) out.push(r.value?.toString() ?? '');
      next = Math.max(next, batchLastOffset(buf, pos) + 1);
    });
    if (next <= offset) break;
    offset = next;
  }
  return out;
}
