/**
 * bench:copy — end-to-end latency of an exactly-once copy job (issue 19): a producer writes topic
 * `in` at a fixed rate (each record stamped with its send time), `cairn copy` runs as its own
 * process (consume-transform-produce in transactions, one per poll), and a read_committed consumer
 * reads `out`: its latency is from the producer's send to the record being readable in `out`,
 * i.e. through the copy job's commit. Prints a summary and one JSON line.
 */
import { spawn } from 'node:child_process';
import { CAIRN_MAIN } from '../src/cli/local-cluster';
import { Consumer } from '../src/client/consumer';
import { Producer } from '../src/client/producer';
import { args, hrMs, num, progress, report } from './common';
import { benchCluster, createBenchTopic } from './cluster';
import { LatencySample, produceLoad, sentAt } from './load';

async function main(): Promise<void> {
  const a = args({ brokers: '3', 'replication-factor': '3', partitions: '3', rate: '20000', duration: '30', 'record-size': '100', 'records-per-transaction': '10000', bootstrap: '' });
  const brokers = num(a.brokers, 'brokers');
  const rf = num(a['replication-factor'], 'replication-factor');
  const partitions = num(a.partitions, 'partitions');
  const cluster = await benchCluster({ bootstrap: a.bootstrap || undefined, brokers });
  const run = Date.now().toString(36);
  const input = `copy-in-${run}`;
  const output = `copy-out-${run}`;
  try {
    const configs: Record<string, string> = rf >= 3 ? { 'min.insync.replicas': '2' } : {};
    await createBenchTopic(cluster.bootstrap, input, partitions, rf, configs);
    await createBenchTopic(cluster.bootstrap, output, partitions, rf, configs);
    const job = spawn(
      process.execPath,
      [CAIRN_MAIN, 'copy', input, output, '--group', `bench-copy-${run}`, '--transactional-id', `bench-copy-${run}`, '--records-per-transaction', a['records-per-transaction']!, '--from-latest'],
      { env: { ...process.env, CAIRN_BOOTSTRAP: cluster.bootstrap }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const reader = new Consumer({ bootstrap: cluster.bootstrap, isolationLevel: 'read_committed', maxWaitMs: 100, autoOffsetReset: 'earliest' });
    reader.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: output, partition, offset: 0 })));
    const latency = new LatencySample();
    let read = 0;
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        for (const r of await reader.poll(200)) {
          read++;
          latency.add(hrMs() - sentAt(r.value!));
        }
      }
    })();
    // Let the job join its group and take the partitions before the clock starts.
    await new Promise((r) => setTimeout(r, 3_000));
    const producer = new Producer({ bootstrap: cluster.bootstrap });
    const produced = await produceLoad({
      producers: [{ send: (value) => producer.send({ topic: input, value }), flush: () => producer.flush(), close: () => producer.close() }],
      recordSize: num(a['record-size'], 'record-size'),
      durationS: num(a.duration, 'duration'),
      rate: num(a.rate, 'rate'),
      window: 20_000,
      label: 'produce in',
    });
    await producer.close();
    const deadline = hrMs() + 30_000;
    while (read < produced.records && hrMs() < deadline) {
      progress(`read ${read} of ${produced.records} from ${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    reading = false;
    await readLoop;
    await reader.close();
    job.kill('SIGTERM');
    const l = latency.summary();
    process.stderr.write(
      `\ncopy job at ${a.rate} records/s for ${a.duration} s (${brokers} brokers, RF=${rf}, ${a['records-per-transaction']} records per transaction at most): ` +
        `${read} of ${produced.records} records readable in ${output}; end-to-end p50 ${l.p50_ms.toFixed(1)} ms, p99 ${l.p99_ms.toFixed(1)} ms, max ${l.max_ms.toFixed(1)} ms\n`,
    );
    report({
      benchmark: 'copy',
      brokers,
      replication_factor: rf,
      partitions,
      target_rate: num(a.rate, 'rate'),
      produced_per_s: produced.records_per_s,
      records: produced.records,
      copied: read,
      records_per_transaction: num(a['records-per-transaction'], 'records-per-transaction'),
      e2e_p50_ms: l.p50_ms,
      e2e_p95_ms: l.p95_ms,
      e2e_p99_ms: l.p99_ms,
      e2e_p999_ms: l.p999_ms,
      e2e_max_ms: l.max_ms,
    });
  } finally {
    await cluster.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
