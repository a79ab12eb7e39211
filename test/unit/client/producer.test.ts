import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BrokerConnection, Cluster } from '../../../src/client/cluster';
import { Producer, type ProducerOptions, type RecordMetadata } from '../../../src/client/producer';
import { CairnError, ErrorCode } from '../../../src/common';
import type { InitProducerIdResponse, PartitionMetadata, ProduceRequest, ProduceResponse, TopicMetadata } from '../../../src/protocol';
import { batchSize, decodeRecords, readBatchHeader } from '../../../src/record';
import { SeededRandom } from '../../../src/common/random';

/** What the fake leader does with the next batch it processes: apply the sequence rules, or a fault. */
type Directive = 'ok' | 'drop' | 'drop-after-append' | { error: ErrorCode };

interface ProducerEntry {
  epoch: number;
  lastSeq: number;
  /** The last 5 batches, for duplicate detection (the broker answers a duplicate with its original offset). */
  recent: { epoch: number; firstSeq: number; lastSeq: number; baseOffset: number }[];
}

/**
 * One partition leader in process, holding requests until the test lets it answer, with the
 * broker's sequence rules (proto/cairn.proto, above InitProducerIdRequest).
 */
class FakeLeader {
  readonly log: string[] = [];
  /** Per producer id and partition ("id:partition"), as the broker keeps them. */
  readonly producers = new Map<string, ProducerEntry>();
  readonly script: Directive[] = [];
  readonly requests: ProduceRequest[] = [];
  private pending: { req: Omit<ProduceRequest, 'correlationId'>; resolve: (r: ProduceResponse) => void }[] = [];
  private nextProducerId = 1000;
  initProducerIdCalls = 0;

  readonly conn = {
    produce: {
      send: (req: Omit<ProduceRequest, 'correlationId'>) =>
        new Promise<ProduceResponse | null>((resolve) => {
          this.requests.push({ ...req, correlationId: 0 });
          this.pending.push({ req, resolve });
        }),
    },
    rpc: {
      unary: (method: string): Promise<InitProducerIdResponse> => {
        if (method !== 'InitProducerId') throw new Error(`unexpected ${method}`);
        this.initProducerIdCalls++;
        return Promise.resolve({ errorCode: ErrorCode.NONE, producerId: this.nextProducerId++, producerEpoch: 0 });
      },
    },
    close: () => undefined,
  } as unknown as BrokerConnection;

  get inFlight(): number {
    return this.pending.length;
  }

  /** Processes every request received so far, in arrival order. */
  answerAll(): void {
    const batch = this.pending;
    this.pending = [];
    for (const { req, resolve } of batch) {
      let respond = true;
      const results = req.partitions.map((pd) => {
        if (req.partitions.filter((x) => x.partition === pd.partition).length !== 1 || batchSize(pd.batches!) !== pd.batches!.length) {
          throw new Error('an idempotent batch must be the only batch of its partition in a request');
        }
        const d = this.script.shift() ?? 'ok';
        if (d === 'drop' || d === 'drop-after-append') respond = false;
        const code = d === 'drop' ? ErrorCode.NONE : typeof d === 'object' ? d.error : undefined;
        const { errorCode, baseOffset } = code !== undefined ? { errorCode: code, baseOffset: -1 } : this.append(pd.partition, pd.batches!);
        return { topic: pd.topic, partition: pd.partition, errorCode, baseOffset, logAppendTimeMs: -1, logStartOffset: 0 };
      });
      if (respond) resolve({ correlationId: 0, results });
    }
  }

