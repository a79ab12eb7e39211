/**
 * RaftCore driven over real RaftStorage files, as the transport shell will: persist each ready
 * (awaiting the fsyncs), then send, then apply, then advance; restart every node from its directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { SeededRandom } from '../../../src/common/random';
import type { NodeId } from '../../../src/common/types';
import { nodeId } from '../../../src/common/types';
import type { Message } from '../../../src/raft/messages';
import { RaftCore } from '../../../src/raft/raft-core';
import { RaftStorage } from '../../../src/raft/io/raft-storage';
import type { Entry, Snapshot } from '../../../src/raft/types';
import { bytes, text } from './cluster';

interface Node {
  core: RaftCore;
  storage: RaftStorage;
  applied: string[];
  appliedIndex: number;
}

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-raft-core-storage-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const ids = [1, 2, 3].map(nodeId);
const random = new SeededRandom(5);
let now = 0;

async function boot(id: NodeId): Promise<Node> {
  const { storage, state } = await RaftStorage.open(path.join(root, `node-${id}`));
  const core = new RaftCore({ id, voters: ids, electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300, heartbeatIntervalMs: 50, random: random.fork(), initial: state, nowMs: now });
  const fromSnapshot: string[] = state.snapshot ? (JSON.parse(text(state.snapshot.data)) as string[]) : [];
  return { core, storage, applied: fromSnapshot, appliedIndex: state.snapshot?.lastIndex ?? 0 };
}

const apply = (n: Node, snapshot: Snapshot | undefined, committed: Entry[]) => {
  if (snapshot) {
    n.applied = JSON.parse(text(snapshot.data)) as string[];
    n.appliedIndex = snapshot.lastIndex;
  }
  for (const e of committed) {
    if (e.kind === 'data') n.applied.push(text(e.data));
    n.appliedIndex = e.index;
  }
};

/** Runs every node's driver loop and delivers messages until the cluster is quiet. */
async function settle(nodes: Map<NodeId, Node>): Promise<void> {
  const queue: Message[] = [];
  for (let rounds = 0; rounds < 1000; rounds++) {
    let busy = false;
    for (const n of nodes.values()) {
      while (n.core.hasReady()) {
        busy = true;
        const rd = n.core.ready();
        await n.storage.persist(rd);
        queue.push(...rd.messages);
        apply(n, rd.snapshotToApply, rd.committed);
        n.core.advance();
      }
    }
    const m = queue.shift();
    if (m) nodes.get(m.to)!.core.step(m, now);
    else if (!busy) return;
  }
  throw new Error('cluster did not settle');
}

test('a cluster over real files survives a full restart, with a compaction in between', async () => {
  let nodes = new Map<NodeId, Node>();
  for (const id of ids) nodes.set(id, await boot(id));
  now = 1000;
  nodes.get(nodeId(1))!.core.tick(now);
  await settle(nodes);
  expect(nodes.get(nodeId(1))!.core.role).toBe('leader');

  for (let i = 0; i < 20; i++) nodes.get(nodeId(1))!.core.propose(bytes(`v${i}`), now);
  await settle(nodes);
  for (const n of nodes.values()) {
    // Snapshot the applied state on every node, then write some more.
    n.core.compact(n.appliedIndex, bytes(JSON.stringify(n.applied)));
  }
  await settle(nodes);
  for (let i = 20; i < 30; i++) nodes.get(nodeId(1))!.core.propose(bytes(`v${i}`), now);
  await settle(nodes);
  const expected = Array.from({ length: 30 }, (_, i) => `v${i}`);
  for (const n of nodes.values()) expect(n.applied).toEqual(expected);

  for (const n of nodes.values()) await n.storage.close();
  nodes = new Map();
  for (const id of ids) nodes.set(id, await boot(id));
  for (const n of nodes.values()) {
    expect(n.core.snapshotIndex).toBe(21);
    expect(n.core.lastIndex).toBe(31);
    expect(n.core.term).toBe(1);
  }
  now = 5000;
  nodes.get(nodeId(2))!.core.tick(now);
  await settle(nodes);
  const leader = nodes.get(nodeId(2))!.core;
  expect(leader.role).toBe('leader');
  expect(leader.term).toBe(2);
  leader.propose(bytes('after'), now);
  await settle(nodes);
  for (const n of nodes.values()) expect(n.applied).toEqual([...expected, 'after']);
  for (const n of nodes.values()) await n.storage.close();
});
