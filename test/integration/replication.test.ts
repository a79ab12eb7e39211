import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { ErrorCode } from '../../src/common/errors';
import { FAST_FAILOVER_FLAGS as FAST, TestCluster } from '../helpers/processes';
import { waitFor } from '../helpers/tmp';
import { logBytes } from '../../chaos/verify';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

async function describe1(admin: Admin, topic: string) {
  return (await admin.describeTopics([topic]))[0]!;
}

// The ISR rules (shrink after replica.lag.time.max.ms, expansion, min.insync.replicas, the
// acks=all wait) and the fetcher-stall regression of commit 5474055 are unit tests on the
// replication core (test/unit/replication/replica-core-*.test.ts), in milliseconds. What stays
// here checks the real wiring end to end.
describe('replication with ISR acknowledgements (three real processes)', () => {
  it('loses no acknowledged write across kill -9 of the leader, its restart, and the loss of another broker; replicas end byte-identical', async () => {
    cluster = await TestCluster.start('cairn-repl-', 3, FAST);
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    await admin.createTopic({ name: 'acked', partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
    await waitFor(async () => (await describe1(admin, 'acked')).partitions[0]!.leaderId > 0, 'a leader');
    const producer = new Producer({ bootstrap: cluster.bootstrap, acks: 'all', lingerMs: 2, deliveryTimeoutMs: 20_000, retryBackoffMs: 50, requestTimeoutMs: 5_000 });
    const acked = new Map<number, string>();
    const attempted = new Set<string>();
    /** Two acknowledgements for one offset: checked after the run, not inside the writers' catch. */
    const doubleAcks: string[] = [];
    let seq = 0;
    let stop = false;
    let failures = 0;
    const writers = Array.from({ length: 3 }, async (_, w) => {
      while (!stop) {
        const value = `w${w}-${seq++}`;
        attempted.add(value);
        let offset: number;
        try {
          offset = (await producer.send({ topic: 'acked', value })).offset;
        } catch {
          failures++; // a send that failed or timed out in a failover: its outcome is unknown, not an error
          continue;
        }
        const earlier = acked.get(offset);
        if (earlier !== undefined) doubleAcks.push(`offset ${offset}: ${earlier} and ${value}`);
        acked.set(offset, value);
      }
    });
    const waitAcks = (n: number, what: string) => waitFor(() => acked.size >= n, what, 60_000, 20);

    await waitAcks(500, '500 acknowledged writes');
    const firstLeader = (await describe1(admin, 'acked')).partitions[0]!.leaderId;
    await cluster.kill(firstLeader);
    await waitFor(async () => {
      const l = (await describe1(admin, 'acked')).partitions[0]!.leaderId;
      return l > 0 && l !== firstLeader;
    }, 'a new leader');
    await waitAcks(acked.size + 500, 'writes to continue under the new leader');
    cluster.start(firstLeader);
    await waitFor(async () => (await describe1(admin, 'acked')).partitions[0]!.isr.length === 3, 'the old leader back in the ISR', 60_000, 200);
    const secondLeader = (await describe1(admin, 'acked')).partitions[0]!.leaderId;
    const other = [1, 2, 3].find((i) => i !== secondLeader && i !== firstLeader) ?? [1, 2, 3].find((i) => i !== secondLeader)!;
    await cluster.kill(other);
    await waitAcks(acked.size + 500, 'writes to continue with one broker down');
    stop = true;
    await Promise.all(writers);
    await producer.close();
    cluster.start(other);
    await waitFor(async () => (await describe1(admin, 'acked')).partitions[0]!.isr.length === 3, 'every replica back in sync', 60_000, 200);

    // A fresh consumer reads every acknowledged record exactly at its offset.
    const consumer = new Consumer({ bootstrap: cluster.bootstrap, autoOffsetReset: 'earliest' });
    consumer.assign([{ topic: 'acked', partition: 0, offset: 0 }]);
    const seen = new Map<number, string>();
    // Recorded here and asserted after the loop: waitFor retries on a throw, so an expect inside it
    // would be swallowed (and the records after it in that poll dropped) as long as a later poll succeeds.
    const neverSent: string[] = [];
    const maxAcked = Math.max(...acked.keys());
    await waitFor(
      async () => {
        for (const r of await consumer.poll(500)) {
          const value = r.value?.toString() ?? '<null>';
          if (!attempted.has(value)) neverSent.push(`${value} at ${r.offset}`);
          seen.set(r.offset, value);
        }
        return seen.has(maxAcked);
      },
      'the consumer to reach the last acknowledged offset',
      60_000,
      0,
    );
    consumer.close();
    expect(doubleAcks, 'one value per acknowledged offset').toEqual([]);
    expect(neverSent, 'records no writer sent').toEqual([]);
    for (const [offset, value] of acked) expect(seen.get(offset), `acknowledged ${value} at ${offset}`).toBe(value);
    admin.close();

    // Replicas are byte-identical below the high watermark.
    const hw = maxAcked + 1;
    await cluster.stopAll('SIGTERM');
    const bytes = await Promise.all([1, 2, 3].map((id) => logBytes(cluster!.node(id).dataDir, 'acked', 0, hw)));
    expect(bytes[0]!.length).toBeGreaterThan(0);
    expect(bytes[1]!.equals(bytes[0]!)).toBe(true);
    expect(bytes[2]!.equals(bytes[0]!)).toBe(true);
    // The ISR shrank and grew back along the way (through fencing or the leader's lag check, whichever came first).
    expect(cluster.log(1) + cluster.log(2) + cluster.log(3)).toContain('isr changed');
    void failures;
  });

  it('reassigns a partition to new replicas: they catch up, the old ones are dropped, and no record is lost', async () => {
    cluster = await TestCluster.start('cairn-move-', 4, FAST, 3);
    const admin = new Admin({ bootstrap: cluster.bootstrap });
    await admin.createTopic({ name: 'moving', assignments: [[1, 2]] });
    await waitFor(async () => (await describe1(admin, 'moving')).partitions[0]!.leaderId === 1, 'leader 1');
    const producer = new Producer({ bootstrap: cluster.bootstrap, acks: 'all' });
    for (let i = 0; i < 300; i++) await producer.send({ topic: 'moving', value: `before-${i}` });
    const [r] = await admin.reassignPartitions([{ topic: 'moving', partition: 0, replicas: [3, 4] }]);
    expect(r!.errorCode).toBe(ErrorCode.NONE);
    await waitFor(
      async () => {
        const p = (await describe1(admin, 'moving')).partitions[0]!;
        return p.replicas.join() === '3,4' && p.addingReplicas.length === 0 && [3, 4].includes(p.leaderId) ? p : null;
      },
      'the reassignment to complete',
      60_000,
      200,
    );
    for (let i = 0; i < 100; i++) await producer.send({ topic: 'moving', value: `after-${i}` });
    await producer.close();
    const consumer = new Consumer({ bootstrap: cluster.bootstrap });
    consumer.assign([{ topic: 'moving', partition: 0, offset: 0 }]);
    const got: string[] = [];
    await waitFor(
      async () => {
        for (const rec of await consumer.poll(500)) got.push(rec.value!.toString());
        return got.length >= 400;
      },
      'all 400 records',
      30_000,
      0,
    );
    consumer.close();
    expect(got).toEqual([...Array.from({ length: 300 }, (_, i) => `before-${i}`), ...Array.from({ length: 100 }, (_, i) => `after-${i}`)]);
    // The old replicas deleted their copies.
    const fs = await import('node:fs');
    await waitFor(() => !fs.existsSync(`${cluster!.node(1).dataDir}/moving-0`) && !fs.existsSync(`${cluster!.node(2).dataDir}/moving-0`), 'old replicas to delete their logs');
    admin.close();
  });
});
