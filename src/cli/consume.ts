import { Consumer } from '../client';
import { BOOTSTRAP, intOption, isolationLevel, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { outputClosed, write } from './output';

export const CONSUME_HELP = `Usage: cairn consume TOPIC [options]

Prints record values, one per line. Without --follow it stops once it has read everything that
was in the topic when it started. With --group it reads as a member of that consumer group: the
group's committed offsets win over --from-beginning, it reads only the partitions the group gives
it, commits what it printed, and runs until --max-messages, --timeout-ms or Ctrl-C.

Options:
  --group G                 read as a member of consumer group G (docs/groups.md)
  --from-beginning          start at the earliest offset (default: only new records)
  --max-messages N          stop after N records
  --follow                  keep waiting for new records (until Ctrl-C)
  --partition N             read only partition N
  --offset N                start at offset N (with --partition)
  --print-key               print "key<TAB>value"
  --print-offset            print "partition:offset<TAB>..." before each record
  --timeout-ms N            give up after N ms without a record (default: wait forever with --follow)
  --isolation-level L       read_uncommitted (default) or read_committed: only committed transactions' records
  -b, --bootstrap host:port a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE     client properties: security.protocol, ssl.* (docs/security.md)`;

export async function consumeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...BOOTSTRAP,
    group: { type: 'string', short: 'g' },
    'from-beginning': { type: 'boolean' },
    'max-messages': { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    partition: { type: 'string' },
    offset: { type: 'string' },
    'print-key': { type: 'boolean' },
    'print-offset': { type: 'boolean' },
    'timeout-ms': { type: 'string' },
    'isolation-level': { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('consume takes exactly one topic');
  const topic = positionals[0]!;
  const max = intOption(values, 'max-messages', Number.MAX_SAFE_INTEGER);
  const follow = values.follow === true;
  const timeoutMs = intOption(values, 'timeout-ms', -1);
  const group = typeof values.group === 'string' ? values.group : undefined;
  if (group !== undefined && (values.partition !== undefined || values.offset !== undefined)) throw new UsageError('--group reads the partitions the group gives: no --partition or --offset');
  const isolation = isolationLevel(values['isolation-level']);
  const consumer = new Consumer({ ...clientOptions(values), autoOffsetReset: values['from-beginning'] ? 'earliest' : 'latest', groupId: group, isolationLevel: isolation });
  const stop = () => void consumer.close();
  process.once('SIGINT', stop);
  try {
    if (group !== undefined) return await consumeInGroup(consumer, topic, max, timeoutMs, values);
    const t = await consumer.cluster.waitForTopic(topic);
    const partitions = values.partition === undefined ? t.partitions.map((p) => p.partition) : [intOption(values, 'partition', 0)];
    const offset = values.offset === undefined ? undefined : intOption(values, 'offset', 0);
    if (offset !== undefined && values.partition === undefined) throw new UsageError('--offset needs --partition');
    consumer.assign(partitions.map((partition) => ({ topic, partition, offset })));
    // Where "everything that is there now" ends, per partition.
    const ends = new Map<number, number>();
    if (!follow) {
      const probe = new Consumer({ ...clientOptions(values), isolationLevel: isolation });
      try {
        probe.assign(partitions.map((partition) => ({ topic, partition })));
        await probe.seekToEnd();
        for (const p of partitions) ends.set(p, probe.position(topic, p) ?? 0);
      } finally {
        probe.close();
      }
    }
    const done = () => !follow && partitions.every((p) => (consumer.position(topic, p) ?? -1) >= (ends.get(p) ?? 0));
    let count = 0;
    let lastRecordAt = Date.now();
    const lines: string[] = [];
    // Stops when the reader of a pipe goes away (| head -5), even with --follow.
    while (count < max && !outputClosed()) {
      if (done()) break;
      const records = await consumer.poll(500);
      for (const r of records) {
        if (count >= max) break;
        let line = r.value === null ? 'null' : r.value.toString('utf8');
        if (values['print-key']) line = `${r.key === null ? 'null' : r.key.toString('utf8')}\t${line}`;
        if (values['print-offset']) line = `${r.partition}:${r.offset}\t${line}`;
        lines.push(line);
        count++;
      }
      if (lines.length > 0) {
        const text = lines.join('\n') + '\n';
        lines.length = 0;
        await write(text); // waits while a slow reader's pipe is full: memory stays bounded
      }
      if (records.length > 0) lastRecordAt = Date.now();
      else if (timeoutMs >= 0 && Date.now() - lastRecordAt > timeoutMs) break;
    }
    // A reader that went away (| head) ends the command quietly, as it would end `cat`.
    if (!outputClosed()) process.stderr.write(`Read ${count} record(s).\n`);
    return 0;
  } finally {
    process.off('SIGINT', stop);
    await consumer.close();
  }
}

/** A group member's loop: the group decides the partitions; stops at max records, the timeout or Ctrl-C (close() commits and leaves). */
async function consumeInGroup(consumer: Consumer, topic: string, max: number, timeoutMs: number, values: Record<string, unknown>): Promise<number> {
  await consumer.cluster.waitForTopic(topic);
  consumer.subscribe([topic]);
  let count = 0;
  let lastRecordAt = Date.now();
  const unprinted = new Map<number, number>();
  while (count < max && !outputClosed()) {
    const records = await consumer.poll(500).catch(() => null);
    if (records === null) break; // closed by Ctrl-C
    const lines: string[] = [];
    for (const r of records) {
      if (count >= max) {
        // Not printed: the group's next reader starts here (the earliest such offset per partition wins).
        if (!unprinted.has(r.partition)) unprinted.set(r.partition, r.offset);
        continue;
      }
      let line = r.value === null ? 'null' : r.value.toString('utf8');
      if (values['print-key']) line = `${r.key === null ? 'null' : r.key.toString('utf8')}\t${line}`;
      if (values['print-offset']) line = `${r.partition}:${r.offset}\t${line}`;
      lines.push(line);
      count++;
    }
    if (lines.length > 0) await write(lines.join('\n') + '\n');
    if (records.length > 0) lastRecordAt = Date.now();
    else if (timeoutMs >= 0 && Date.now() - lastRecordAt > timeoutMs) break;
  }
  // Commit exactly what was printed: a record polled past --max-messages is left for the group.
  for (const [partition, offset] of unprinted) consumer.seek(topic, partition, offset);
  if (count > 0) await consumer.commit().catch(() => undefined);
  if (!outputClosed()) process.stderr.write(`Read ${count} record(s).\n`);
  return 0;
}
