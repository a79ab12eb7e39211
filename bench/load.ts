/**
 * Load generators over the BenchSystem interface: a producer loop (max rate or a target rate, a
 * bounded window of outstanding records, for a duration or a record count) and readers that count
 * what they receive. Every record carries its send time in its first 8 bytes, so readers measure
 * end-to-end latency; the producer measures send()-to-ack latency. Both are sampled (every 8th
 * record), as Kafka's perf tools sample, so measuring does not allocate per record.
 */
import { hrMs, percentiles, progress } from './common';
import type { BenchConsumer, BenchProducer } from './systems/system';

const SAMPLE_EVERY = 8;
const MIN_RECORD = 8;

export interface LatencySummary {
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
}

export interface LoadResult extends LatencySummary {
  records: number;
  bytes: number;
  seconds: number;
  records_per_s: number;
  mb_per_s: number;
  errors: number;
}

/** A sample of latencies in milliseconds, grown as needed. */
export class LatencySample {
  private data = new Float64Array(1 << 16);
  private n = 0;
  add(ms: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = ms;
  }
  summary(): LatencySummary {
    const [p50, p95, p99, p999, max] = percentiles(this.data.subarray(0, this.n), [50, 95, 99, 99.9, 100]);
    return { p50_ms: p50!, p95_ms: p95!, p99_ms: p99!, p999_ms: p999!, max_ms: max! };
  }
}

/** A record of `size` bytes stamped with the current time (ms, monotonic) in its first 8 bytes. */
function stamped(template: Buffer, now: number): Buffer {
  const v = Buffer.allocUnsafe(template.length);
  template.copy(v);
  v.writeDoubleLE(now, 0);
  return v;
}

/** The send time a record carries (see stamped()). */
export function sentAt(value: Uint8Array): number {
  return Buffer.from(value.buffer, value.byteOffset, 8).readDoubleLE(0);
}

export interface ProduceLoadOptions {
  producers: BenchProducer[];
  recordSize: number;
  /** Stop sending after this long (seconds)… */
  durationS?: number;
  /** …or after this many records, whichever comes first. */
  maxRecords?: number;
  /** Records/s over all producers; 0 = as fast as the window allows. */
  rate: number;
  /** Outstanding (sent, not yet acknowledged) records per producer. */
  window: number;
  label?: string;
}

/** Runs the producers; resolves when every sent record is acknowledged or failed. */
export async function produceLoad(o: ProduceLoadOptions): Promise<LoadResult> {
  if (o.recordSize < MIN_RECORD) throw new Error(`--record-size must be at least ${MIN_RECORD} (the send time is stamped into each record)`);
  const template = Buffer.alloc(o.recordSize, 0x61);
  const latency = new LatencySample();
  const endAt = o.durationS !== undefined ? hrMs() + o.durationS * 1000 : Infinity;
  const maxRecords = o.maxRecords ?? Infinity;
  const perProducer = maxRecords === Infinity ? Infinity : Math.ceil(maxRecords / o.producers.length);
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let firstError: unknown = null;
  const start = hrMs();
  const ticker = setInterval(
    () => progress(`${o.label ?? 'produce'}: ${acked} records acknowledged, ${(acked / ((hrMs() - start) / 1000)).toFixed(0)} records/s${errors ? `, ${errors} errors` : ''}`),
    1000,
  );
  try {
    await Promise.all(
      o.producers.map(async (producer) => {
        let outstanding = 0;
        let resume: (() => void) | null = null;
        // A full window resumes the loop once an eighth of it has drained, not at every
        // acknowledgement: one await per record was most of the load generator's own garbage.
        // A window of 1 (one awaited send at a time) still resumes at 0.
        const resumeBelow = o.window - Math.floor(o.window / 8);
        const release = () => {
          if (--outstanding < resumeBelow && resume) {
            const r = resume;
            resume = null;
            r();
          }
        };
        const onAck = () => {
          acked++;
          release();
        };
        const onError = (err: unknown) => {
          errors++;
          firstError ??= err;
          release();
        };
        const pStart = hrMs();
        const perProducerRate = o.rate / o.producers.length;
        for (let i = 0; i < perProducer; i++) {
          let now = hrMs();
          if (now >= endAt) break;
          if (perProducerRate > 0) {
            const due = pStart + (i / perProducerRate) * 1000;
            if (due - now > 1) {
              await new Promise((r) => setTimeout(r, due - now));
              now = hrMs();
            }
          }
          outstanding++;
          sent++;
          const value = stamped(template, now);
          if (i % SAMPLE_EVERY === 0) {
            const t0 = now;
            producer.send(value).then(() => {
              latency.add(hrMs() - t0);
              onAck();
            }, onError);
          } else {
            producer.send(value).then(onAck, onError);
          }
          if (outstanding >= o.window) await new Promise<void>((r) => (resume = r));
        }
        await producer.flush();
        // Settled sends: flush() waits for the requests, the callbacks above run right after.
        while (outstanding > 0) await new Promise<void>((r) => (resume = r));
      }),
    );
  } finally {
    clearInterval(ticker);
  }
  const seconds = (hrMs() - start) / 1000;
  if (firstError && acked === 0) throw firstError;
  return {
    records: acked,
    bytes: acked * o.recordSize,
    seconds,
    records_per_s: acked / seconds,
    mb_per_s: (acked * o.recordSize) / 1024 / 1024 / seconds,
    ...latency.summary(),
    // Failed sends, and any send that never settled.
    errors: sent - acked,
  };
}

/** Reads with each consumer until it has `expected` records (or stalls); one result per reader. */
export async function consumeLoad(o: { consumers: BenchConsumer[]; expected: () => number; done: () => boolean; stallS?: number; label?: string }): Promise<LoadResult[]> {
  const stallMs = (o.stallS ?? 15) * 1000;
  const start = hrMs();
  const readers = o.consumers.map((consumer) => {
    const r = { consumer, records: 0, bytes: 0, latency: new LatencySample(), lastAt: start, finishedAt: 0 };
    consumer.start(
      (value) => {
        r.records++;
        r.bytes += value.length;
        if (r.records % SAMPLE_EVERY === 0) r.latency.add(hrMs() - sentAt(value));
      },
      () => {
        // A clock read per delivery, not per record: at two million records/s it is a fifth of the reader.
        r.lastAt = hrMs();
      },
    );
    return r;
  });
  const ticker = setInterval(() => progress(`${o.label ?? 'consume'}: ${readers.map((r) => r.records).join(' / ')} records read`), 1000);
  try {
    for (;;) {
      const now = hrMs();
      const expected = o.expected();
      for (const r of readers) if (r.finishedAt === 0 && o.done() && r.records >= expected) r.finishedAt = r.lastAt;
      if (readers.every((r) => r.finishedAt > 0)) break;
      if (readers.some((r) => r.finishedAt === 0 && now - Math.max(r.lastAt, start) > stallMs)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    clearInterval(ticker);
    await Promise.all(readers.map((r) => r.consumer.close()));
  }
  const expected = o.expected();
  return readers.map((r) => {
    const seconds = ((r.finishedAt || r.lastAt) - start) / 1000;
    return {
      records: r.records,
      bytes: r.bytes,
      seconds,
      records_per_s: r.records / seconds,
      mb_per_s: r.bytes / 1024 / 1024 / seconds,
      ...r.latency.summary(),
      errors: Math.max(0, expected - r.records),
    };
  });
}
