/**
 * bench:txn — where one transactional producer's time goes, and the floor the disk puts under it.
 * One producer runs `--transactions` transactions of `--records-per-transaction` records, one
 * after another: it places the records, calls commitTransaction() at once (which sends them), and
 * times two phases of each transaction:
 *
 *   - `sends`: beginTransaction() until every record is acknowledged. The leader asks the
 *     coordinator to add each partition to the transaction (KIP-890: a durable record in
 *     `__transaction_state`) before it appends the records, and acks=all waits for their fsync;
 *   - `end`: from then until commitTransaction() returns: EndTxn, the durable decision, and the
 *     markers, durable in every partition, before the coordinator answers.
 *
 * Then the disk alone: `--fsyncs` writes of 4 KiB each followed by fdatasync, one after another,
 * in the same temporary directory. A transaction needs four durable appends in a row (the
 * partitions added, the records, the decision, the markers), so `recordsPerTransaction /
 * (4 × fdatasync p50)` is what one producer could reach if nothing but the disk cost time:
 * `floor_records_per_s`.
 *
 *   npm run bench:txn -- [--transactions 300] [--records-per-transaction 100] [--partitions 3]
 *                        [--brokers 1] [--replication-factor 1] [--flush-policy interval] [--fsyncs 500]
 *
 * Prints a progress line and one JSON object as its last line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Producer } from '../src/client/producer';
import { args, hrMs, num, percentiles, progress, report } from './common';
import { benchCluster, createBenchTopic } from './cluster';

const WARM_UP = 20;
const DURABLE_APPENDS_PER_TRANSACTION = 4;

/** p50, p99 and max of a sample, in ms. */
function summary(sample: number[]): { p50: number; p99: number; max: number } {
  const [p50, p99, max] = percentiles(sample, [50, 99, 100]);
  return { p50: p50!, p99: p99!, max: max! };
}

/** `count` sequential 4 KiB writes, each followed by fdatasync, in a file of a new temporary directory (removed after): each one's latency. */
function fdatasyncLatencies(count: number): number[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-txn-'));
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(4096, 0x61);
  const out: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = hrMs();
      fs.writeSync(fd, block, 0, block.length, i * block.length);
      fs.fdatasyncSync(fd);
      out.push(hrMs() - t0);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const a = args({
    transactions: '300',
    'records-per-transaction': '100',
    partitions: '3',
    brokers: '1',
    'replication-factor': '1',
    'record-size': '100',
    'flush-policy': '',
    fsyncs: '500',
    bootstrap: '',
  });
  const transactions = num(a.transactions, 'transactions');
  const perTxn = num(a['records-per-transaction'], 'records-per-transaction');
  const brokers = num(a.brokers, 'brokers');
  const rf = num(a['replication-factor'], 'replication-factor');
  const cluster = await benchCluster({ bootstrap: a.bootstrap || undefined, brokers, flags: a['flush-policy'] ? { 'log-flush-policy': a['flush-policy'] } : {} });
  const topic = `txn-${Date.now()}`;
  const sends: number[] = [];
  const ends: number[] = [];
  const totals: number[] = [];
  let producer: Producer | null = null;
  try {
    await createBenchTopic(cluster.bootstrap, topic, num(a.partitions, 'partitions'), rf, rf >= 3 ? { 'min.insync.replicas': '2' } : {});
    producer = new Producer({ bootstrap: cluster.bootstrap, transactionalId: `bench-txn-${Date.now()}` });
    await producer.cluster.topic(topic);
    await producer.initTransactions();
    const value = Buffer.alloc(num(a['record-size'], 'record-size'), 0x61);
    const records: Promise<unknown>[] = new Array<Promise<unknown>>(perTxn);
    const started = hrMs();
    for (let t = 0; t < WARM_UP + transactions; t++) {
      const t0 = hrMs();
      producer.beginTransaction();
      for (let i = 0; i < perTxn; i++) records[i] = producer.send({ topic, value });
      let acked = 0;
      const allAcked = Promise.all(records).then(() => void (acked = hrMs()));
      await producer.commitTransaction();
      await allAcked;
      const t1 = hrMs();
      if (t >= WARM_UP) {
        sends.push(acked - t0);
        ends.push(t1 - acked);
        totals.push(t1 - t0);
      }
      if ((t + 1) % 100 === 0) progress(`${t + 1} transactions, ${(((t + 1) * perTxn) / ((hrMs() - started) / 1000)).toFixed(0)} records/s`);
    }
  } finally {
    await producer?.close();
    await cluster.close();
  }
  const disk = summary(fdatasyncLatencies(num(a.fsyncs, 'fsyncs')));
  const total = summary(totals);
  const meanMs = totals.reduce((s, x) => s + x, 0) / totals.length;
  const floorMs = DURABLE_APPENDS_PER_TRANSACTION * disk.p50;
  const s = summary(sends);
  const e = summary(ends);
  process.stderr.write(
    `\none transactional producer, ${perTxn} records per transaction (${brokers} broker(s), RF=${rf}${a['flush-policy'] ? `, flush policy ${a['flush-policy']}` : ''}):\n` +
      `  transaction p50 ${total.p50.toFixed(2)} ms (sends ${s.p50.toFixed(2)} + end ${e.p50.toFixed(2)}), p99 ${total.p99.toFixed(2)} ms → ${Math.round((perTxn * 1000) / meanMs).toLocaleString('en')} records/s\n` +
      `  fdatasync alone p50 ${disk.p50.toFixed(2)} ms: ${DURABLE_APPENDS_PER_TRANSACTION} in a row per transaction allow at most ${Math.round((perTxn * 1000) / floorMs).toLocaleString('en')} records/s\n`,
  );
  report({
    benchmark: 'txn',
    brokers,
    replication_factor: rf,
    flush_policy: a['flush-policy'] || 'default (fsync before the ack)',
    records_per_transaction: perTxn,
    transactions,
    records_per_s: (perTxn * 1000) / meanMs,
    transaction_p50_ms: total.p50,
    transaction_p99_ms: total.p99,
    transaction_max_ms: total.max,
    sends_p50_ms: s.p50,
    sends_p99_ms: s.p99,
    end_p50_ms: e.p50,
    end_p99_ms: e.p99,
    fdatasync_p50_ms: disk.p50,
    fdatasync_p99_ms: disk.p99,
    floor_ms_per_transaction: floorMs,
    floor_records_per_s: (perTxn * 1000) / floorMs,
  });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
