/**
 * A steady acks=all load for real-process tests, and the read-back that checks it: every
 * acknowledged value in the log exactly once (lost-write and duplicate checks, reliability.md).
 */
import { expect } from 'vitest';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { waitFor } from './tmp';

/** An idempotent acks=all producer sending unique values (keyed by themselves) in rounds of 20 until stopped. */
export class AckedLoad {
  readonly acked: string[] = [];
  readonly failed: string[] = [];
  /** Sends not answered yet, and when each was made: what a stalled load is waiting for. */
  private readonly pending = new Map<string, number>();
  private running = true;
  private readonly producer: Producer;
  private readonly done: Promise<void>;

  constructor(bootstrap: string, topic: string) {
    this.producer = new Producer({ bootstrap, acks: 'all' });
    this.done = (async () => {
      for (let i = 0; this.running; i++) {
        const batch = Array.from({ length: 20 }, (_, j) => `v${i * 20 + j}`);
        await Promise.all(
          batch.map((value) => {
            this.pending.set(value, Date.now());
            return this.producer.send({ topic, key: value, value }).then(
              () => {
                this.pending.delete(value);
                this.acked.push(value);
              },
              (err: Error) => {
                this.pending.delete(value);
                this.failed.push(`${value}: ${err.message}`);
              },
            );
          }),
        );
      }
    })();
  }

  /** Resolves once `n` more records have been acknowledged. */
  async more(n: number, what: string, timeoutMs = 30_000): Promise<void> {
    const target = this.acked.length + n;
    try {
      await waitFor(() => this.acked.length >= target, what, timeoutMs);
    } catch (err) {
      const oldest = Math.min(...this.pending.values());
      throw new Error(
        `${(err as Error).message} (${this.acked.length} acknowledged, ${this.failed.length} failed, ${this.pending.size} unanswered, the oldest for ${Date.now() - oldest} ms: ${[...this.pending.keys()].slice(0, 3).join(', ')})`,
        { cause: err },
      );
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    await this.producer.close();
  }
}

/** Reads `topic`'s `partitions` from the start until `acked.length` values arrived; every acknowledged value must be there, none twice. */
export async function expectEachOnce(bootstrap: string, topic: string, partitions: number, acked: readonly string[]): Promise<void> {
  const consumer = new Consumer({ bootstrap, autoOffsetReset: 'earliest' });
  const seen: string[] = [];
  try {
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
    await waitFor(
      async () => {
        for (const rec of await consumer.poll(500)) seen.push(rec.value!.toString());
        return seen.length >= acked.length || null;
      },
      `${acked.length} records read back`,
      60_000,
    );
  } finally {
    await consumer.close();
  }
  const read = new Set(seen);
  expect(acked.filter((v) => !read.has(v))).toEqual([]);
  expect(seen.length).toBe(read.size);
}