  private append(partition: number, buf: Buffer): { errorCode: ErrorCode; baseOffset: number } {
    const h = readBatchHeader(buf);
    const count = h.lastOffsetDelta + 1;
    const lastSeq = (h.baseSequence + count - 1) % 2 ** 31;
    const key = `${h.producerId}:${partition}`;
    const s = this.producers.get(key);
    if (s === undefined) {
      if (h.baseSequence !== 0) return { errorCode: ErrorCode.UNKNOWN_PRODUCER_ID, baseOffset: -1 };
    } else if (h.producerEpoch < s.epoch) {
      return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, baseOffset: -1 };
    } else if (h.producerEpoch > s.epoch) {
      if (h.baseSequence !== 0) return { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 };
    } else {
      const dup = s.recent.find((r) => r.epoch === h.producerEpoch && r.firstSeq === h.baseSequence && r.lastSeq === lastSeq);
      if (dup) return { errorCode: ErrorCode.NONE, baseOffset: dup.baseOffset };
      if (h.baseSequence !== (s.lastSeq + 1) % 2 ** 31) return { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 };
    }
    const baseOffset = this.log.length;
    for (const r of decodeRecords(buf)) this.log.push(r.value!.toString());
    const e = s && s.epoch === h.producerEpoch ? s : { epoch: h.producerEpoch, lastSeq: -1, recent: [] };
    e.lastSeq = lastSeq;
    e.recent.push({ epoch: h.producerEpoch, firstSeq: h.baseSequence, lastSeq, baseOffset });
    if (e.recent.length > 5) e.recent.shift();
    this.producers.set(key, e);
    return { errorCode: ErrorCode.NONE, baseOffset };
  }
}

/** A Cluster whose only broker (node 1) is the fake leader of every partition of topic "t". */
class FakeCluster extends Cluster {
  constructor(
    readonly leader: FakeLeader,
    readonly partitions = 1,
  ) {
    super({ bootstrap: 'fake:1', requestTimeoutMs: 1_000, retryBackoffMs: 10, retryBackoffMaxMs: 40 });
  }
  private partitionMeta(partition: number): PartitionMetadata {
    return { partition, errorCode: ErrorCode.NONE, leaderId: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] };
  }
  override waitForTopic(name: string): Promise<TopicMetadata> {
    return Promise.resolve({ name, topicId: '', errorCode: ErrorCode.NONE, partitions: Array.from({ length: this.partitions }, (_, p) => this.partitionMeta(p)), internal: false });
  }
  override cachedPartition(_topic: string, partition: number): PartitionMetadata | undefined {
    return this.partitionMeta(partition);
  }
  override refresh(): never {
    return Promise.resolve({ correlationId: 0, controllerId: 1, brokers: [], topics: [] }) as never;
  }
  override broker(): BrokerConnection {
    return this.leader.conn;
  }
  override connection(): BrokerConnection {
    return this.leader.conn;
  }
  override brokerCandidates(): string[] {
    return ['fake:1'];
  }
  override close(): void {}
}

const base: ProducerOptions = { lingerMs: 5, batchSizeBytes: 120, deliveryTimeoutMs: 60_000, clock: { nowMs: () => Date.now() }, random: () => 0.5 };

function settle<T>(ps: Promise<T>[]): { results: (T | Error | undefined)[] } {
  const out = { results: ps.map(() => undefined as T | Error | undefined) };
  ps.forEach((p, i) =>
    p.then(
      (v) => (out.results[i] = v),
      (e: Error) => (out.results[i] = e),
    ),
  );
  return out;
}

