/**
 * Exactly-once consume-transform-produce (docs/transactions.md): orders in topic `in` (key:
 * customer, value: amount) are copied to `out` with the amount in cents, each exactly once, by a
 * job that reads `in` in group `copier` and writes `out` in transactions that also commit its
 * input offsets. Run it twice, or kill it half way (kill -9) and run it again: `out`, read at
 * read_committed, still holds every order once.
 *
 *   npm run build && node dist/examples/exactly-once-copy.js [--bootstrap 127.0.0.1:9092] [--count 1000]
 *
 * (with `npm start` running a local cluster). The same job as a command: `cairn copy in out
 * --group copier --transactional-id copier-1`.
 */
import { Admin, Consumer, consumeTransformProduce, Producer } from '../src/client';
import { CairnError, ErrorCode } from '../src/common';

export interface CopyResult {
  copied: number;
  /** Distinct orders read back from `out` at read_committed, and how many were read more than once. */
  distinct: number;
  duplicates: number;
}

export async function runExactlyOnceCopy(bootstrap: string, count: number, log: (line: string) => void = () => undefined): Promise<CopyResult> {
  const runId = Date.now().toString(36);
  const input = `orders-${runId}`;
  const output = `orders-cents-${runId}`;
  const admin = new Admin({ bootstrap });
  try {
    for (const name of [input, output]) {
      try {
        await admin.createTopic({ name, partitions: 3 });
      } catch (err) {
        if (!(err instanceof CairnError && err.code === ErrorCode.TOPIC_ALREADY_EXISTS)) throw err;
      }
    }
  } finally {
    admin.close();
  }
  const producer = new Producer({ bootstrap });
  for (let i = 0; i < count; i++) void producer.send({ topic: input, key: `customer-${i % 17}`, value: `${i}:${(i % 100) + 0.5}` });
  await producer.close();
  log(`wrote ${count} orders to ${input}`);

  const result = await consumeTransformProduce({
    bootstrap,
    input,
    groupId: `copier-${runId}`,
    transactionalId: `copier-${runId}-1`,
    maxMessages: count,
    transform: (r) => {
      const [id, amount] = r.value!.toString().split(':');
      return { topic: output, key: r.key, value: `${id}:${Math.round(Number(amount) * 100)}` };
    },
    onCommit: (n) => log(`committed a transaction of ${n} orders`),
  });

  const reader = new Consumer({ bootstrap, isolationLevel: 'read_committed', maxWaitMs: 200 });
  const seen = new Map<string, number>();
  try {
    reader.assign([0, 1, 2].map((partition) => ({ topic: output, partition, offset: 0 })));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      for (const r of await reader.poll(300)) {
        const id = r.value!.toString().split(':')[0]!;
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      if (seen.size >= count && reader.lag().every((l) => l.lag === 0)) break;
    }
  } finally {
    await reader.close();
  }
  const duplicates = [...seen.values()].filter((n) => n > 1).length;
  log(`read back ${seen.size} distinct orders from ${output}, ${duplicates} more than once`);
  return { copied: result.records, distinct: seen.size, duplicates };
}

if (require.main === module) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  runExactlyOnceCopy(arg('bootstrap') ?? process.env.CAIRN_BOOTSTRAP ?? '127.0.0.1:9092', Number(arg('count') ?? 1000), (l) => process.stdout.write(l + '\n')).then(
    (r) => process.exit(r.distinct === r.copied && r.duplicates === 0 ? 0 : 1),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
