import { Admin } from '../client';
import { BOOTSTRAP, intOption, isolationLevel, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const GROUPS_HELP = `Usage: cairn groups <command> [options]

Commands:
  list                              every consumer group, its state and member count
  describe GROUP                    members, their partitions, committed offsets and lag
                                    (--isolation-level read_committed: lag to the last stable offset)
  delete GROUP                      a group without members, and its committed offsets
  reset-offsets GROUP --topic T (--to-earliest | --to-latest | --to-datetime ISO-8601 | --shift-by N)
                                    move the group's offsets of topic T (the group must have no members)

Options:
  -b, --bootstrap host:port   a broker to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.* (docs/security.md)`;

const partitionsText = (s: { topics: { topic: string; partitions: number[] }[] } | null | undefined) => (s?.topics ?? []).flatMap((t) => t.partitions.map((p) => `${t.topic}-${p}`)).join(',') || '-';

export async function groupsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, {
    ...BOOTSTRAP,
    topic: { type: 'string', short: 't' },
    'to-earliest': { type: 'boolean' },
    'to-latest': { type: 'boolean' },
    'to-datetime': { type: 'string' },
    'shift-by': { type: 'string' },
    'isolation-level': { type: 'string' },
  });
  const admin = new Admin(clientOptions(values));
  try {
    switch (sub) {
      case 'list': {
        const groups = await admin.groups.listGroups();
        if (groups.length === 0) process.stderr.write('No groups.\n');
        for (const g of groups) out(`${g.groupId}\t${g.state}\t${g.members} member(s)`);
        return 0;
      }
      case 'describe': {
        if (positionals.length !== 1) throw new UsageError('groups describe takes exactly one group');
        const g = await admin.groups.describeGroup(positionals[0]!, isolationLevel(values['isolation-level']));
        out(`Group: ${g.groupId}\tState: ${g.state}\tGroupEpoch: ${g.groupEpoch}\tAssignmentEpoch: ${g.assignmentEpoch}\tMembers: ${g.members.length}`);
        for (const m of g.members) {
          out(
            `\tMember: ${m.memberId}\tInstance: ${m.instanceId || '-'}\tClient: ${m.clientId}/${m.clientHost}\tEpoch: ${m.memberEpoch}\tState: ${m.state}\tAssigned: ${partitionsText(m.assigned)}${m.pendingRevocation.topics.length ? `\tRevoking: ${partitionsText(m.pendingRevocation)}` : ''}`,
          );
        }
        out('TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG');
        for (const l of g.lag) out(`${l.topic}\t${l.partition}\t${l.committed < 0 ? '-' : l.committed}\t${l.logEndOffset}\t${l.lag}`);
        return 0;
      }
      case 'delete': {
        if (positionals.length !== 1) throw new UsageError('groups delete takes exactly one group');
        await admin.groups.deleteGroup(positionals[0]!);
        out(`Deleted group ${positionals[0]}.`);
        return 0;
      }
      case 'reset-offsets': {
        if (positionals.length !== 1 || typeof values.topic !== 'string') throw new UsageError('groups reset-offsets takes a group and --topic');
        const chosen = ['to-earliest', 'to-latest', 'to-datetime', 'shift-by'].filter((k) => values[k] !== undefined);
        if (chosen.length !== 1) throw new UsageError('groups reset-offsets takes exactly one of --to-earliest, --to-latest, --to-datetime, --shift-by');
        let reset: Parameters<Admin['groups']['resetOffsets']>[2];
        if (values['to-earliest']) reset = { to: 'earliest' };
        else if (values['to-latest']) reset = { to: 'latest' };
        else if (typeof values['to-datetime'] === 'string') {
          const ms = Date.parse(values['to-datetime']);
          if (Number.isNaN(ms)) throw new UsageError(`--to-datetime takes an ISO-8601 time, got "${values['to-datetime']}"`);
          reset = { to: 'datetime', timestampMs: ms };
        } else reset = { shiftBy: intOption(values, 'shift-by', 0) };
        const moved = await admin.groups.resetOffsets(positionals[0]!, values.topic, reset);
        out('TOPIC\tPARTITION\tNEW-OFFSET');
        for (const m of moved) out(`${values.topic}\t${m.partition}\t${m.offset}`);
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown groups command "${sub}"` : 'missing groups command');
    }
  } finally {
    admin.close();
  }
}
