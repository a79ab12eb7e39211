/**
 * bench:groups — consumer groups (issue 18). Fills a topic, then:
 * 1. a group of `--members` consumers (one process, as many Consumers) reads it all from the
 *    start: records/s for the group as a whole;
 * 2. one member leaves (close(): a clean leave) and the time is taken until the others own every
 *    partition again (their onAssigned), with `--session-timeout-ms` and
 *    `--heartbeat-interval-ms` as the brokers' group settings.
 */
import { Consumer } from '../src/client/consumer';
import { args, hrMs, num, progress, report } from './common';
import { benchCluster, createBenchTopic, fillTopic } from './cluster';

async function main(): Promise<void> {
  const a = args({
    records: '3000000',
    'record-size': '100',
    partitions: '6',
    brokers: '3',
    'replication-factor': '3',
    members: '3',
    'session-timeout-ms': '3000',
    'heartbeat-interval-ms': '500',
    // The Consumer's default (pipelined fetches); 1: one fetch in flight per broker.
    'fetches-in-flight': '2',
    // Unset: the Consumer's default.
    'max-poll-records': '',
  });
  const records = num(a.records, 'records');
  const size = num(a['record-size'], 'record-size');
  const partitions = num(a.partitions, 'partitions');
  const brokers = num(a.brokers, 'brokers');
  const membersWanted = num(a.members, 'members');
  const cluster = await benchCluster({
    brokers,
    flags: { 'group-consumer-session-timeout-ms': a['session-timeout-ms']!, 'group-consumer-heartbeat-interval-ms': a['heartbeat-interval-ms']! },
  });
  const topic = `bench-groups-${Date.now()}`;
  try {
    await createBenchTopic(cluster.bootstrap, topic, partitions, num(a['replication-factor'], 'replication-factor'));
    await fillTopic(cluster.bootstrap, topic, records, size);

    // 1. The group reads everything.
    let owned = 0;
    let lastAssignedAt = 0;
    const members = Array.from(
      { length: membersWanted },
      () =>
        new Consumer({
          bootstrap: cluster.bootstrap,
          groupId: `bench-${topic}`,
          autoOffsetReset: 'earliest',
          ...(a['max-poll-records'] ? { maxPollRecords: num(a['max-poll-records'], 'max-poll-records') } : {}),
          fetchesInFlight: num(a['fetches-in-flight'], 'fetches-in-flight'),
          onAssigned: (ps) => {
            owned += ps.length;
            lastAssignedAt = hrMs();
          },
          onRevoked: (ps) => {
            owned -= ps.length;
          },
        }),
    );
    const joinStart = hrMs();
    for (const m of members) m.subscribe([topic]);
    let read = 0;
    let first = 0;
    let lastProgress = hrMs();
    await Promise.all(
      members.map(async (m) => {
        while (read < records) {
          const batch = await m.poll(1_000);
          if (batch.length > 0 && first === 0) first = hrMs();
          read += batch.length;
          if (hrMs() - lastProgress > 1000) {
            lastProgress = hrMs();
            progress(`${read} records read by the group`);
          }
        }
      }),
    );
    const readS = (hrMs() - first) / 1000;
    const joinedMs = lastAssignedAt - joinStart;

    // 2. A member leaves; the others take its partitions over.
    const leaver = members.pop()!;
    const leaveStart = hrMs();
    await leaver.close();
    while (owned < partitions && hrMs() - leaveStart < 60_000) await Promise.all(members.map((m) => m.poll(20)));
    const rebalanceMs = hrMs() - leaveStart;
    await Promise.all(members.map((m) => m.close()));
    report({
      benchmark: 'groups',
      brokers,
      partitions,
      members: membersWanted,
      fetches_in_flight: num(a['fetches-in-flight'], 'fetches-in-flight'),
      record_size: size,
      records: read,
      records_per_s: read / readS,
      first_assignment_ms: joinedMs,
      rebalance_after_leave_ms: rebalanceMs,
      session_timeout_ms: num(a['session-timeout-ms'], 'session-timeout-ms'),
      heartbeat_interval_ms: num(a['heartbeat-interval-ms'], 'heartbeat-interval-ms'),
    });
  } finally {
    await cluster.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
