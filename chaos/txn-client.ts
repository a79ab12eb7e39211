/**
 * One transactional producer of the chaos suite's transaction workload, as a process of its own so
 * that the nemesis can kill -9 it, SIGSTOP it mid-commit, and start a second one with the same
 * transactional id beside it (reliability.md rows 15-18):
 *
 *   node dist/chaos/txn-client.js '{"bootstrap":"…","topic":"chaos","partitions":3,"transactionalId":"txn-0","name":"t0.1","seed":7}'
 *
 * It runs transactions one after another, each writing 1-8 unique values (`<name>-<n>-<i>`, value
 * i of transaction n to partition (n + i) mod partitions) and then committing, or (one in five)
 * aborting. What happened goes to stdout, one JSON object per line, stamped with the machine's
 * monotonic clock (as chaos/group-member.ts does):
 * - `begin`: the transaction `txn` and its values, before the first send;
 * - `commit`: commitTransaction() is about to be called (`attempt` 0, then each retry): until this,
 *   nothing can commit the transaction;
 * - `ok`: commitTransaction() resolved: the transaction is committed;
 * - `fail`: abortTransaction() resolved: it is aborted (a definite outcome the checkers hold it to);
 * - `info`: neither is known (an error on the way, a fencing): it must be all there or not at all;
 * - `fenced`: another producer took the transactional id; the process exits (code 3), as a zombie must.
 * SIGTERM ends it after the transaction under way.
 */
import { Producer } from '../src/client/producer';
import { CairnError, ErrorCode, isRetriable } from '../src/common/errors';
import { SeededRandom } from '../src/common/random';
import { CHAOS_PRODUCER_OPTIONS } from './workloads';
import { workerClient } from './client-security';
import { silenceIpServerNameWarning } from '../src/protocol/io/tls';

interface TxnClientArgs {
  bootstrap: string;
  topic: string;
  partitions: number;
  transactionalId: string;
  /** Unique per process (slot and incarnation): values carry it, so a restarted id never repeats one. */
  name: string;
  seed: number;
  /** The share of transactions aborted on purpose (default 0.2). */
  abortRate?: number;
  /** transaction.timeout.ms asked of the coordinator (default 6 s: a paused client's transaction is aborted by it). */
  transactionTimeoutMs?: number;
}

silenceIpServerNameWarning();
const args = JSON.parse(process.argv[2] ?? '{}') as TxnClientArgs;
const now = () => Number(process.hrtime.bigint()) / 1e6;
/** A pipe write of one short line is atomic, so a kill -9 never leaves half a line. */
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ...event, t: now() })}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const random = new SeededRandom(args.seed);

const producer = new Producer({
  ...CHAOS_PRODUCER_OPTIONS,
  ...workerClient(args.bootstrap),
  transactionalId: args.transactionalId,
  transactionTimeoutMs: args.transactionTimeoutMs ?? 6_000,
});

let running = true;
process.on('SIGTERM', () => {
  running = false;
});

function fenced(err: unknown): boolean {
  return err instanceof CairnError && (err.code === ErrorCode.PRODUCER_FENCED || err.code === ErrorCode.INVALID_PRODUCER_EPOCH) && producer.transactionState === 'fenced';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Ends the process as a fenced producer must: nothing more is written under this id by it. */
function exitFenced(err: unknown): never {
  emit({ e: 'fenced', error: describe(err) });
  process.exit(3);
}

/** initTransactions until it succeeds (the coordinator may be moving, the cluster down for a while). */
async function init(): Promise<void> {
  for (;;) {
    try {
      await producer.initTransactions();
      return;
    } catch (err) {
      if (fenced(err)) exitFenced(err);
      if (!running) process.exit(0);
      await sleep(250);
    }
  }
}

/**
 * Commits; a commit that timed out or lost its connection is called again, as the client's
 * documentation says an application may (the coordinator must answer the retry as the first:
 * reliability.md row 17). True when it resolved.
 */
async function commit(txn: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    emit({ e: 'commit', txn, attempt });
    try {
      await producer.commitTransaction();
      emit({ e: 'ok', txn });
      return true;
    } catch (err) {
      if (fenced(err)) {
        emit({ e: 'info', txn, error: describe(err) });
        exitFenced(err);
      }
      const retriable = err instanceof CairnError && isRetriable(err.code) && producer.transactionState === 'committing';
      if (!retriable || attempt >= 3) return false;
    }
  }
}

/** Aborts, retrying a few times; true when the coordinator confirmed the abort. */
async function abort(): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await producer.abortTransaction();
      return true;
    } catch (err) {
      if (fenced(err)) return false;
      await sleep(200);
    }
  }
  return false;
}

async function main(): Promise<void> {
  await init();
  for (let n = 0; running; n++) {
    const txn = `${args.name}-${n}`;
    const values = Array.from({ length: random.int(1, 8) }, (_, i) => `${txn}-${i}`);
    emit({ e: 'begin', txn, values });
    producer.beginTransaction();
    const sent = await Promise.allSettled(values.map((value, i) => producer.send({ topic: args.topic, partition: (n + i) % args.partitions, value })));
    const sendFailed = sent.some((s) => s.status === 'rejected');
    if (!sendFailed && !random.bool(args.abortRate ?? 0.2)) {
      if (await commit(txn)) continue;
      // Not known: the commit may have been decided. Only a confirmed abort makes it definite.
    }
    if (await abort()) {
      emit({ e: 'fail', txn });
      continue;
    }
    emit({ e: 'info', txn, error: `abort not confirmed (producer ${producer.transactionState})` });
    if (producer.transactionState === 'fenced') exitFenced(new Error('fenced while aborting'));
    // Neither committed nor aborted as far as it knows: a new process takes over the id (the workload restarts it).
    process.exit(4);
  }
  await producer.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
