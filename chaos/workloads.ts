import { performance } from 'node:perf_hooks';
import { Consumer, type ConsumerOptions } from '../src/client/consumer';
import { Producer, type ProducerOptions } from '../src/client/producer';
import { CairnError, errorName, isRetriable } from '../src/common/errors';
import type { FinalLog } from './checkers';
import type { History } from './history';
import { workloadClient } from './client-security';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every chaos producer's settings (the idempotent workload's and the transactional clients'):
 * acks=all, short timeouts and backoffs, so that faults of seconds are ridden out by retries and
 * metadata refreshes rather than by waiting.
 */
export const CHAOS_PRODUCER_OPTIONS = {
  acks: 'all',
  lingerMs: 2,
  deliveryTimeoutMs: 10_000,
  requestTimeoutMs: 4_000,
  retryBackoffMs: 100,
  retryBackoffMaxMs: 500,
  maxBlockMs: 10_000,
  metadataMaxAgeMs: 2_000,
} satisfies ProducerOptions;

export interface ProducerWorkloadOptions {
  bootstrap: string;
  topic: string;
  partitions: number;
  producers: number;
  /** Records per second per producer. */
  ratePerProducer: number;
  /** Sends in flight per producer. */
  concurrency: number;
  /** Default true (the client's default); false only for a negative control. */
  enableIdempotence?: boolean;
  history: History;
}

/**
 * acks=all producers writing unique values (`p<process>-<seq>`), each value to partition
 * seq mod partitions, recorded as invoke → ok/fail/info. Retriable failures that outlive the
 * producer's own retries are `info`: the write may have landed.
 */
export class ProducerWorkload {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly producers: Producer[] = [];

  constructor(private readonly o: ProducerWorkloadOptions) {}

  start(): void {
    this.running = true;
    for (let p = 0; p < this.o.producers; p++) {
      const producer = new Producer({ ...CHAOS_PRODUCER_OPTIONS, ...workloadClient(this.o.bootstrap), enableIdempotence: this.o.enableIdempotence ?? true });
      this.producers.push(producer);
      this.loops.push(this.loop(p, producer));
    }
  }

  private async loop(process: number, producer: Producer): Promise<void> {
    const h = this.o.history;
    const gapMs = 1000 / this.o.ratePerProducer;
    const inflight = new Set<Promise<void>>();
    let seq = 0;
    let next = performance.now();
    while (this.running) {
      if (inflight.size >= this.o.concurrency) {
        await Promise.race(inflight);
        continue;
      }
      const value = `p${process}-${seq}`;
      const mySeq = seq++;
      const partition = mySeq % this.o.partitions;
      h.send(process, 'invoke', value, mySeq, { partition });
      const op = producer.send({ topic: this.o.topic, partition, value }).then(
        (m) => h.send(process, 'ok', value, mySeq, { partition: m.partition, offset: m.offset }),
        (err: Error) => {
          const code = err instanceof CairnError ? err.code : -1;
          const definite = err instanceof CairnError && !isRetriable(code);
          h.send(process, definite ? 'fail' : 'info', value, mySeq, { partition, error: err instanceof CairnError ? errorName(code) : err.message });
        },
      );
      const tracked = op.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      next += gapMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000) next = performance.now(); // fell behind (a fault): do not burst
    }
    await Promise.allSettled(inflight);
  }

  /** Stops sending and waits for every send in flight to complete. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await Promise.all(this.producers.map((p) => p.close().catch(() => undefined)));
  }

  /** The last acknowledged value of each producer (the drain waits until it sees them). */
  lastAcked(): string[] {
    const last = new Map<number, { seq: number; value: string }>();
    for (const s of this.o.history.sends()) {
      if (s.type !== 'ok') continue;
      const prev = last.get(s.process);
      if (!prev || s.seq > prev.seq) last.set(s.process, { seq: s.seq, value: s.value });
    }
    return [...last.values()].map((x) => x.value);
  }
}

/**
 * A consumer following every partition from the start while faults happen, recording each record
 * it returns (for the offset-consistency and reader-progress checks). After an error it starts a
 * new session at its last positions.
 */
export class ReaderWorkload {
  private running = false;
  private loop: Promise<void> | null = null;

  /**
   * `mustReadCommitted`: its reads are held to read_committed's promise (the aborted-read checker);
   * `isolationLevel` is what its consumer asks for (a negative control asks for less).
   */
  constructor(
    private readonly o: { bootstrap: string; topic: string; partitions: number; history: History; process: number; isolationLevel?: ConsumerOptions['isolationLevel']; mustReadCommitted?: boolean },
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const positions = new Map<number, number>();
    for (let session = 0; this.running; session++) {
      const consumer = new Consumer({ ...workloadClient(this.o.bootstrap), maxWaitMs: 200, requestTimeoutMs: 4_000, metadataMaxAgeMs: 2_000, isolationLevel: this.o.isolationLevel });
      consumer.assign(Array.from({ length: this.o.partitions }, (_, p) => ({ topic: this.o.topic, partition: p, offset: positions.get(p) ?? 0 })));
      try {
        while (this.running) {
          for (const r of await consumer.poll(300)) {
            this.o.history.read(this.o.process, session, r.partition, r.offset, r.value?.toString() ?? 'null', this.o.mustReadCommitted === true);
            positions.set(r.partition, r.offset + 1);
          }
        }
      } catch {
        await sleep(200);
      } finally {
        consumer.close();
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/**
 * Reads every partition from offset 0 until every value in `mustSee` has been seen and each
 * partition is read to its end (the last stable offset, at read_committed), or the deadline passes
 * (reliability.md: heal → quiet → drain).
 */
export async function drain(
  bootstrap: string,
  topic: string,
  partitions: number,
  mustSee: readonly string[],
  deadlineMs: number,
  isolationLevel: ConsumerOptions['isolationLevel'] = 'read_uncommitted',
): Promise<{ log: FinalLog; complete: boolean }> {
  const log: FinalLog = new Map(Array.from({ length: partitions }, (_, p) => [p, new Map<number, string>()]));
  const pending = new Set(mustSee);
  const consumer = new Consumer({ ...workloadClient(bootstrap), maxWaitMs: 200, requestTimeoutMs: 4_000, isolationLevel });
  const deadline = performance.now() + deadlineMs;
  let quiet = 0;
  try {
    consumer.assign(Array.from({ length: partitions }, (_, p) => ({ topic, partition: p, offset: 0 })));
    while (performance.now() < deadline) {
      let records;
      try {
        records = await consumer.poll(500);
      } catch {
        await sleep(200);
        continue;
      }
      for (const r of records) {
        const v = r.value?.toString() ?? 'null';
        log.get(r.partition)!.set(r.offset, v);
        pending.delete(v);
      }
      quiet = records.length === 0 ? quiet + 1 : 0;
      const caughtUp = consumer.lag().every((l) => l.lag === 0);
      if (pending.size === 0 && caughtUp && quiet >= 2) return { log, complete: true };
    }
    return { log, complete: pending.size === 0 };
  } finally {
    consumer.close();
  }
}
