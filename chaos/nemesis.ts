import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Random } from '../src/common/random';
import { Admin } from '../src/client/admin';
import type { PartitionDescription } from '../src/protocol/messages';
import { GROUP_FAULTS } from './group-faults';
import { TXN_FAULTS } from './txn-faults';
import { COPY_FAULTS, type CopyJob } from './copy-job';
import type { GroupWorkload } from './group-workload';
import type { ChaosCluster } from './harness/chaos-cluster';
import type { History } from './history';
import type { TxnWorkload } from './txn-workload';
import { adminClient } from './client-security';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface NemesisContext {
  cluster: ChaosCluster;
  random: Random;
  topic: string;
  partitions: number;
  history: History;
  /** The group workload, in scenarios with one (reliability.md row 21). */
  group?: GroupWorkload;
  /** The transaction workload, in scenarios with one (rows 15-18). */
  txns?: TxnWorkload;
  /** The consume-transform-produce job, in scenarios with one (row 20). */
  copyJob?: CopyJob;
}

/** One fault: `apply` starts it and says what it did; `heal` undoes it. */
export interface Fault {
  name: string;
  apply(ctx: NemesisContext): Promise<string>;
  heal(ctx: NemesisContext): Promise<void>;
}

async function leaderOf(ctx: NemesisContext): Promise<{ partition: number; leader: number }> {
  const partition = ctx.random.int(0, ctx.partitions - 1);
  return { partition, leader: await ctx.cluster.partitionLeader(ctx.topic, partition) };
}

/** A partition as the cluster describes it now (null when no broker answers). */
async function describePartition(ctx: NemesisContext, partition: number): Promise<PartitionDescription | null> {
  const admin = new Admin({ ...adminClient(ctx.cluster.bootstrap), requestTimeoutMs: 2_000 });
  try {
    return (await admin.describeTopics([ctx.topic]).catch(() => []))[0]?.partitions.find((p) => p.partition === partition) ?? null;
  } finally {
    admin.close();
  }
}

/** Polls the partition's ISR until `done` holds or `timeoutMs` passes; returns the last ISR seen. */
async function waitForIsr(ctx: NemesisContext, partition: number, done: (isr: number[]) => boolean, timeoutMs: number): Promise<{ isr: number[] | null; reached: boolean }> {
  const deadline = performance.now() + timeoutMs;
  let isr: number[] | null = null;
  while (performance.now() < deadline) {
    isr = (await describePartition(ctx, partition))?.isr ?? isr;
    if (isr && done(isr)) return { isr, reached: true };
    await sleep(200);
  }
  return { isr, reached: false };
}

/**
 * Waits until every partition of the workload's topic has all its replicas in the ISR (the rolling
 * restart's "wait for the ISR to refill before the next node", docs/operations.md); false when
 * `timeoutMs` passes first.
 */
async function waitFullIsr(ctx: NemesisContext, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const admin = new Admin({ ...adminClient(ctx.cluster.bootstrap), requestTimeoutMs: 2_000 });
    try {
      const ps = (await admin.describeTopics([ctx.topic]).catch(() => []))[0]?.partitions ?? [];
      if (ps.length === ctx.partitions && ps.every((p) => p.isr.length === p.replicas.length)) return true;
    } finally {
      admin.close();
    }
    await sleep(200);
  }
  return false;
}

/** Restarts every node that is not running (and resumes paused ones). */
export async function restartDead(ctx: NemesisContext): Promise<void> {
  ctx.cluster.restartStopped();
}

const healNetwork: Fault['heal'] = (ctx) => ctx.cluster.healNetwork();

