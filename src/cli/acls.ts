import { Admin } from '../client';
import type { AclBindingMessage, AclFilterMessage } from '../protocol';
import { BOOTSTRAP, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const ACLS_HELP = `Usage: cairn acls <add|list|remove> [options]   (Kafka's kafka-acls)

  add     --allow-principal User:NAME | --deny-principal User:NAME   (repeatable)
          --operation Read|Write|Create|Delete|Alter|Describe|ClusterAction|DescribeConfigs|AlterConfigs|IdempotentWrite|All (repeatable)
          --topic T | --group G | --transactional-id T | --cluster
          [--resource-pattern-type literal|prefixed] [--host IP]     (default literal, every host)
  list    [selectors]: the ACLs matching them, all without any
          (--resource-pattern-type match: also the wildcard and prefixed ACLs that cover the name)
  remove  selectors: every ACL matching them (at least one selector)

A name of * (--topic '*') is every topic. The ACLs take effect at once on every node; with
authorization.enable=true a principal no ACL allows is refused (docs/security.md).

Options:
  -b, --bootstrap host:port   a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.*, sasl.* (docs/security.md)`;

const line = (b: AclBindingMessage) =>
  `${b.permission === 'allow' ? 'ALLOW' : 'DENY'}\t${b.principal}\t${b.operation}\t${b.resourceType}\t${b.patternType === 'prefixed' ? `${b.resourceName} (prefixed)` : b.resourceName}\thost ${b.host}`;

export async function aclsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parse(rest, {
    ...BOOTSTRAP,
    'allow-principal': { type: 'string', multiple: true },
    'deny-principal': { type: 'string', multiple: true },
    principal: { type: 'string' },
    operation: { type: 'string', multiple: true },
    topic: { type: 'string' },
    group: { type: 'string' },
    'transactional-id': { type: 'string' },
    cluster: { type: 'boolean' },
    'resource-pattern-type': { type: 'string' },
    host: { type: 'string' },
  });
  const resources = (['topic', 'group', 'transactional-id'] as const).filter((k) => typeof values[k] === 'string').map((k) => ({ resourceType: k, resourceName: values[k] as string }));
  if (values.cluster) resources.push({ resourceType: 'cluster' as never, resourceName: 'kafka-cluster' });
  if (resources.length > 1) throw new UsageError('name one resource: --topic, --group, --transactional-id or --cluster');
  const resource = resources[0];
  const patternType = (values['resource-pattern-type'] as string | undefined)?.toLowerCase();
  const operations = (values.operation as string[] | undefined) ?? [];
  const allow = (values['allow-principal'] as string[] | undefined) ?? [];
  const deny = (values['deny-principal'] as string[] | undefined) ?? [];
  const host = (values.host as string | undefined) ?? '';
  const admin = new Admin(clientOptions(values));
  try {
    switch (sub) {
      case 'add': {
        if (!resource) throw new UsageError('acls add needs --topic, --group, --transactional-id or --cluster');
        if (allow.length + deny.length === 0) throw new UsageError('acls add needs --allow-principal or --deny-principal');
        if (operations.length === 0) throw new UsageError('acls add needs --operation');
        const acls: AclBindingMessage[] = [];
        for (const [permission, principals] of [
          ['allow', allow],
          ['deny', deny],
        ] as const) {
          for (const principal of principals) {
            for (const operation of operations) acls.push({ ...resource, patternType: patternType ?? 'literal', principal, host: host || '*', operation, permission });
          }
        }
        await admin.createAcls(acls);
        for (const a of acls) out(`Added ${line(a)}`);
        return 0;
      }
      case 'list':
      case 'remove': {
        const principal = (values.principal as string | undefined) ?? allow[0] ?? deny[0] ?? '';
        const base: AclFilterMessage = { ...resource, patternType: patternType ?? '', principal, host, permission: allow.length > 0 ? 'allow' : deny.length > 0 ? 'deny' : '' };
        const filters = operations.length > 0 ? operations.map((operation) => ({ ...base, operation })) : [base];
        if (sub === 'list') {
          const seen = new Set<string>();
          for (const f of filters) {
            for (const b of await admin.describeAcls(f)) {
              const text = line(b);
              if (!seen.has(text)) out(text);
              seen.add(text);
            }
          }
          if (seen.size === 0) process.stderr.write('No ACLs.\n');
          return 0;
        }
        if (!resource && !principal) throw new UsageError('acls remove needs a selector: --topic/--group/--transactional-id/--cluster or a principal');
        const removed = await admin.deleteAcls(filters);
        for (const b of removed) out(`Removed ${line(b)}`);
        if (removed.length === 0) process.stderr.write('No ACL matched.\n');
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown acls command "${sub}"` : 'missing acls command');
    }
  } finally {
    admin.close();
  }
}
