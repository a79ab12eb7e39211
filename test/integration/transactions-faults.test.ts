/**
 * Transactions under failures, against real processes (issue 19's "Done when"): a transactional
 * copy job killed with -9 together with the coordinator's broker and partition leaders, and a
 * transactional write delayed past its transaction's end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ChaosCluster } from '../../chaos/harness/chaos-cluster';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { CAIRN_MAIN } from '../../src/cli/local-cluster';
import { silentLogger } from '../../src/common/io/logger';
import { SeededRandom } from '../../src/common/random';
import type { DescribeProducersResponse } from '../../src/protocol/messages';
import { RpcClient } from '../../src/protocol/io/rpc-client';
import { runExactlyOnceCopy } from '../../examples/exactly-once-copy';
import { FAST_FAILOVER_FLAGS as FAST, TestCluster } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

let chaos: ChaosCluster | null = null;
let cluster: TestCluster | null = null;
const jobs: ChildProcess[] = [];
afterEach(async () => {
  for (const j of jobs.splice(0)) j.kill('SIGKILL');
  await chaos?.stop();
  chaos = null;
  await cluster?.stopAll();
  cluster = null;
});

/** `cairn copy` as its own process, so that kill -9 reaches it as it would reach a job. */
function startCopyJob(bootstrap: string): ChildProcess {
  const child = spawn(process.execPath, [CAIRN_MAIN, 'copy', 'in', 'out', '--group', 'copier', '--transactional-id', 'copier-1', '--records-per-transaction', '200'], {
    env: { ...process.env, CAIRN_BOOTSTRAP: bootstrap },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  jobs.push(child);
  return child;
}

/** Every record of `topic`'s partitions at read_committed: key and value, per partition in offset order. */
async function readCommitted(bootstrap: string, topic: string, partitions: number, expect: number): Promise<{ key: string; value: string; partition: number }[]> {
  const consumer = new Consumer({ bootstrap, isolationLevel: 'read_committed', maxWaitMs: 200 });
  const out: { key: string; value: string; partition: number }[] = [];
  try {
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
    await waitFor(
      async () => {
        for (const r of await consumer.poll(300)) out.push({ key: r.key?.toString() ?? '', value: r.value!.toString(), partition: r.partition });
        return out.length >= expect && consumer.lag().every((l) => l.lag === 0);
      },
      `${expect} committed records of ${topic}`,
      120_000,
    );
    for (const r of await consumer.poll(300)) out.push({ key: r.key?.toString() ?? '', value: r.value!.toString(), partition: r.partition });
  } finally {
    await consumer.close();
  }
  return out;
}

describe('transactions under failures (issue 19)', () => {
  it('(a) a copy job in → out survives kill -9 of itself, of the coordinator broker and of partition leaders: out holds each input once, in per-key order, nothing aborted', async () => {
    const seed = Number(process.env.CAIRN_TEST_SEED ?? 19);
    const random = new SeededRandom(seed);
    chaos = await ChaosCluster.create({ nodes: 3, baseDir: tmpDir('cairn-txn-copy-'), logger: silentLogger, flags: { ...FAST, 'transaction-abort-timed-out-transaction-cleanup-interval-ms': '500' } });
    await chaos.startAll();
    const bootstrap = chaos.bootstrap;
    const admin = new Admin({ bootstrap });
    for (const name of ['in', 'out']) await admin.createTopic({ name, partitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
    admin.close();
    const KEYS = 12;
    const N = 6_000;
    const producer = new Producer({ bootstrap });
    await Promise.all(Array.from({ length: N }, (_, i) => producer.send({ topic: 'in', key: `k${i % KEYS}`, value: `${i}` })));
    await producer.close();

    let job = startCopyJob(bootstrap);
    const faults: string[] = [];
    const chaosUntil = Date.now() + 25_000;
    while (Date.now() < chaosUntil) {
      await new Promise((r) => setTimeout(r, random.int(1_000, 2_500)));
      const what = random.int(0, 2);
      if (what === 0) {
        job.kill('SIGKILL');
        faults.push('kill -9 the copy job');
      } else {
        const target = what === 1 ? await coordinatorOf(chaos, 'copier-1') : await chaos.partitionLeader('in', random.int(0, 2)).catch(() => -1);
        if (target > 0 && chaos.isRunning(target) && chaos.nodeIds().filter((id) => chaos!.isRunning(id)).length === 3) {
          await chaos.kill(target);
          faults.push(`kill -9 node ${target} (${what === 1 ? 'transaction coordinator' : 'a partition leader'})`);
          setTimeout(() => chaos?.restartStopped(), 1_500);
        }
      }
      if (job.exitCode !== null || job.signalCode !== null) job = startCopyJob(bootstrap);
    }
    chaos.restartStopped();
    if (job.exitCode !== null || job.signalCode !== null) job = startCopyJob(bootstrap);
    const out = await readCommitted(bootstrap, 'out', 3, N);
    job.kill('SIGKILL');
    expect(faults.length, `seed ${seed}: faults injected`).toBeGreaterThan(5);
    // Exactly once: every input value, once.
    const values = out.map((r) => Number(r.value));
    const dupes = values.filter((v, i) => values.indexOf(v) !== i);
    expect(dupes, `seed ${seed}; faults: ${faults.join(', ')}`).toEqual([]);
    expect(new Set(values).size).toBe(N);
    // Per-key order: each key's values in out ascend as they were written to in.
    for (let k = 0; k < KEYS; k++) {
      const seq = out.filter((r) => r.key === `k${k}`).map((r) => Number(r.value));
      expect(seq, `seed ${seed}: order of k${k}`).toEqual([...seq].sort((a, b) => a - b));
    }
  }, 240_000);

  it('(d) a transactional write delayed past its transaction’s end is refused and leaves no open transaction', async () => {
    chaos = await ChaosCluster.create({ nodes: 3, baseDir: tmpDir('cairn-txn-late-'), logger: silentLogger, flags: FAST });
    await chaos.startAll();
    const bootstrap = chaos.bootstrap;
    const admin = new Admin({ bootstrap });
    await admin.createTopic({ name: 'late', partitions: 3, replicationFactor: 3 });
    const producer = new Producer({ bootstrap, transactionalId: 'late-writer', requestTimeoutMs: 1_500, retryBackoffMs: 50 });
    try {
      await producer.initTransactions();
      const coordinator = await coordinatorOf(chaos, 'late-writer');
      // A partition led by another node than the coordinator: only the write is delayed, not the end.
      let partition = -1;
      let leader = -1;
      await waitFor(async () => {
        for (let p = 0; p < 3; p++) {
          const l = await chaos!.partitionLeader('late', p);
          if (l > 0 && l !== coordinator) {
            partition = p;
            leader = l;
            return true;
          }
        }
        return false;
      }, 'a partition not led by the coordinator');
      // A first transaction elsewhere: the producer knows the topic, so the next send leaves at once.
      producer.beginTransaction();
      await producer.send({ topic: 'late', value: 'warm-up', partition: (partition + 1) % 3 });
      await producer.abortTransaction();
      producer.beginTransaction();
      await chaos.latencyOn(`c>n${leader}`, 4_000);
      const late = producer.send({ topic: 'late', value: 'late', partition }).catch((e: Error) => e);
      await new Promise((r) => setTimeout(r, 300)); // on the wire, held by the link
      // The request times out on the client; the producer gives the write up and aborts.
      await producer.abortTransaction();
      await chaos.healNetwork();
      expect(await late).toBeInstanceOf(Error);
      // The delayed request has reached the leader by now; it must not have opened a transaction there.
      await new Promise((r) => setTimeout(r, 4_000));
      const rpc = new RpcClient(chaos.direct(leader), 'cairn.v1.Broker');
      try {
        const d = await rpc.unary<object, DescribeProducersResponse>('DescribeProducers', { topic: 'late', partition }, 5_000);
        expect(d.producers.filter((p) => p.currentTxnStartOffset >= 0)).toEqual([]);
        expect(d.lastStableOffset).toBe(d.highWatermark);
      } finally {
        rpc.close();
      }
      // The producer goes on: its next transaction writes there and commits.
      producer.beginTransaction();
      await producer.send({ topic: 'late', value: 'next', partition });
      await producer.commitTransaction();
      const committed = await readCommitted(bootstrap, 'late', 3, 1);
      expect(committed.map((r) => r.value)).toEqual(['next']);
    } finally {
      admin.close();
      await producer.close().catch(() => undefined);
    }
  }, 120_000);

  it('examples/exactly-once-copy.ts copies every order once', async () => {
    cluster = await TestCluster.start('cairn-eos-example-', 1);
    const r = await runExactlyOnceCopy(cluster.bootstrap, 500);
    expect(r).toEqual({ copied: 500, distinct: 500, duplicates: 0 });
  }, 120_000);
});

/** The node that coordinates `transactionalId` now (the leader of its __transaction_state partition). */
async function coordinatorOf(c: ChaosCluster, transactionalId: string): Promise<number> {
  const admin = new Admin({
    bootstrap: c
      .nodeIds()
      .filter((id) => c.isRunning(id))
      .map((id) => c.direct(id))
      .join(','),
  });
  try {
    return (await admin.transactions.describeTransaction(transactionalId)).coordinatorId;
  } catch {
    return -1;
  } finally {
    admin.close();
  }
}