export const FAULTS: Record<string, Fault> = {
  'partition-leader': {
    name: 'partition-leader',
    async apply(ctx) {
      const { partition, leader } = await leaderOf(ctx);
      if (leader < 0) return 'no leader to partition';
      await ctx.cluster.isolate(leader);
      return `isolated node ${leader} (leader of partition ${partition}) from the other nodes`;
    },
    heal: healNetwork,
  },
  'partition-controller': {
    name: 'partition-controller',
    async apply(ctx) {
      const leader = await ctx.cluster.controllerLeader();
      if (leader < 0) return 'no controller leader';
      await ctx.cluster.isolate(leader);
      return `isolated node ${leader} (controller leader)`;
    },
    heal: healNetwork,
  },
  'split-majority': {
    name: 'split-majority',
    async apply(ctx) {
      const ids = ctx.random.shuffle(ctx.cluster.nodeIds());
      const minority = ids.slice(0, Math.floor(ids.length / 2));
      await ctx.cluster.partition(minority, ids.slice(minority.length));
      return `split [${minority}] from [${ids.slice(minority.length)}]`;
    },
    heal: healNetwork,
  },
  'one-way': {
    name: 'one-way',
    async apply(ctx) {
      const [a, b] = ctx.random.shuffle(ctx.cluster.nodeIds());
      await ctx.cluster.partition([a!], [b!], true);
      return `node ${a} cannot send to node ${b} (the other way works)`;
    },
    heal: healNetwork,
  },
  bridge: {
    name: 'bridge',
    async apply(ctx) {
      const [a, b, c] = ctx.random.shuffle(ctx.cluster.nodeIds());
      await ctx.cluster.partition([a!], [b!]);
      return `nodes ${a} and ${b} cannot talk; both still talk to ${c} (a ring/bridge)`;
    },
    heal: healNetwork,
  },
  latency: {
    name: 'latency',
    async apply(ctx) {
      await ctx.cluster.latency(100, 50, true);
      return '100 ± 50 ms on every link';
    },
    heal: healNetwork,
  },
  bandwidth: {
    name: 'bandwidth',
    async apply(ctx) {
      await ctx.cluster.bandwidth(256);
      return '256 KB/s on every node link';
    },
    heal: healNetwork,
  },
  'reset-client-leader': {
    name: 'reset-client-leader',
    async apply(ctx) {
      const { leader } = await leaderOf(ctx);
      if (leader < 0) return 'no leader';
      if (ctx.random.bool()) await ctx.cluster.resetPeer(`c>n${leader}`, ctx.random.int(0, 50));
      else await ctx.cluster.limitData(`c>n${leader}`, ctx.random.int(100, 20_000));
      return `client connections to node ${leader} cut mid-request`;
    },
    heal: healNetwork,
  },
  'drop-client-answers': {
    name: 'drop-client-answers',
    async apply(ctx) {
      const { leader } = await leaderOf(ctx);
      if (leader < 0) return 'no leader';
      if (ctx.random.bool()) await ctx.cluster.dropAnswers(`c>n${leader}`, ctx.random.int(200, 3_000));
      else await ctx.cluster.limitAnswers(`c>n${leader}`, ctx.random.int(100, 20_000));
      return `answers from node ${leader} to the client lost after the leader wrote (requests still arrive)`;
    },
    heal: healNetwork,
  },
  kill: {
    name: 'kill',
    async apply(ctx) {
      const id = ctx.random.pick(ctx.cluster.nodeIds().filter((x) => ctx.cluster.isRunning(x)));
      await ctx.cluster.kill(id);
      return `kill -9 node ${id}`;
    },
    heal: restartDead,
  },
  'kill-leader': {
    name: 'kill-leader',
    async apply(ctx) {
      const { partition, leader } = await leaderOf(ctx);
      if (leader < 0) return 'no leader';
      await ctx.cluster.kill(leader);
      return `kill -9 node ${leader} (leader of partition ${partition})`;
    },
    heal: restartDead,
  },
  'kill-all': {
    name: 'kill-all',
    async apply(ctx) {
      for (const id of ctx.cluster.nodeIds()) await ctx.cluster.kill(id);
      return 'kill -9 every node';
    },
    heal: restartDead,
  },
  'kill-leader-twice': {
    name: 'kill-leader-twice',
    async apply(ctx) {
      const partition = ctx.random.int(0, ctx.partitions - 1);
      const first = await ctx.cluster.partitionLeader(ctx.topic, partition);
      if (first < 0) return 'no leader';
      await ctx.cluster.kill(first);
      let second = -1;
      const deadline = performance.now() + 15_000;
      while (performance.now() < deadline) {
        second = await ctx.cluster.partitionLeader(ctx.topic, partition);
        if (second > 0 && second !== first) break;
        await sleep(10);
      }
      if (second > 0 && second !== first) await ctx.cluster.kill(second);
      return `kill -9 leader ${first} of partition ${partition}, then its successor ${second} as soon as it was elected`;
    },
    heal: restartDead,
  },
  pause: {
    name: 'pause',
    async apply(ctx) {
      const mode = ctx.random.pick(['leader', 'minority', 'all']);
      let ids: number[];
      if (mode === 'leader') {
        const { leader } = await leaderOf(ctx);
        ids = leader > 0 ? [leader] : [];
      } else if (mode === 'minority') {
        ids = [ctx.random.pick(ctx.cluster.nodeIds())];
      } else {
        ids = ctx.cluster.nodeIds();
      }
      for (const id of ids) ctx.cluster.pause(id);
      return `SIGSTOP ${mode}: nodes ${ids.join(',')}`;
    },
    heal: async (ctx) => {
      for (const id of ctx.cluster.nodeIds()) ctx.cluster.resume(id);
    },
  },
  'shrink-isr-then-kill-leader': {
    name: 'shrink-isr-then-kill-leader',
    // Kills the partition's followers one at a time, each time waiting until the controller has
    // taken it out of the ISR (writes must stop being acknowledged once the ISR is below
    // min.insync.replicas), then kills the leader: no unclean leader may take over.
    async apply(ctx) {
      const { partition, leader } = await leaderOf(ctx);
      if (leader < 0) return 'no leader';
      const replicas = (await describePartition(ctx, partition))?.replicas ?? [];
      const followers = ctx.random.shuffle(replicas.filter((x) => x !== leader));
      const steps: string[] = [];
      for (const f of followers) {
        await ctx.cluster.kill(f);
        const { isr, reached } = await waitForIsr(ctx, partition, (i) => !i.includes(f), 15_000);
        steps.push(`killed ${f}, ISR ${reached ? '' : 'still '}[${isr ?? '?'}]`);
        await sleep(ctx.random.int(500, 2_000));
      }
      await ctx.cluster.kill(leader);
      return `partition ${partition} (replicas [${replicas}]): ${steps.join('; ')}; then kill -9 leader ${leader}`;
    },
    heal: restartDead,
  },
  'lose-unfsynced': {
    name: 'lose-unfsynced',
    async apply(ctx) {
      const id = ctx.random.pick(ctx.cluster.nodeIds());
      const other = ctx.random.pick(ctx.cluster.nodeIds().filter((x) => x !== id));
      ctx.cluster.pause(other);
      await ctx.cluster.kill(id);
      const lost = ctx.cluster.dropUnfsynced(id);
      ctx.cluster.start(id);
      return `node ${id} lost its page cache (${lost.bytes} un-fsynced bytes in ${lost.files} files) while node ${other} was paused`;
    },
    heal: restartDead,
  },
  'lose-unfsynced-all': {
    name: 'lose-unfsynced-all',
    async apply(ctx) {
      let bytes = 0;
      for (const id of ctx.cluster.nodeIds()) await ctx.cluster.kill(id);
      for (const id of ctx.cluster.nodeIds()) bytes += ctx.cluster.dropUnfsynced(id).bytes;
      for (const id of ctx.cluster.nodeIds()) ctx.cluster.start(id);
      return `every node lost its page cache at once (${bytes} un-fsynced bytes)`;
    },
    heal: restartDead,
  },
  'torn-tail': {
    name: 'torn-tail',
    async apply(ctx) {
      const { partition, leader } = await leaderOf(ctx);
      if (leader < 0) return 'no leader';
      const admin0 = new Admin({ ...adminClient(ctx.cluster.bootstrap), requestTimeoutMs: 2_000 });
      const replicas = (await admin0.describeTopics([ctx.topic]).catch(() => []))[0]?.partitions[partition]?.replicas ?? [];
      admin0.close();
      const followers = replicas.filter((x) => x !== leader);
      for (const f of followers) await ctx.cluster.kill(f);
      // Wait until the ISR is just the leader and writes flow again on its disk alone, then cut power mid-write.
      const admin = new Admin({ ...adminClient(ctx.cluster.bootstrap), requestTimeoutMs: 2_000 });
      const deadline = performance.now() + 20_000;
      try {
        while (performance.now() < deadline) {
          const p = (await admin.describeTopics([ctx.topic]).catch(() => []))[0]?.partitions[partition];
          if (p && p.isr.length === 1 && p.isr[0] === leader) break;
          await sleep(200);
        }
      } finally {
        admin.close();
      }
      await sleep(ctx.random.int(300, 1_500));
      await ctx.cluster.kill(leader);
      const segs = ctx.cluster.segments(leader, ctx.topic, partition);
      const last = segs[segs.length - 1];
      const torn = last ? ctx.cluster.tearUnfsynced(leader, last, ctx.random) : null;
      await restartDead(ctx);
      return `ISR of partition ${partition} down to leader ${leader}, which lost power mid-write: ${torn ? `${torn.size - torn.durable} un-fsynced bytes, ${torn.kept} of them kept as a torn tail` : 'no segment'}; all restarted`;
    },
    heal: restartDead,
  },
  'corrupt-minority': {
    name: 'corrupt-minority',
    async apply(ctx) {
      const { partition, leader } = await leaderOf(ctx);
      const victim = ctx.random.pick(ctx.cluster.nodeIds().filter((x) => x !== leader));
      await ctx.cluster.kill(victim);
      // Any segment: rolled ones (fsynced, closed, long unread) as well as the active one.
      const segs = ctx.cluster.segments(victim, ctx.topic, partition).filter((f) => fs.statSync(f).size > 200);
      const seg = segs.length > 0 ? ctx.random.pick(segs) : undefined;
      let what = 'nothing to corrupt';
      if (seg) {
        const bytes = fs.readFileSync(seg);
        if (ctx.random.bool()) {
          const at = ctx.random.int(80, Math.floor(bytes.length / 2));
          bytes[at] = bytes[at]! ^ 0x5a;
          fs.writeFileSync(seg, bytes);
          what = `flipped bits at byte ${at} of ${seg}`;
        } else {
          fs.truncateSync(seg, Math.floor(bytes.length / 2));
          what = `truncated ${seg} to half`;
        }
      }
      ctx.cluster.start(victim);
      return `node ${victim} restarted with a damaged replica of partition ${partition}: ${what}`;
    },
    heal: restartDead,
  },
  'disk-full': {
    name: 'disk-full',
    async apply(ctx) {
      const id = ctx.cluster.nodeIds()[0]!;
      ctx.cluster.fillDisk(id);
      return `filled node ${id}'s disk`;
    },
    heal: async (ctx) => ctx.cluster.freeDisk(ctx.cluster.nodeIds()[0]!),
  },
  'rolling-restart': {
    name: 'rolling-restart',
    // The documented procedure (docs/operations.md): one node at a time, a controlled shutdown
    // (SIGTERM), restart, and only once every broker is registered again and every ISR is full
    // the next node.
    async apply(ctx) {
      const slow: number[] = [];
      for (const id of ctx.cluster.nodeIds()) {
        await ctx.cluster.cluster.stop(id);
        ctx.cluster.start(id);
        await ctx.cluster.cluster.waitReady(ctx.cluster.nodeIds().length, 30_000).catch(() => undefined);
        if (!(await waitFullIsr(ctx, 60_000))) slow.push(id);
      }
      return `SIGTERM and restart every node in turn, each once the ISRs were full again${slow.length ? ` (the ISRs were not full within 60 s after node(s) ${slow.join(', ')})` : ''}`;
    },
    heal: restartDead,
  },
  'clock-jump': {
    name: 'clock-jump',
    // A node's wall clock jumps forward, then back past where it was (an operator, a VM resume, a
    // bad NTP step). Safety must not notice: timeouts run on the monotonic clock; only record
    // timestamps, segment roll and retention times see the wall clock. Jumps stay within hours:
    // retention.ms (7 days) is time-based by design, so a jump of days would delete data as Kafka's would.
    async apply(ctx) {
      const id = ctx.random.pick(ctx.cluster.nodeIds());
      const base = ctx.cluster.clockSkew(id);
      const forward = ctx.random.int(10_000, 3_600_000);
      const back = ctx.random.int(10_000, 3_600_000);
      ctx.cluster.setClockSkew(id, base + forward);
      await sleep(ctx.random.int(500, 2_000));
      ctx.cluster.setClockSkew(id, base - back);
      return `node ${id}'s wall clock jumped ${Math.round(forward / 1000)} s forward, then back to ${Math.round(back / 1000)} s behind where it was`;
    },
    heal: async (ctx) => ctx.cluster.resetClocks(),
  },
  reassign: {
    name: 'reassign',
    async apply(ctx) {
      const partition = ctx.random.int(0, ctx.partitions - 1);
      // With more brokers than replicas, one replica moves to a broker outside the current set (its
      // data must be copied there); otherwise the replicas are only reordered.
      const current = (await describePartition(ctx, partition))?.replicas ?? [];
      const outside = ctx.cluster.nodeIds().filter((x) => !current.includes(x));
      let replicas: number[];
      let move: string;
      if (current.length > 0 && outside.length > 0) {
        const incoming = ctx.random.pick(outside);
        const outgoing = ctx.random.pick(current);
        replicas = ctx.random.shuffle([...current.filter((x) => x !== outgoing), incoming]);
        move = `from [${current}] to [${replicas}]: node ${incoming} gets a copy, node ${outgoing} drops it`;
      } else {
        // Rotated, so the preferred leader changes (a shuffle could give the same order back).
        const from = current.length > 0 ? current : ctx.cluster.nodeIds().slice(0, 3);
        const k = ctx.random.int(1, from.length - 1);
        replicas = [...from.slice(k), ...from.slice(0, k)];
        move = `from [${current}] to [${replicas}] (reordered)`;
      }
      const admin = new Admin({ ...adminClient(ctx.cluster.bootstrap), requestTimeoutMs: 5_000 });
      try {
        const [r] = await admin.reassignPartitions([{ topic: ctx.topic, partition, replicas }]);
        const victim = ctx.random.pick(ctx.cluster.nodeIds().filter((x) => ctx.cluster.isRunning(x)));
        await ctx.cluster.kill(victim);
        return `reassigned partition ${partition} ${move} (${r?.errorCode === 0 ? 'started' : `refused: ${r?.errorMessage}`}) and killed node ${victim}`;
      } catch (err) {
        return `reassignment of partition ${partition} failed: ${(err as Error).message}`;
      } finally {
        admin.close();
      }
    },
    heal: restartDead,
  },
  ...GROUP_FAULTS,
  ...TXN_FAULTS,
  ...COPY_FAULTS,
};
