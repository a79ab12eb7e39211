/**
 * The seeds' example: one topic, `notifications`; four consumer groups (email, sms, push,
 * in-app) each receive every notification (pub/sub fan-out across groups); inside the email
 * group three members share the partitions (queue semantics within a group), each notification
 * sent by exactly one of them.
 *
 *   npm run build && node dist/examples/notifications.js [--bootstrap 127.0.0.1:9092] [--count 300]
 *
 * (with `npm start` running a local cluster). It prints who handled what and exits 0 when every
 * group got every notification.
 */
import { Admin, Consumer, Producer } from '../src/client';
import { CairnError, ErrorCode } from '../src/common';

export interface NotificationsResult {
  /** Per group: how many distinct notifications it received. */
  received: Record<string, number>;
  /** For the email group: how many each of its three members handled. */
  emailMembers: Record<string, number>;
  /** Notifications some email member handled more than once (at-least-once; 0 when nothing failed). */
  emailDuplicates: number;
}

const GROUPS = ['email', 'sms', 'push', 'in-app'];

export async function runNotifications(bootstrap: string, count: number, log: (line: string) => void = () => undefined): Promise<NotificationsResult> {
  const admin = new Admin({ bootstrap });
  try {
    await admin.createTopic({ name: 'notifications', partitions: 6 });
  } catch (err) {
    if (!(err instanceof CairnError && err.code === ErrorCode.TOPIC_ALREADY_EXISTS)) throw err;
  } finally {
    admin.close();
  }
  const runId = Date.now().toString(36);
  const members: { group: string; name: string; consumer: Consumer; handled: string[] }[] = [];
  for (const group of GROUPS) {
    const size = group === 'email' ? 3 : 1;
    for (let i = 1; i <= size; i++) {
      // A fresh group per run, reading from the start, so that a rerun sees its own notifications only.
      const consumer = new Consumer({ bootstrap, groupId: `${group}-${runId}`, autoOffsetReset: 'earliest', maxWaitMs: 200 });
      consumer.subscribe(['notifications']);
      members.push({ group, name: `${group}-${i}`, consumer, handled: [] });
    }
  }
  // Let the groups settle first (every member with its share), so the email group's three members all take part.
  const settleBy = Date.now() + 30_000;
  while (Date.now() < settleBy && !members.every((m) => m.consumer.assignment().length === (m.group === 'email' ? 2 : 6))) {
    await Promise.all(members.map((m) => m.consumer.poll(100)));
  }
  const producer = new Producer({ bootstrap });
  const sent = new Set<string>();
  for (let i = 0; i < count; i++) {
    const id = `${runId}-${i}`;
    sent.add(id);
    void producer.send({ topic: 'notifications', key: `user-${i % 17}`, value: JSON.stringify({ id, user: `user-${i % 17}`, text: `notification ${i}` }) });
  }
  await producer.close();
  log(`sent ${count} notifications`);

  const deadline = Date.now() + 60_000;
  const received = (group: string) => new Set(members.filter((m) => m.group === group).flatMap((m) => m.handled)).size;
  await Promise.all(
    members.map(async (m) => {
      while (Date.now() < deadline && received(m.group) < count) {
        for (const r of await m.consumer.poll(200)) {
          const { id } = JSON.parse(r.value!.toString()) as { id: string };
          if (sent.has(id)) m.handled.push(id);
        }
      }
    }),
  );
  await Promise.all(members.map((m) => m.consumer.close()));
  const result: NotificationsResult = {
    received: Object.fromEntries(GROUPS.map((g) => [g, received(g)])),
    emailMembers: Object.fromEntries(members.filter((m) => m.group === 'email').map((m) => [m.name, m.handled.length])),
    emailDuplicates: members.filter((m) => m.group === 'email').reduce((n, m) => n + m.handled.length, 0) - received('email'),
  };
  for (const g of GROUPS) log(`${g}: received ${result.received[g]} of ${count}`);
  log(`email members: ${JSON.stringify(result.emailMembers)}`);
  return result;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
  };
  const count = Number(flag('count', '300'));
  runNotifications(flag('bootstrap', process.env.CAIRN_BOOTSTRAP ?? '127.0.0.1:9092'), count, (line) => console.log(line)).then(
    (r) => process.exit(Object.values(r.received).every((n) => n === count) ? 0 : 1),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
