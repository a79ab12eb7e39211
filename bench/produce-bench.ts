/**
 * bench:produce — one TypeScript producer (or several) against a cluster over gRPC, in the spirit
 * of Kafka's producer-perf-test: fixed-size records, max rate or a target rate, latency measured
 * per record from send() to acknowledgement.
 */
import { Producer, type Acks } from '../src/client/producer';
import { args, hrMs, num, percentiles, progress, report } from './common';
import { benchCluster, createBenchTopic } from './cluster';

const LATENCY_SAMPLE_EVERY = 8;

async function main(): Promise<void> {
  const a = args({
    records: '2000000',
    'record-size': '100',
    acks: '1',
    partitions: '3',
    brokers: '1',
    'replication-factor': '1',
    'batch-size': '65536',
    'linger-ms': '5',
    rate: '0',
    producers: '1',
    window: '20000',
    bootstrap: '',
    topic: '',
    'flush-policy': '',
  });
  const records = num(a.records, 'records');
  const size = num(a['record-size'], 'record-size');
  const acks: Acks = a.acks === 'all' || a.acks === '-1' ? 'all' : (num(a.acks, 'acks') as 0 | 1);
  const rate = num(a.rate, 'rate');
  const producers = num(a.producers, 'producers');
  const window = num(a.window, 'window');
  const brokers = num(a.brokers, 'brokers');
  const rf = num(a['replication-factor'], 'replication-factor');
  const cluster = await benchCluster({ bootstrap: a.bootstrap || undefined, brokers, flags: a['flush-policy'] ? { 'log-flush-policy': a['flush-policy'] } : {} });
  const topic = a.topic || `bench-produce-${Date.now()}`;
  try {
    await createBenchTopic(cluster.bootstrap, topic, num(a.partitions, 'partitions'), rf);
    const value = Buffer.alloc(size, 0x62);
    const latencies = new Float64Array(Math.ceil(records / LATENCY_SAMPLE_EVERY)).fill(NaN);
    let errors = 0;
    let done = 0;
    const perProducer = Math.ceil(records / producers);
    const start = hrMs();
    const ticker = setInterval(() => progress(`${done} records acknowledged, ${(done / ((hrMs() - start) / 1000)).toFixed(0)} records/s`), 1000);
    await Promise.all(
      Array.from({ length: producers }, async (_, pi) => {
        const producer = new Producer({ bootstrap: cluster.bootstrap, acks, lingerMs: num(a['linger-ms'], 'linger-ms'), batchSizeBytes: num(a['batch-size'], 'batch-size'), bufferMemoryBytes: 256 * 1024 * 1024 });
        // Warm the metadata cache so the first sends do not all wait on it.
        await producer.send({ topic, value });
        const first = pi * perProducer;
        const last = Math.min(records, first + perProducer);
        let outstanding = 0;
        let resume: (() => void) | null = null;
        const release = () => {
          if (--outstanding < window && resume) {
            const r = resume;
            resume = null;
            r();
          }
        };
        const onAck = () => {
          done++;
          release();
        };
        const onError = () => {
          errors++;
          done++;
          release();
        };
        const pStart = hrMs();
        for (let i = first; i < last; i++) {
          if (rate > 0) {
            const due = pStart + ((i - first) / (rate / producers)) * 1000;
            const wait = due - hrMs();
            if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          }
          outstanding++;
          // Latency is sampled (every LATENCY_SAMPLE_EVERY-th record), as Kafka's perf tool samples, so
          // the measurement does not allocate a closure per record and distort what it measures.
          if (i % LATENCY_SAMPLE_EVERY === 0) {
            const sentAt = hrMs();
            const slot = i / LATENCY_SAMPLE_EVERY;
            producer.send({ topic, value }).then(() => {
              latencies[slot] = hrMs() - sentAt;
              onAck();
            }, onError);
          } else {
            producer.send({ topic, value }).then(onAck, onError);
          }
          if (outstanding >= window) await new Promise<void>((r) => (resume = r));
        }
        await producer.flush();
        await producer.close();
      }),
    );
    const elapsedS = (hrMs() - start) / 1000;
    clearInterval(ticker);
    const [p50, p95, p99, p999, max] = percentiles(latencies.filter((x) => !Number.isNaN(x)), [50, 95, 99, 99.9, 100]);
    report({
      benchmark: 'produce',
      brokers,
      replication_factor: rf,
      acks: String(acks),
      partitions: num(a.partitions, 'partitions'),
      producers,
      record_size: size,
      records,
      target_rate: rate,
      records_per_s: records / elapsedS,
      mb_per_s: (records * size) / 1024 / 1024 / elapsedS,
      p50_ms: p50,
      p95_ms: p95,
      p99_ms: p99,
      p999_ms: p999,
      max_ms: max,
      errors,
    });
  } finally {
    await cluster.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
