/**
 * One consumer group member of the chaos suite's group workload, as a process of its own so that
 * the nemesis can kill -9 it and SIGSTOP it (reliability.md row 21):
 *
 *   node dist/chaos/group-member.js '{"bootstrap":"…","topic":"chaos","group":"g","name":"m1"}'
 *
 * It reads with the Consumer as an application would (poll, process, commit what it processed)
 * and writes what happened to stdout, one JSON object per line, each stamped with the machine's
 * monotonic clock (process.hrtime, the same in every process, so the checkers can order events of
 * different members): `assigned`, `revoked`, `lost` (partitions), `read` (one record, stamped as
 * poll returned it), `committed` (offsets the coordinator acknowledged, with when the commit was
 * sent). SIGTERM closes the consumer (a clean leave) and exits.
 */
import { Consumer } from '../src/client/consumer';
import type { TopicPartition } from '../src/client/group-membership';
import { workerClient } from './client-security';
import { silenceIpServerNameWarning } from '../src/protocol/io/tls';

interface MemberArgs {
  bootstrap: string;
  topic: string;
  group: string;
  name: string;
  /** How often processed positions are committed. */
  commitIntervalMs?: number;
  /**
   * The negative control's unsafe application: it commits what poll returned before processing it
   * (at most once), and processing takes 100 ms; a kill in between skips records.
   */
  commitBeforeProcessing?: boolean;
}

silenceIpServerNameWarning();
const args = JSON.parse(process.argv[2] ?? '{}') as MemberArgs;
const now = () => Number(process.hrtime.bigint()) / 1e6;
/** A pipe write of one short line is atomic, so a kill -9 never leaves half a line. */
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const partitionsOf = (ps: TopicPartition[]) => ps.map((p) => p.partition).sort((a, b) => a - b);

const consumer = new Consumer({
  ...workerClient(args.bootstrap),
  groupId: args.group,
  autoOffsetReset: 'earliest',
  // Commits are the workload's own (after processing), so each acknowledged one is in the history.
  enableAutoCommit: false,
  maxWaitMs: 200,
  requestTimeoutMs: 3_000,
  metadataMaxAgeMs: 2_000,
  rebalanceTimeoutMs: 10_000,
  onAssigned: (ps) => {
    // It starts at the group's committed offset: what it processed before (if it had them) is no longer its to commit.
    forget(ps);
    emit({ e: 'assigned', t: now(), ps: partitionsOf(ps) });
  },
  onRevoked: async (ps) => {
    // Positions of what it gives up are committed first (what it processed), as a careful application does.
    await commit(ps).catch(() => undefined);
    forget(ps);
    emit({ e: 'revoked', t: now(), ps: partitionsOf(ps) });
  },
  onLost: (ps) => {
    forget(ps);
    emit({ e: 'lost', t: now(), ps: partitionsOf(ps) });
  },
});

/** Next offset to commit per partition: one past the last record processed since it was assigned. */
const next = new Map<number, number>();
function forget(ps: TopicPartition[]): void {
  for (const p of ps) next.delete(p.partition);
}

async function commit(only?: TopicPartition[]): Promise<void> {
  const owned = new Set((only ?? consumer.assignment()).map((p) => p.partition));
  const offsets = [...next].filter(([p]) => owned.has(p)).map(([partition, offset]) => ({ topic: args.topic, partition, offset }));
  if (offsets.length === 0) return;
  const sent = now();
  await consumer.commit(offsets);
  emit({ e: 'committed', t: now(), sent, offsets: Object.fromEntries(offsets.map((o) => [o.partition, o.offset])) });
}

let running = true;
process.on('SIGTERM', () => {
  running = false;
});

async function main(): Promise<void> {
  consumer.subscribe([args.topic]);
  const every = args.commitIntervalMs ?? 500;
  let lastCommit = now();
  while (running) {
    let records;
    try {
      records = await consumer.poll(200);
    } catch {
      continue;
    }
    let t = now();
    if (args.commitBeforeProcessing && records.length > 0) {
      for (const r of records) next.set(r.partition, r.offset + 1);
      await commit().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      t = now();
    }
    for (const r of records) {
      emit({ e: 'read', t, p: r.partition, o: r.offset, v: r.value?.toString() ?? 'null' });
      next.set(r.partition, r.offset + 1);
    }
    if (now() - lastCommit >= every) {
      lastCommit = now();
      await commit().catch(() => undefined);
    }
  }
  await consumer.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