describe('Producer against a fake leader', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a lone send leaves at once, without waiting out the linger', async () => {
    const leader = new FakeLeader();
    const producer = new Producer({ ...base, lingerMs: 10_000 }, { cluster: new FakeCluster(leader) });
    const sent = producer.send({ topic: 't', value: 'only' });
    await vi.advanceTimersByTimeAsync(0);
    expect(leader.requests).toHaveLength(1);
    leader.answerAll();
    await expect(sent).resolves.toMatchObject({ offset: 0 });
    expect(leader.initProducerIdCalls).toBe(1);
  });

  it('records sent in the same tick share one batch', async () => {
    const leader = new FakeLeader();
    const producer = new Producer({ ...base, batchSizeBytes: 64 * 1024 }, { cluster: new FakeCluster(leader) });
    await vi.advanceTimersByTimeAsync(0);
    const sends = ['a', 'b', 'c'].map((value) => producer.send({ topic: 't', value }));
    await vi.advanceTimersByTimeAsync(0);
    expect(leader.requests).toHaveLength(1);
    leader.answerAll();
    expect((await Promise.all(sends)).map((m) => m.offset)).toEqual([0, 1, 2]);
  });

  it('a producer that awaits each keyless send spreads its records over every partition (its batches leave long before they are full)', async () => {
    const leader = new FakeLeader();
    const rnd = new SeededRandom(5);
    const producer = new Producer({ ...base, batchSizeBytes: 1024, random: () => rnd.next() }, { cluster: new FakeCluster(leader, 3) });
    for (let i = 0; i < 300; i++) {
      const sent = producer.send({ topic: 't', value: `record-${i}` });
      await vi.advanceTimersByTimeAsync(0);
      leader.answerAll();
      await sent;
    }
    const perPartition = [0, 1, 2].map((p) => leader.requests.filter((r) => r.partitions.some((x) => x.partition === p)).length);
    expect(perPartition.reduce((a, b) => a + b)).toBe(300);
    for (const n of perPartition) expect(n).toBeGreaterThan(50);
  });

  it('pipelines 5 batches, and after NOT_LEADER on the first and OUT_OF_ORDER on the rest, then a lost answer, the log holds every record once, in send order', async () => {
    const leader = new FakeLeader();
    const producer = new Producer(base, { cluster: new FakeCluster(leader) });
    const values = Array.from({ length: 40 }, (_, i) => `record-${String(i).padStart(2, '0')}`);
    const sends: Promise<RecordMetadata>[] = [];
    sends.push(producer.send({ topic: 't', value: values[0]! }));
    await vi.advanceTimersByTimeAsync(0);
    expect(leader.inFlight).toBe(1); // the first record left at once
    for (const v of values.slice(1)) sends.push(producer.send({ topic: 't', value: v }));
    const outcome = settle(sends);
    await vi.advanceTimersByTimeAsync(0);
    expect(leader.inFlight).toBe(5); // full batches go out while others are in flight, up to 5

    // The first in-flight batch: NOT_LEADER (not written); the four behind it: by the rules, OUT_OF_ORDER.
    leader.script.push({ error: ErrorCode.NOT_LEADER_OR_FOLLOWER });
    leader.answerAll();
    expect(leader.log).toEqual([]);
    // The resent first batch is written but its answer is lost: the producer times out and resends it.
    leader.script.push('drop-after-append');
    for (let i = 0; i < 400 && outcome.results.some((r) => r === undefined); i++) {
      await vi.advanceTimersByTimeAsync(10);
      leader.answerAll();
    }
    expect(outcome.results.every((r) => r !== undefined && !(r instanceof Error))).toBe(true);
    expect(leader.log).toEqual(values);
    expect((outcome.results as RecordMetadata[]).map((m) => m.offset)).toEqual(values.map((_, i) => i));
    const seqs = leader.requests.flatMap((r) => r.partitions.map((p) => readBatchHeader(p.batches!))).map((h) => h.producerEpoch);
    expect(new Set(seqs)).toEqual(new Set([0])); // no epoch bump was needed
    expect(leader.initProducerIdCalls).toBe(1);
    await producer.close();
  });

  it('UNKNOWN_PRODUCER_ID on the first unacknowledged batch fails it and the batches sent behind it; the partition bumps its epoch and the rest arrive once, in order', async () => {
    const leader = new FakeLeader();
    const producer = new Producer(base, { cluster: new FakeCluster(leader) });
    const values = Array.from({ length: 20 }, (_, i) => `v${String(i).padStart(2, '0')}`);
    const sends = [producer.send({ topic: 't', value: values[0]! })];
    await vi.advanceTimersByTimeAsync(0);
    for (const v of values.slice(1)) sends.push(producer.send({ topic: 't', value: v }));
    const outcome = settle(sends);
    await vi.advanceTimersByTimeAsync(0);
    leader.script.push({ error: ErrorCode.UNKNOWN_PRODUCER_ID });
    for (let i = 0; i < 400 && outcome.results.some((r) => r === undefined); i++) {
      leader.answerAll();
      await vi.advanceTimersByTimeAsync(10);
    }
    const failed = outcome.results.filter((r): r is CairnError => r instanceof CairnError);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((e) => e.code === ErrorCode.UNKNOWN_PRODUCER_ID)).toBe(true);
    expect(outcome.results.slice(0, failed.length).every((r) => r instanceof CairnError)).toBe(true); // the first batch's records
    expect(leader.log).toEqual(values.slice(failed.length));
    const epochs = leader.requests.flatMap((r) => r.partitions.map((p) => readBatchHeader(p.batches!).producerEpoch));
    expect(epochs[epochs.length - 1]).toBe(1);
    // Nothing sent under epoch 0 is sent again under epoch 1 (it may be in some replica's log): those sends failed instead.
    const sentIn = (epoch: number) =>
      new Set(
        leader.requests.flatMap((r) => r.partitions.filter((p) => readBatchHeader(p.batches!).producerEpoch === epoch).flatMap((p) => decodeRecords(p.batches!).map((x) => x.value!.toString()))),
      );
    const [old, renewed] = [sentIn(0), sentIn(1)];
    expect(old.size).toBeGreaterThan(decodeRecords(leader.requests[0]!.partitions[0]!.batches!).length); // more than the first batch went out under epoch 0
    expect([...renewed].filter((v) => old.has(v))).toEqual([]);
    expect(failed.length).toBe(old.size);
    expect(failed[failed.length - 1]!.message).toMatch(/may or may not have been written/);
  });

  it('a resend that runs out of delivery time at the head of the queue: the epoch is bumped and the batch behind it still goes', async () => {
    const leader = new FakeLeader();
    const producer = new Producer({ ...base, deliveryTimeoutMs: 25 }, { cluster: new FakeCluster(leader) });
    const a = settle([producer.send({ topic: 't', value: 'a' })]);
    await vi.advanceTimersByTimeAsync(0); // a leaves at once (t=0)
    leader.script.push({ error: ErrorCode.NOT_LEADER_OR_FOLLOWER }, { error: ErrorCode.NOT_LEADER_OR_FOLLOWER });
    leader.answerAll(); // back for a resend after 10 ms
    await vi.advanceTimersByTimeAsync(10);
    leader.answerAll(); // again: the next resend waits 20 ms (until t=30), past a's delivery timeout (t=25)
    await vi.advanceTimersByTimeAsync(10);
    // t=20: b joins the queue behind a. At t=30 a expires at the head, its sequence a gap that needs a
    // new epoch; that turn must bump it, for no later one is due.
    const b = settle([producer.send({ topic: 't', value: 'b' })]);
    for (let i = 0; i < 40 && b.results[0] === undefined; i++) {
      leader.answerAll();
      await vi.advanceTimersByTimeAsync(5);
    }
    expect(a.results[0]).toBeInstanceOf(CairnError);
    // The last failure's code says why; the message says the delivery timeout ran out.
    expect((a.results[0] as CairnError).code).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect((a.results[0] as CairnError).message).toMatch(/deliveryTimeoutMs 25/);
    expect(b.results[0]).toMatchObject({ offset: 0 });
    expect(leader.log).toEqual(['b']);
    expect(readBatchHeader(leader.requests[leader.requests.length - 1]!.partitions[0]!.batches!).producerEpoch).toBe(1);
  });

  it('idempotence: on by default with acks=all, silently off with acks=1, INVALID_CONFIG if asked for with acks 0 or 1', () => {
    const cluster = new FakeCluster(new FakeLeader());
    expect(new Producer({}, { cluster }).isIdempotent).toBe(true);
    expect(new Producer({ acks: 1 }, { cluster }).isIdempotent).toBe(false);
    expect(new Producer({ acks: 'all', enableIdempotence: false }, { cluster }).isIdempotent).toBe(false);
    expect(() => new Producer({ acks: 1, enableIdempotence: true }, { cluster })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG }));
    expect(() => new Producer({ acks: 0, enableIdempotence: true }, { cluster })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG }));
    expect(() => new Producer({ maxInFlightPerPartition: 6 }, { cluster })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG }));
    expect(new Producer({ acks: 1, maxInFlightPerPartition: 10 }, { cluster }).isIdempotent).toBe(false);
  });
});
