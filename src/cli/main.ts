import { CairnError, errorName } from '../common';
import { silenceIpServerNameWarning } from '../protocol/io';
import { ACLS_HELP, aclsCommand } from './acls';
import { USERS_HELP, usersCommand } from './users';
import { QUOTAS_HELP, quotasCommand } from './quotas';
import { UsageError } from './args';
import { CLUSTER_HELP, clusterCommand } from './cluster';
import { CONSUME_HELP, consumeCommand } from './consume';
import { COPY_HELP, copyCommand } from './copy';
import { GROUPS_HELP, groupsCommand } from './groups';
import { HEALTH_HELP, healthCommand } from './health';
import { LOG_DIRS_HELP, logDirsCommand } from './log-dirs';
import { DEV_HELP, devCommand } from './dev';
import { drained, installStdoutGuard } from './output';
import { PRODUCE_HELP, produceCommand } from './produce';
import { SERVER_HELP, serverCommand } from './server';
import { TOPICS_HELP, topicsCommand } from './topics';
import { TRANSACTIONS_HELP, transactionsCommand } from './transactions';

const HELP = `Cairn: a replicated commit log.

Usage: cairn <command> [options]

Commands:
  server     run one node                          (cairn server --help)
  dev        run a local cluster on loopback       (what npm start runs)
  topics     create, list, describe, delete, alter topics
  produce    send stdin lines as records
  consume    print records (as a member of a group with --group)
  groups     list, describe (with lag), delete consumer groups; reset their offsets
  copy       copy one topic to another exactly once (transactions)
  transactions  list, describe, find hanging and abort transactions
  cluster    status of the controller quorum and brokers; preferred-leader election
  health     ask one node's health service (exit 0 when SERVING: probes, scripts)
  log-dirs   describe each broker's data directory: free space, replicas, sizes, lag
  acls       add, list, remove ACLs (with authorization.enable=true)
  users      create, delete, list users who authenticate with a password (SCRAM)
  quotas     alter, describe client quotas (byte rates, request rate)

Client commands take --bootstrap host:port (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092), and
--command-config FILE for TLS (docs/security.md).`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  server: { run: serverCommand, help: SERVER_HELP },
  dev: { run: devCommand, help: DEV_HELP },
  topics: { run: topicsCommand, help: TOPICS_HELP },
  produce: { run: produceCommand, help: PRODUCE_HELP },
  consume: { run: consumeCommand, help: CONSUME_HELP },
  groups: { run: groupsCommand, help: GROUPS_HELP },
  copy: { run: copyCommand, help: COPY_HELP },
  transactions: { run: transactionsCommand, help: TRANSACTIONS_HELP },
  cluster: { run: clusterCommand, help: CLUSTER_HELP },
  health: { run: healthCommand, help: HEALTH_HELP },
  'log-dirs': { run: logDirsCommand, help: LOG_DIRS_HELP },
  acls: { run: aclsCommand, help: ACLS_HELP },
  users: { run: usersCommand, help: USERS_HELP },
  quotas: { run: quotasCommand, help: QUOTAS_HELP },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP + '\n');
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`cairn: unknown command "${name}"\n\n${HELP}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.help + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cairn ${name}: ${err.message}\n\n${cmd.help}\n`);
      return 2;
    }
    if (err instanceof CairnError) {
      process.stderr.write(`cairn ${name}: ${errorName(err.code)}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`cairn ${name}: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}

/**
 * Servers return once stopped, clients once done; either way nothing should keep the process
 * alive (gRPC channels may). But output still queued for a slow pipe reader must reach it first:
 * exiting at once cut `cairn consume ... | (sleep 1; wc -l)` short.
 */
async function exit(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

installStdoutGuard();
silenceIpServerNameWarning();
main(process.argv.slice(2)).then(
  (code) => exit(code),
  (err) => {
    process.stderr.write(`cairn: ${(err as Error)?.stack ?? String(err)}\n`);
    return exit(1);
  },
);
