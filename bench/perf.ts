/**
 * bench:perf — a producer/consumer load against Cairn, NATS JetStream or Redis Streams, in the
 * spirit of Kafka's producer-perf-test and consumer-perf-test and the OpenMessaging Benchmark:
 * producers at full speed or a target rate for a duration (or a record count), optionally with
 * readers (one consumer group each) reading the same records as they arrive. Prints a progress
 * line while it runs, a one-line summary, and one JSON object as its last line.
 * `npm run bench:produce` is this tool with Cairn on one node.
 */
import { silenceIpServerNameWarning } from '../src/protocol/io/tls';
import { args, cpuMeter, num, progress, report } from './common';
import { consumeLoad, produceLoad } from './load';
import { CairnSystem } from './systems/cairn';
import { NatsSystem } from './systems/nats';
import { RedisSystem } from './systems/redis';
import type { BenchSystem, StreamSpec } from './systems/system';

async function main(): Promise<void> {
  silenceIpServerNameWarning();
  const a = args({
    system: 'cairn',
    brokers: '1',
    'replication-factor': '1',
    partitions: '3',
    producers: '1',
    consumers: '0',
    'record-size': '100',
    records: '2000000',
    duration: '',
    rate: '0',
    acks: '1',
    // Empty: the producer's own defaults (Cairn: 64 KiB, 5 ms, idempotent with acks=all).
    'batch-size': '',
    'linger-ms': '',
    idempotence: '',
    window: '',
    bootstrap: '',
    'flush-policy': '',
    // Cairn: TLS and mutual TLS on every link and authorization on (docs/security.md).
    secure: 'false',
    // Cairn: every node serves Prometheus metrics (metrics.listener), so the interceptor counts every request.
    metrics: 'false',
    // Cairn: transactional producers, committing every --records-per-transaction records (100 unless
    // --transaction-duration-ms is given) or every --transaction-duration-ms (Kafka's
    // producer-perf-test option of that name), whichever comes first. Either option alone turns
    // transactions on.
    transactional: 'false',
    'records-per-transaction': '',
    'transaction-duration-ms': '',
  });
  const txnDurationMs = a['transaction-duration-ms'] ? num(a['transaction-duration-ms'], 'transaction-duration-ms') : undefined;
  const transactional = a.transactional === 'true' || a['records-per-transaction'] !== '' || txnDurationMs !== undefined;
  const recordsPerTxn = a['records-per-transaction'] ? num(a['records-per-transaction'], 'records-per-transaction') : transactional && txnDurationMs === undefined ? 100 : undefined;
  const brokers = num(a.brokers, 'brokers');
  const rf = num(a['replication-factor'], 'replication-factor');
  // A transactional producer is idempotent, which needs acks=all.
  const acks = a.acks === 'all' || a.acks === '-1' || transactional ? 'all' : num(a.acks, 'acks') === 1 ? 1 : null;
  if (acks === null) throw new Error('--acks: 1 or all');
  const sys: BenchSystem =
    a.system === 'cairn'
      ? new CairnSystem({
          nodes: brokers,
          bootstrap: a.bootstrap || undefined,
          secure: a.secure === 'true',
          metrics: a.metrics === 'true',
          flags: a['flush-policy'] ? { 'log-flush-policy': a['flush-policy'] } : {},
        })
      : a.system === 'nats'
        ? new NatsSystem({ nodes: brokers })
        : a.system === 'redis'
          ? new RedisSystem({ nodes: brokers })
          : (() => {
              throw new Error(`--system: cairn, nats or redis, not "${a.system}"`);
            })();
  const availability = sys instanceof NatsSystem ? NatsSystem.availability() : sys instanceof RedisSystem ? RedisSystem.availability() : { ok: true as const };
  if (!availability.ok) throw new Error(`${availability.reason}; install it with: ${availability.install}`);
  if (a.idempotence !== '' && a.idempotence !== 'true' && a.idempotence !== 'false') throw new Error('--idempotence: true or false');
  const idempotence = a.idempotence === '' ? undefined : a.idempotence === 'true';
  const recordSize = num(a['record-size'], 'record-size');
  const producersN = num(a.producers, 'producers');
  const consumersN = num(a.consumers, 'consumers');
  const stream: StreamSpec = { name: `perf-${Date.now()}`, partitions: num(a.partitions, 'partitions'), replicas: rf };
  progress(`starting ${sys.name}`);
  try {
    await sys.start();
    await sys.createStream(stream);
    const producers = await Promise.all(
      Array.from({ length: producersN }, () =>
        sys.producer(stream, {
          acks,
          batchBytes: a['batch-size'] ? num(a['batch-size'], 'batch-size') : undefined,
          lingerMs: a['linger-ms'] ? num(a['linger-ms'], 'linger-ms') : undefined,
          idempotence,
          recordsPerTransaction: recordsPerTxn,
          transactionDurationMs: txnDurationMs,
        }),
      ),
    );
    const consumers = await Promise.all(Array.from({ length: consumersN }, (_, i) => sys.consumer(stream, `perf-group-${i}`)));
    let produced = 0;
    let producing = true;
    const reading = consumersN > 0 ? consumeLoad({ consumers, expected: () => produced, done: () => !producing }) : Promise.resolve([]);
    const window = a.window ? num(a.window, 'window') : (sys.preferredWindow ?? 20_000);
    const cpu = cpuMeter(sys.serverPids?.() ?? []);
    const p = await produceLoad({
      producers,
      recordSize,
      durationS: a.duration ? num(a.duration, 'duration') : undefined,
      maxRecords: a.duration ? undefined : num(a.records, 'records'),
      rate: num(a.rate, 'rate'),
      window,
    });
    const used = cpu.stop();
    produced = p.records;
    producing = false;
    await Promise.all(producers.map((x) => x.close()));
    const readers = await reading;
    const transactions = transactional ? producers.reduce((n, x) => n + (x.committedTransactions?.() ?? 0), 0) : null;
    const human = `${sys.name}: ${Math.round(p.records_per_s).toLocaleString('en')} records/s produced (${p.mb_per_s.toFixed(1)} MB/s), latency p50 ${p.p50_ms.toFixed(1)} ms, p99 ${p.p99_ms.toFixed(1)} ms, p99.9 ${p.p999_ms.toFixed(1)} ms, max ${p.max_ms.toFixed(1)} ms, ${p.errors} errors`;
    process.stderr.write('\n' + human + '\n');
    const perRecord = (cores: number) => (cores * p.seconds * 1e6) / Math.max(1, p.records);
    process.stderr.write(
      `  CPU while producing: benchmark process ${used.client_cores.toFixed(2)} cores (${perRecord(used.client_cores).toFixed(2)} µs/record)` +
        (used.server_cores === null ? '' : `, servers ${used.server_cores.toFixed(2)} cores (${perRecord(used.server_cores).toFixed(2)} µs/record)`) +
        '\n',
    );
    if (transactions !== null)
      process.stderr.write(`  ${transactions.toLocaleString('en')} transactions committed, ${Math.round(p.records / Math.max(1, transactions)).toLocaleString('en')} records each on average\n`);
    for (const [i, r] of readers.entries())
      process.stderr.write(
        `  reader ${i}: ${r.records.toLocaleString('en')} records, ${Math.round(r.records_per_s).toLocaleString('en')} records/s, end-to-end p50 ${r.p50_ms.toFixed(1)} ms, p99 ${r.p99_ms.toFixed(1)} ms\n`,
      );
    report({
      benchmark: 'perf',
      system: sys.name,
      durability: sys.durability,
      brokers,
      replication_factor: rf,
      acks: String(acks),
      transactional,
      records_per_transaction: recordsPerTxn ?? null,
      transaction_duration_ms: txnDurationMs ?? null,
      // Committed transactions over the run (close() commits the last one), and their mean size.
      transactions,
      records_per_committed_transaction: transactions ? Math.round(p.records / transactions) : null,
      partitions: stream.partitions,
      producers: producersN,
      consumers: consumersN,
      record_size: recordSize,
      target_rate: num(a.rate, 'rate'),
      window,
      records: p.records,
      records_per_s: p.records_per_s,
      mb_per_s: p.mb_per_s,
      p50_ms: p.p50_ms,
      p95_ms: p.p95_ms,
      p99_ms: p.p99_ms,
      p999_ms: p.p999_ms,
      max_ms: p.max_ms,
      errors: p.errors + readers.reduce((s, r) => s + r.errors, 0),
      // CPU seconds per wall second while producing (readers included); servers: the ones this run started.
      client_cores: used.client_cores,
      server_cores: used.server_cores,
      client_us_per_record: perRecord(used.client_cores),
      server_us_per_record: used.server_cores === null ? null : perRecord(used.server_cores),
      readers: readers.map((r) => ({ records: r.records, records_per_s: Math.round(r.records_per_s), e2e_p50_ms: r.p50_ms, e2e_p99_ms: r.p99_ms, errors: r.errors })),
    });
  } finally {
    await sys.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
