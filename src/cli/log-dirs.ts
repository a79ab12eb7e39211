import { Admin, errorName } from '../client';
import { BOOTSTRAP, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const LOG_DIRS_HELP = `Usage: cairn log-dirs describe [--broker-list 1,2,...] [--topic-list a,b,...] [--json]

Asks every broker (or those listed) for its data directory: the file system's size and free space,
and each partition replica in it with its size on disk, segments, log start and end offsets, high
watermark, lag behind the high watermark, and role. What Kafka's kafka-log-dirs.sh --describe shows.

Options:
  -b, --bootstrap host:port   a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --broker-list IDS           only these brokers
  --topic-list TOPICS         only these topics
  --json                      the answers as JSON (one object per broker)
  --command-config FILE       client properties: security.protocol, ssl.* (docs/security.md)`;

const list = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
    : [];

export async function logDirsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'describe') throw new UsageError(sub ? `unknown log-dirs command "${sub}"` : 'missing log-dirs command (describe)');
  const { values } = parse(rest, { ...BOOTSTRAP, 'broker-list': { type: 'string' }, 'topic-list': { type: 'string' }, json: { type: 'boolean' } });
  const brokerIds = list(values['broker-list']).map(Number);
  if (brokerIds.some((n) => !Number.isInteger(n))) throw new UsageError(`--broker-list: broker ids, comma-separated, not "${values['broker-list'] as string}"`);
  const admin = new Admin(clientOptions(values));
  try {
    const dirs = await admin.describeLogDirs({ brokerIds, topics: list(values['topic-list']) });
    if (values.json === true) {
      for (const d of dirs) out(JSON.stringify(d));
      return dirs.every((d) => d.errorCode === 0) ? 0 : 1;
    }
    const gib = (n: number) => (n < 0 ? '?' : `${(n / 2 ** 30).toFixed(1)} GiB`);
    for (const d of dirs) {
      if (d.errorCode !== 0) {
        out(`Broker ${d.brokerId}: ${errorName(d.errorCode)}: ${d.errorMessage}`);
        continue;
      }
      out(`Broker ${d.brokerId}  ${d.logDir}  ${gib(d.usableBytes)} free of ${gib(d.totalBytes)}  ${d.partitions.length} replica(s)`);
      if (d.partitions.length === 0) continue;
      out('  TOPIC\tPARTITION\tSIZE\tSEGMENTS\tLOG-START\tLOG-END\tHIGH-WATERMARK\tOFFSET-LAG\tROLE');
      for (const p of d.partitions)
        out(`  ${p.topic}\t${p.partition}\t${p.sizeBytes}\t${p.segments}\t${p.logStartOffset}\t${p.logEndOffset}\t${p.highWatermark}\t${p.offsetLag}\t${p.offline ? 'OFFLINE' : p.role}`);
    }
    return dirs.every((d) => d.errorCode === 0) ? 0 : 1;
  } finally {
    admin.close();
  }
}
