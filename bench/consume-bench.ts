/**
 * bench:consume — fills a topic, then one TypeScript consumer reads it all from the start over
 * gRPC (Kafka's consumer-perf-test). Latency here is per poll() call.
 */
import { Consumer } from '../src/client/consumer';
import { args, hrMs, num, percentiles, progress, report } from './common';
import { benchCluster, createBenchTopic, fillTopic } from './cluster';

async function main(): Promise<void> {
  const a = args({ records: '5000000', 'record-size': '100', partitions: '3', brokers: '1', 'replication-factor': '1', bootstrap: '', topic: '', 'fetches-in-flight': '2' });
  const records = num(a.records, 'records');
  const size = num(a['record-size'], 'record-size');
  const brokers = num(a.brokers, 'brokers');
  const cluster = await benchCluster({ bootstrap: a.bootstrap || undefined, brokers });
  const topic = a.topic || `bench-consume-${Date.now()}`;
  try {
    await createBenchTopic(cluster.bootstrap, topic, num(a.partitions, 'partitions'), num(a['replication-factor'], 'replication-factor'));
    await fillTopic(cluster.bootstrap, topic, records, size);

    const fetchesInFlight = num(a['fetches-in-flight'], 'fetches-in-flight');
    const consumer = new Consumer({ bootstrap: cluster.bootstrap, autoOffsetReset: 'earliest', maxPollRecords: 50_000, fetchesInFlight });
    await consumer.assignTopic(topic, 0);
    const pollMs: number[] = [];
    let read = 0;
    let bytes = 0;
    const start = hrMs();
    let lastProgress = start;
    while (read < records) {
      const t = hrMs();
      const batch = await consumer.poll(5_000);
      pollMs.push(hrMs() - t);
      if (batch.length === 0) break;
      read += batch.length;
      for (const r of batch) bytes += r.value?.length ?? 0;
      if (hrMs() - lastProgress > 1000) {
        lastProgress = hrMs();
        progress(`${read} records read`);
      }
    }
    const elapsedS = (hrMs() - start) / 1000;
    consumer.close();
    const [p50, p99] = percentiles(pollMs, [50, 99]);
    report({
      benchmark: 'consume',
      brokers,
      fetches_in_flight: fetchesInFlight,
      partitions: num(a.partitions, 'partitions'),
      record_size: size,
      records: read,
      records_per_s: read / elapsedS,
      mb_per_s: bytes / 1024 / 1024 / elapsedS,
      p50_ms: p50,
      p99_ms: p99,
      errors: read === records ? 0 : records - read,
    });
  } finally {
    await cluster.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
