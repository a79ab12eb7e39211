import { Admin } from '../client';
import { BOOTSTRAP, intOption, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const TRANSACTIONS_HELP = `Usage: cairn transactions <command> [options]

Commands:
  list [--state S]...               every transactional id, its producer id and state
  describe ID                       a transactional id: state, producer id and epoch, timeout, partitions
  open [--topic T]...               the transactions open in each partition (what holds its last stable offset back), with their age
  find-hanging --max-age-ms N [--topic T]...
                                    transactions open in a partition for N ms that no coordinator has open there
  abort ID                          abort the open transaction of ID at its coordinator (its producer is fenced)
  abort --topic T --partition P --producer-id X
                                    end a hanging transaction in one partition with an abort marker

Options:
  -b, --bootstrap host:port   a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.* (docs/security.md)`;

const partitionsText = (s: { topics: { topic: string; partitions: number[] }[] } | null | undefined) => (s?.topics ?? []).flatMap((t) => t.partitions.map((p) => `${t.topic}-${p}`)).join(',') || '-';

export async function transactionsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, {
    ...BOOTSTRAP,
    state: { type: 'string', multiple: true },
    topic: { type: 'string', short: 't', multiple: true },
    partition: { type: 'string' },
    'producer-id': { type: 'string' },
    'max-age-ms': { type: 'string' },
  });
  const admin = new Admin(clientOptions(values));
  const topics = (values.topic as string[] | undefined) ?? [];
  try {
    switch (sub) {
      case 'list': {
        const list = await admin.transactions.listTransactions({ states: (values.state as string[] | undefined) ?? [] });
        if (list.length === 0) process.stderr.write('No transactional ids.\n');
        for (const t of list) out(`${t.transactionalId}\t${t.producerId}\t${t.state}`);
        return 0;
      }
      case 'describe': {
        if (positionals.length !== 1) throw new UsageError('transactions describe takes exactly one transactional id');
        const t = await admin.transactions.describeTransaction(positionals[0]!);
        const started = t.transactionStartTimeMs >= 0 ? `${new Date(t.transactionStartTimeMs).toISOString()} (${Date.now() - t.transactionStartTimeMs} ms ago)` : '-';
        out(
          `TransactionalId: ${t.transactionalId}\tState: ${t.state}\tProducerId: ${t.producerId}\tProducerEpoch: ${t.producerEpoch}\tTimeoutMs: ${t.transactionTimeoutMs}\tStarted: ${started}\tCoordinator: ${t.coordinatorId}\tPartitions: ${partitionsText(t.partitions)}`,
        );
        return 0;
      }
      case 'open': {
        const open = await admin.transactions.openTransactions(topics);
        if (open.length === 0) process.stderr.write('No open transactions.\n');
        out('TOPIC\tPARTITION\tPRODUCER-ID\tEPOCH\tSTART-OFFSET\tAGE-MS\tLAST-STABLE-OFFSET\tHIGH-WATERMARK');
        const now = Date.now();
        for (const t of open)
          out(`${t.topic}\t${t.partition}\t${t.producerId}\t${t.producerEpoch}\t${t.startOffset}\t${t.startTimeMs < 0 ? '-' : now - t.startTimeMs}\t${t.lastStableOffset}\t${t.highWatermark}`);
        return 0;
      }
      case 'find-hanging': {
        if (values['max-age-ms'] === undefined) throw new UsageError('find-hanging takes --max-age-ms N');
        const hanging = await admin.transactions.findHanging(intOption(values, 'max-age-ms', 0), topics);
        if (hanging.length === 0) process.stderr.write('No hanging transactions.\n');
        out('TOPIC\tPARTITION\tPRODUCER-ID\tEPOCH\tCOORDINATOR-EPOCH\tSTART-OFFSET\tAGE-MS');
        for (const t of hanging) out(`${t.topic}\t${t.partition}\t${t.producerId}\t${t.producerEpoch}\t${t.coordinatorEpoch}\t${t.startOffset}\t${t.ageMs}`);
        return 0;
      }
      case 'abort': {
        if (positionals.length === 1 && topics.length === 0) {
          await admin.transactions.abortTransaction(positionals[0]!);
          out(`Aborted the open transaction of ${positionals[0]}.`);
          return 0;
        }
        if (positionals.length !== 0 || topics.length !== 1 || values.partition === undefined || values['producer-id'] === undefined) {
          throw new UsageError('transactions abort takes a transactional id, or --topic T --partition P --producer-id X');
        }
        const partition = intOption(values, 'partition', 0);
        const producerId = intOption(values, 'producer-id', 0);
        await admin.transactions.abortHanging(topics[0]!, partition, producerId);
        out(`Wrote an abort marker for producer ${producerId} in ${topics[0]}-${partition}.`);
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown transactions command "${sub}"` : 'transactions needs a command');
    }
  } finally {
    admin.close();
  }
}
