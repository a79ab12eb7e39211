/**
 * Faults for transactions (reliability.md rows 15-18): transactional producers paused or killed
 * mid-commit, the transaction coordinator's broker paused, slowed or killed after it decided a
 * commit, and a second producer with the same transactional id beside a paused one. They need the
 * scenario's transaction workload (`ctx.txns`); chaos/nemesis.ts lists them with the others.
 */
import { TRANSACTION_STATE_TOPIC } from '../src/common/types';
import { transactionPartitionFor } from '../src/coordinator/txn-record-codec';
import type { Fault, NemesisContext } from './nemesis';

/** The chaos cluster's transaction.state.log.num.partitions (scenario flags). */
export const CHAOS_TXN_PARTITIONS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function txns(ctx: NemesisContext) {
  if (!ctx.txns) throw new Error('this fault needs a scenario with a transaction workload');
  return ctx.txns;
}

/** A running slot and the node coordinating its transactional id now (node -1: none). */
async function coordinatorOf(ctx: NemesisContext): Promise<{ slot: number; id: string; node: number; partition: number } | null> {
  const slot = txns(ctx).pick(ctx.random);
  if (slot === null) return null;
  const id = txns(ctx).transactionalId(slot);
  const partition = transactionPartitionFor(id, CHAOS_TXN_PARTITIONS);
  return { slot, id, partition, node: await ctx.cluster.partitionLeader(TRANSACTION_STATE_TOPIC, partition) };
}

const healTxns: Fault['heal'] = async (ctx) => {
  await ctx.cluster.healNetwork();
  ctx.cluster.restartStopped();
  txns(ctx).heal();
};

export const TXN_FAULTS: Record<string, Fault> = {
  'pause-txn-client': {
    name: 'pause-txn-client',
    async apply(ctx) {
      const slot = txns(ctx).pick(ctx.random);
      if (slot === null) return 'no transactional producer running';
      txns(ctx).pause(slot);
      return `SIGSTOP the producer of ${txns(ctx).transactionalId(slot)} (mid-transaction or mid-commit; its transaction times out)`;
    },
    heal: healTxns,
  },
  'kill-txn-client': {
    name: 'kill-txn-client',
    async apply(ctx) {
      const slot = txns(ctx).pick(ctx.random);
      if (slot === null) return 'no transactional producer running';
      await txns(ctx).kill(slot);
      return `kill -9 the producer of ${txns(ctx).transactionalId(slot)}; a new one takes the id when healed`;
    },
    heal: healTxns,
  },
  'pause-txn-coordinator': {
    name: 'pause-txn-coordinator',
    async apply(ctx) {
      const c = await coordinatorOf(ctx);
      if (!c || c.node < 0) return 'no transaction coordinator now';
      ctx.cluster.pause(c.node);
      return `SIGSTOP node ${c.node} (coordinator of ${c.id}: leader of ${TRANSACTION_STATE_TOPIC}-${c.partition})`;
    },
    heal: healTxns,
  },
  'slow-txn-link': {
    name: 'slow-txn-link',
    async apply(ctx) {
      const c = await coordinatorOf(ctx);
      if (!c || c.node < 0) return 'no transaction coordinator now';
      // The client's link to the coordinator, or to a partition leader that is not the coordinator
      // (a produce that arrives after its transaction ended: KIP-890's late write).
      const leaders = new Set<number>();
      for (let p = 0; p < ctx.partitions; p++) leaders.add(await ctx.cluster.partitionLeader(ctx.topic, p));
      const others = [...leaders].filter((n) => n > 0 && n !== c.node);
      const node = others.length > 0 && ctx.random.bool() ? ctx.random.pick(others) : c.node;
      const ms = ctx.random.int(200, 3_000);
      await ctx.cluster.latencyOn(`c>n${node}`, ms);
      return `${ms} ms on the client's link to node ${node} (${node === c.node ? `coordinator of ${c.id}` : 'a partition leader, not the coordinator'})`;
    },
    heal: healTxns,
  },
  'kill-txn-coordinator-after-commit': {
    name: 'kill-txn-coordinator-after-commit',
    async apply(ctx) {
      const c = await coordinatorOf(ctx);
      if (!c || c.node < 0) return 'no transaction coordinator now';
      // Answers from the coordinator are lost (requests still arrive and are decided), then it dies:
      // commits it decided reach their producers only through a retry at the next coordinator.
      const ms = ctx.random.int(100, 1_500);
      await ctx.cluster.dropAnswers(`c>n${c.node}`, 0);
      await sleep(ms);
      await ctx.cluster.kill(c.node);
      return `answers of node ${c.node} (coordinator of ${c.id}) lost for ${ms} ms, then kill -9 node ${c.node}`;
    },
    heal: healTxns,
  },
  zombie: {
    name: 'zombie',
    async apply(ctx) {
      const slot = txns(ctx).pick(ctx.random);
      if (slot === null) return 'no transactional producer running';
      txns(ctx).startZombie(slot);
      return `SIGSTOP the producer of ${txns(ctx).transactionalId(slot)} and start a second one with the same id; the first resumes when healed and must be fenced`;
    },
    heal: healTxns,
  },
};
