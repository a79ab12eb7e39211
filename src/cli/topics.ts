import { Admin } from '../client';
import { ErrorCode, errorName } from '../common';
import { BOOTSTRAP, intOption, keyValues, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const TOPICS_HELP = `Usage: cairn topics <command> [options]

Commands:
  create NAME [--partitions N] [--replication-factor N] [--config key=value ...]
  list [--internal]
  describe [NAME ...]
  delete NAME ...
  alter NAME [--config key=value ...] [--delete-config key ...]
  reassign NAME --partition N --replicas ID,ID,...   move a partition to new replicas
  reassign NAME --partition N --cancel               cancel a move in progress

Options:
  -b, --bootstrap host:port   a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.* (docs/security.md)`;

export async function topicsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, {
    ...BOOTSTRAP,
    partitions: { type: 'string', short: 'p' },
    'replication-factor': { type: 'string', short: 'r' },
    config: { type: 'string', multiple: true, short: 'c' },
    'delete-config': { type: 'string', multiple: true },
    internal: { type: 'boolean' },
    partition: { type: 'string' },
    replicas: { type: 'string' },
    cancel: { type: 'boolean' },
  });
  const admin = new Admin(clientOptions(values));
  try {
    switch (sub) {
      case 'create': {
        if (positionals.length !== 1) throw new UsageError('topics create takes exactly one topic name');
        const r = await admin.createTopic({
          name: positionals[0]!,
          partitions: intOption(values, 'partitions', -1),
          replicationFactor: intOption(values, 'replication-factor', -1),
          configs: keyValues(values.config, 'config'),
        });
        out(`Created topic ${r.name} with ${r.numPartitions} partition(s), replication factor ${r.replicationFactor} (id ${r.topicId}).`);
        return 0;
      }
      case 'list': {
        for (const t of await admin.listTopics(values.internal === true)) out(t.name);
        return 0;
      }
      case 'describe': {
        const topics = await admin.describeTopics(positionals);
        let status = 0;
        for (const t of topics) {
          if (t.errorCode !== ErrorCode.NONE) {
            process.stderr.write(`${t.name}: ${errorName(t.errorCode)}: ${t.errorMessage}\n`);
            status = 1;
            continue;
          }
          const rf = t.partitions[0]?.replicas.length ?? 0;
          const configs = Object.entries(t.configs)
            .map(([k, v]) => `${k}=${v}`)
            .join(',');
          const under = t.partitions.filter((p) => p.underReplicated).length;
          const offline = t.partitions.filter((p) => p.offline).length;
          out(`Topic: ${t.name}\tTopicId: ${t.topicId}\tPartitionCount: ${t.partitions.length}\tReplicationFactor: ${rf}\tConfigs: ${configs}`);
          if (under > 0 || offline > 0) out(`\tUnderReplicatedPartitions: ${under}\tOfflinePartitions: ${offline}`);
          for (const p of t.partitions) {
            const flags = [p.offline ? 'OFFLINE' : '', p.underReplicated && !p.offline ? 'UNDER-REPLICATED' : ''].filter(Boolean).join(' ');
            const moving = p.addingReplicas.length + p.removingReplicas.length > 0 ? `\tAdding: ${p.addingReplicas.join(',')}\tRemoving: ${p.removingReplicas.join(',')}` : '';
            out(
              `\tTopic: ${t.name}\tPartition: ${p.partition}\tLeader: ${p.leaderId < 0 ? 'none' : p.leaderId}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}${p.offlineReplicas.length ? `\tOffline: ${p.offlineReplicas.join(',')}` : ''}${moving}${flags ? `\t${flags}` : ''}`,
            );
          }
        }
        return status;
      }
      case 'delete': {
        if (positionals.length === 0) throw new UsageError('topics delete takes one or more topic names');
        let status = 0;
        for (const r of await admin.deleteTopics(positionals)) {
          if (r.errorCode === ErrorCode.NONE) out(`Deleted topic ${r.name}.`);
          else {
            process.stderr.write(`${r.name}: ${errorName(r.errorCode)}: ${r.errorMessage}\n`);
            status = 1;
          }
        }
        return status;
      }
      case 'alter': {
        if (positionals.length !== 1) throw new UsageError('topics alter takes exactly one topic name');
        await admin.alterConfigs(positionals[0]!, keyValues(values.config, 'config'), (values['delete-config'] as string[] | undefined) ?? []);
        out(`Updated configs of ${positionals[0]}.`);
        return 0;
      }
      case 'reassign': {
        if (positionals.length !== 1 || values.partition === undefined) throw new UsageError('topics reassign takes a topic name and --partition');
        const cancel = values.cancel === true;
        if (!cancel && typeof values.replicas !== 'string') throw new UsageError('topics reassign needs --replicas ID,ID,... (or --cancel)');
        const replicas = cancel
          ? []
          : (values.replicas as string).split(',').map((x) => {
              const n = Number(x.trim());
              if (!Number.isInteger(n)) throw new UsageError(`--replicas takes broker ids, got "${x}"`);
              return n;
            });
        const partition = intOption(values, 'partition', 0);
        const [r] = await admin.reassignPartitions([{ topic: positionals[0]!, partition, replicas }]);
        if (r && r.errorCode !== ErrorCode.NONE) {
          process.stderr.write(`${positionals[0]}-${partition}: ${errorName(r.errorCode)}: ${r.errorMessage}\n`);
          return 1;
        }
        out(
          cancel
            ? `Cancelled the reassignment of ${positionals[0]}-${partition}.`
            : `Reassignment of ${positionals[0]}-${partition} to [${replicas.join(',')}] started; "cairn topics describe ${positionals[0]}" shows its progress.`,
        );
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown topics command "${sub}"` : 'missing topics command');
    }
  } finally {
    admin.close();
  }
}
