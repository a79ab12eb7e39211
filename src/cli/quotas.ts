import { Admin } from '../client';
import type { QuotaEntityMessage } from '../protocol';
import { BOOTSTRAP, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const QUOTAS_HELP = `Usage: cairn quotas <alter|describe> [options]   (Kafka's kafka-configs --entity-type users/clients)

  alter  (--user NAME | --user-default) and/or (--client-id ID | --client-id-default)
         [--add-config k=v[,k=v]] [--delete-config k[,k]]
         keys: producer_byte_rate, consumer_byte_rate (bytes per second), request_rate (requests per second)
  describe   every quota set

The most specific quota applies (user and client id, then the user, then defaults), as in Kafka.
A client over its quota gets its answers held back; produce and fetch answers say for how long
(throttle_time_ms). A client names itself with the clientId option (client-id).

Options:
  -b, --bootstrap host:port   a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.*, sasl.* (docs/security.md)`;

const entityText = (e: QuotaEntityMessage) =>
  [e.defaultUser ? 'user=<default>' : e.user ? `user=${e.user}` : '', e.defaultClientId ? 'client-id=<default>' : e.clientId ? `client-id=${e.clientId}` : ''].filter(Boolean).join(',');

export async function quotasCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parse(rest, {
    ...BOOTSTRAP,
    user: { type: 'string' },
    'user-default': { type: 'boolean' },
    'client-id': { type: 'string' },
    'client-id-default': { type: 'boolean' },
    'add-config': { type: 'string' },
    'delete-config': { type: 'string' },
  });
  const admin = new Admin(clientOptions(values));
  try {
    switch (sub) {
      case 'alter': {
        const entity: Partial<QuotaEntityMessage> = {
          user: (values.user as string | undefined) ?? '',
          defaultUser: values['user-default'] === true,
          clientId: (values['client-id'] as string | undefined) ?? '',
          defaultClientId: values['client-id-default'] === true,
        };
        if (!entity.user && !entity.defaultUser && !entity.clientId && !entity.defaultClientId) throw new UsageError('quotas alter needs --user, --user-default, --client-id or --client-id-default');
        const set: Record<string, number> = {};
        for (const kv of ((values['add-config'] as string | undefined) ?? '').split(',').filter(Boolean)) {
          const [k, v] = kv.split('=');
          const n = Number(v);
          if (!k || v === undefined || !Number.isFinite(n)) throw new UsageError(`--add-config takes key=number, got "${kv}"`);
          set[k.trim()] = n;
        }
        const remove = ((values['delete-config'] as string | undefined) ?? '').split(',').filter(Boolean);
        if (Object.keys(set).length === 0 && remove.length === 0) throw new UsageError('quotas alter needs --add-config or --delete-config');
        await admin.alterClientQuotas(entity, set, remove);
        out(`Quotas of ${entityText(entity as QuotaEntityMessage)} altered.`);
        return 0;
      }
      case 'describe': {
        const entries = await admin.describeClientQuotas();
        if (entries.length === 0) process.stderr.write('No quotas.\n');
        for (const e of entries)
          out(
            `${entityText(e.entity)}\t${Object.entries(e.values)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')}`,
          );
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown quotas command "${sub}"` : 'missing quotas command');
    }
  } finally {
    admin.close();
  }
}
