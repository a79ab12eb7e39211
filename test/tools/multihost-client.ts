/**
 * The client of the multi-host test (test/multihost), run inside the client network namespace:
 *
 *   node dist/test/tools/multihost-client.js produce BOOTSTRAP TOPIC
 *     sends "r0", "r1", ... with acks=all (the default idempotent producer, 32 sends in flight)
 *     until SIGTERM, printing "ack r<i>" or "fail r<i> <reason>" as each send settles, then "done".
 *   node dist/test/tools/multihost-client.js read BOOTSTRAP TOPIC PARTITIONS MUST_SEE_FILE
 *     reads every partition from the start until every value in MUST_SEE_FILE (one per line) is
 *     seen and each partition is read to its end; prints {"values":[...],"complete":bool}.
 */
import * as fs from 'node:fs';
import { Producer } from '../../src/client/producer';
import { drain } from '../../chaos/workloads';

async function produce(bootstrap: string, topic: string): Promise<void> {
  const producer = new Producer({ bootstrap, acks: 'all', deliveryTimeoutMs: 60_000 });
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true));
  const inflight = new Set<Promise<void>>();
  for (let i = 0; !stopping; i++) {
    const value = `r${i}`;
    const p: Promise<void> = producer.send({ topic, key: `k${i % 64}`, value }).then(
      () => void process.stdout.write(`ack ${value}\n`),
      (err: Error) => void process.stdout.write(`fail ${value} ${err.message.replace(/\s+/g, ' ')}\n`),
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= 32) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await producer.close();
  process.stdout.write('done\n');
}

async function read(bootstrap: string, topic: string, partitions: number, mustSeeFile: string): Promise<void> {
  const mustSee = fs
    .readFileSync(mustSeeFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const { log, complete } = await drain(bootstrap, topic, partitions, mustSee, 90_000);
  const values = [...log.values()].flatMap((p) => [...p.values()]);
  process.stdout.write(JSON.stringify({ values, complete }) + '\n');
}

const [mode, bootstrap, topic, partitions, file] = process.argv.slice(2);
const run = mode === 'produce' ? produce(bootstrap!, topic!) : mode === 'read' ? read(bootstrap!, topic!, Number(partitions), file!) : Promise.reject(new Error(`unknown mode ${mode}`));
run.then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
