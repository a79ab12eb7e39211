import { Admin } from '../client';
import { BOOTSTRAP, intOption, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const USERS_HELP = `Usage: cairn users <create|delete|list> [options]   (Kafka's kafka-configs --alter --add-config SCRAM-SHA-512=...)

  create NAME --password P [--mechanism SCRAM-SHA-512|SCRAM-SHA-256] [--iterations N]
                      a user who authenticates with a password over TLS (or a new password);
                      the password is salted and hashed here, only the result is sent
  delete NAME [--mechanism M]
                      the user's credential: its sessions end at their next request
  list [NAME...]      users, mechanisms and iteration counts

Options:
  -b, --bootstrap host:port   a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.*, sasl.* (docs/security.md)`;

export async function usersCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, { ...BOOTSTRAP, password: { type: 'string' }, mechanism: { type: 'string' }, iterations: { type: 'string' } });
  const mechanism = (values.mechanism as string | undefined) ?? 'SCRAM-SHA-512';
  const admin = new Admin(clientOptions(values));
  try {
    switch (sub) {
      case 'create': {
        if (positionals.length !== 1) throw new UsageError('users create takes exactly one user name');
        if (typeof values.password !== 'string' || values.password.length === 0) throw new UsageError('users create needs --password');
        await admin.upsertUser(positionals[0]!, values.password, { mechanism, iterations: intOption(values, 'iterations', 4096) });
        out(`User ${positionals[0]} has a ${mechanism.toUpperCase()} credential.`);
        return 0;
      }
      case 'delete': {
        if (positionals.length !== 1) throw new UsageError('users delete takes exactly one user name');
        await admin.deleteUser(positionals[0]!, mechanism);
        out(`Deleted the ${mechanism.toUpperCase()} credential of ${positionals[0]}.`);
        return 0;
      }
      case 'list': {
        const users = await admin.describeUsers(positionals);
        if (users.length === 0) process.stderr.write('No users.\n');
        for (const u of users) out(`${u.name}\t${u.mechanism}\titerations=${u.iterations}`);
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown users command "${sub}"` : 'missing users command');
    }
  } finally {
    admin.close();
  }
}
