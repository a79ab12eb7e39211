import { consumeTransformProduce } from '../client';
import { BOOTSTRAP, intOption, parse, UsageError } from './args';
import { clientOptions } from './client-config';

export const COPY_HELP = `Usage: cairn copy IN OUT --group G --transactional-id T [options]

Copies every record of topic IN to topic OUT exactly once (consume-transform-produce with
transactions, docs/transactions.md): it reads IN as a member of group G at read_committed, and
each poll's records and input offsets commit in one transaction. Killed and restarted, it goes on
where its last committed transaction ended, and nothing it wrote in an unfinished one is ever seen
by read_committed readers. Runs until Ctrl-C or --max-messages.

Options:
  --group G                       the consumer group (its committed offsets are the job's progress)
  --transactional-id T            the producer's transactional id (a restarted copy fences the old one)
  --max-messages N                stop after copying N records
  --records-per-transaction N     most records one transaction covers (default 10000: what one poll brings)
  --from-latest                   a new group starts at the end of IN (default: the beginning)
  -b, --bootstrap host:port       a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE           client properties: security.protocol, ssl.* (docs/security.md)`;

export async function copyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...BOOTSTRAP,
    group: { type: 'string', short: 'g' },
    'transactional-id': { type: 'string' },
    'max-messages': { type: 'string' },
    'records-per-transaction': { type: 'string' },
    'from-latest': { type: 'boolean' },
  });
  if (positionals.length !== 2) throw new UsageError('copy takes an input topic and an output topic');
  const [input, output] = positionals as [string, string];
  const group = values.group as string | undefined;
  const transactionalId = values['transactional-id'] as string | undefined;
  if (!group || !transactionalId) throw new UsageError('copy needs --group and --transactional-id');
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await consumeTransformProduce({
      ...clientOptions(values),
      input,
      groupId: group,
      transactionalId,
      // The same key, value, headers and timestamp; the partition by key, as a producer would choose it.
      transform: (r) => ({ topic: output, key: r.key, value: r.value, headers: [...r.headers], timestamp: r.timestamp }),
      maxMessages: intOption(values, 'max-messages', Number.MAX_SAFE_INTEGER),
      maxRecordsPerTransaction: intOption(values, 'records-per-transaction', 10_000),
      autoOffsetReset: values['from-latest'] ? 'latest' : 'earliest',
      signal: controller.signal,
    });
    process.stderr.write(
      `Copied ${result.records} record(s) from ${input} to ${output} in ${result.transactions} transaction(s)${result.aborted > 0 ? ` (${result.aborted} aborted and retried)` : ''}.\n`,
    );
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
