import * as readline from 'node:readline';
import { Producer, type Acks } from '../client';
import { CairnError, errorName } from '../common';
import { BOOTSTRAP, intOption, parse, UsageError } from './args';
import { clientOptions } from './client-config';

export const PRODUCE_HELP = `Usage: cairn produce TOPIC [options] < lines

Sends one record per line of standard input. With --acks all (the default) the producer is
idempotent: a record resent after a lost answer or a leader failover is written once, in order.

Options:
  --acks all|1|0            acknowledgement level (default all)
  --key-separator SEP       split each line at the first SEP into key and value
  --partition N             send every record to partition N
  --linger-ms N             batching delay while requests are in flight (default 5)
  --transactional-id T      send in transactions (docs/transactions.md): read_committed readers see
                            a transaction's records only once it commits
  --records-per-transaction N  commit every N records (default 1000; with --transactional-id)
  -b, --bootstrap host:port a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE     client properties: security.protocol, ssl.* (docs/security.md)`;

/** Records in flight before reading more input: bounded memory for any input size. */
const MAX_OUTSTANDING = 20_000;

export async function produceCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...BOOTSTRAP,
    acks: { type: 'string' },
    'key-separator': { type: 'string' },
    partition: { type: 'string' },
    'linger-ms': { type: 'string' },
    'transactional-id': { type: 'string' },
    'records-per-transaction': { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('produce takes exactly one topic');
  const topic = positionals[0]!;
  const acksRaw = (values.acks as string | undefined) ?? 'all';
  const acks: Acks =
    acksRaw === 'all' || acksRaw === '-1'
      ? 'all'
      : acksRaw === '1'
        ? 1
        : acksRaw === '0'
          ? 0
          : (() => {
              throw new UsageError(`--acks must be all, 1 or 0, not "${acksRaw}"`);
            })();
  const separator = values['key-separator'] as string | undefined;
  const partition = values.partition === undefined ? undefined : intOption(values, 'partition', 0);
  const transactionalId = values['transactional-id'] as string | undefined;
  const perTransaction = intOption(values, 'records-per-transaction', 1000);
  if (perTransaction < 1) throw new UsageError('--records-per-transaction must be at least 1');
  if (values['records-per-transaction'] !== undefined && transactionalId === undefined) throw new UsageError('--records-per-transaction needs --transactional-id');
  const producer = new Producer({ ...clientOptions(values), acks, lingerMs: intOption(values, 'linger-ms', 5), transactionalId });
  let failures = 0;
  let firstError: Error | null = null;
  let sent = 0;
  let transactions = 0;
  const outstanding = new Set<Promise<unknown>>();
  // Transactional: one open from the first line to every N-th; a failed commit ends the command (what it held is aborted).
  const commit = async () => {
    await Promise.all(outstanding);
    await producer.commitTransaction();
    transactions++;
  };
  try {
    if (transactionalId !== undefined) {
      await producer.initTransactions();
      producer.beginTransaction();
    }
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of rl) {
      let key: string | null = null;
      let value = line;
      if (separator !== undefined) {
        const i = line.indexOf(separator);
        if (i >= 0) {
          key = line.slice(0, i);
          value = line.slice(i + separator.length);
        }
      }
      const p = producer.send({ topic, key, value, partition }).then(
        () => undefined,
        (err: Error) => {
          failures++;
          firstError ??= err;
        },
      );
      sent++;
      outstanding.add(p);
      void p.finally(() => outstanding.delete(p));
      if (outstanding.size >= MAX_OUTSTANDING) await Promise.race(outstanding);
      if (transactionalId !== undefined && sent % perTransaction === 0) {
        await commit();
        producer.beginTransaction();
      }
    }
    await Promise.all(outstanding);
    if (transactionalId !== undefined && sent % perTransaction !== 0) await commit();
    else if (transactionalId !== undefined) await producer.abortTransaction(); // the empty one opened after the last commit
    await producer.flush();
  } finally {
    await producer.close();
  }
  if (failures > 0) {
    const e = firstError as Error | null;
    const what = e instanceof CairnError ? `${errorName(e.code)}: ${e.message}` : String(e?.message);
    process.stderr.write(`${failures} of ${sent} records failed; first error: ${what}\n`);
    return 1;
  }
  process.stderr.write(`Sent ${sent} record(s) to ${topic}${transactionalId !== undefined ? ` in ${transactions} transaction(s)` : ''}.\n`);
  return 0;
}
