/**
 * Faults for consumer groups (reliability.md row 21): the group coordinator's broker killed or
 * paused, members killed, paused, leaving and joining. They need the scenario's group workload
 * (`ctx.group`); chaos/nemesis.ts lists them with the others.
 */
import { CONSUMER_OFFSETS_TOPIC } from '../src/common/types';
import { offsetsPartitionFor } from '../src/coordinator/group-record-codec';
import type { Fault, NemesisContext } from './nemesis';

/** The chaos cluster's offsets.topic.num.partitions (scenario flags). */
export const CHAOS_OFFSETS_PARTITIONS = 4;

/** Most members at once (joins beyond it are skipped). */
const MAX_MEMBERS = 5;

function group(ctx: NemesisContext) {
  if (!ctx.group) throw new Error('this fault needs a scenario with a group workload');
  return ctx.group;
}

/** The node leading the group's partition of __consumer_offsets: its coordinator (-1: none now). */
async function coordinatorNode(ctx: NemesisContext): Promise<{ node: number; partition: number }> {
  const partition = offsetsPartitionFor(group(ctx).groupId, CHAOS_OFFSETS_PARTITIONS);
  return { node: await ctx.cluster.partitionLeader(CONSUMER_OFFSETS_TOPIC, partition), partition };
}

const restartNodes: Fault['heal'] = async (ctx) => ctx.cluster.restartStopped();

export const GROUP_FAULTS: Record<string, Fault> = {
  'kill-coordinator': {
    name: 'kill-coordinator',
    async apply(ctx) {
      const { node, partition } = await coordinatorNode(ctx);
      if (node < 0) return 'no group coordinator now';
      await ctx.cluster.kill(node);
      return `kill -9 node ${node} (group coordinator: leader of ${CONSUMER_OFFSETS_TOPIC}-${partition})`;
    },
    heal: restartNodes,
  },
  'pause-coordinator': {
    name: 'pause-coordinator',
    async apply(ctx) {
      const { node, partition } = await coordinatorNode(ctx);
      if (node < 0) return 'no group coordinator now';
      ctx.cluster.pause(node);
      return `SIGSTOP node ${node} (group coordinator: leader of ${CONSUMER_OFFSETS_TOPIC}-${partition})`;
    },
    heal: restartNodes,
  },
  'kill-member': {
    name: 'kill-member',
    async apply(ctx) {
      const g = group(ctx);
      const name = g.pick(ctx.random);
      if (name === null) return 'no member to kill';
      await g.kill(name);
      return `kill -9 member ${name}; a new member joins when healed`;
    },
    heal: async (ctx) => void group(ctx).addMember(),
  },
  'pause-member': {
    name: 'pause-member',
    async apply(ctx) {
      const g = group(ctx);
      const name = g.pick(ctx.random);
      if (name === null) return 'no member to pause';
      g.pause(name);
      return `SIGSTOP member ${name}`;
    },
    heal: async (ctx) => group(ctx).resumeAll(),
  },
  'member-leaves': {
    name: 'member-leaves',
    async apply(ctx) {
      const g = group(ctx);
      const name = g.pick(ctx.random);
      if (name === null) return 'no member to leave';
      await g.leave(name);
      return `member ${name} closed (a clean leave); a new member joins when healed`;
    },
    heal: async (ctx) => void group(ctx).addMember(),
  },
  'member-joins': {
    name: 'member-joins',
    async apply(ctx) {
      const g = group(ctx);
      if (g.running().length >= MAX_MEMBERS) return `already ${MAX_MEMBERS} members`;
      return `member ${g.addMember()} joins`;
    },
    heal: async () => undefined,
  },
};
