/**
 * Membership changes one node at a time (Raft thesis §4.1, KIP-853; src/raft/membership.ts): a
 * node joins as a learner, is promoted once caught up, and members leave; a change takes effect
 * when appended, reverts when truncated, travels in snapshots, and only one is in flight.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { describe, expect, test } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { nodeId, term } from '../../../src/common/types';
import { protoRoot } from '../../../src/protocol/io/rpc';
import { RaftStorage, SNAPSHOT_FILE } from '../../../src/raft/io/raft-storage';
import { decodeSnapshot } from '../../../src/raft/raft-storage-format';
import { fromWire, type RaftMessageWire, toWire } from '../../../src/raft/raft-wire';
import { applyChange, bootstrapMembership, decodeMembership, encodeMembership, membershipProblem, voterIds } from '../../../src/raft/membership';
import { messageProblem } from '../../../src/raft/messages';
import { Cluster } from './cluster';

const n = nodeId;
const add = (id: number) => ({ kind: 'add-learner' as const, id: n(id), endpoint: `10.0.0.${id}:9093` });
const promote = (id: number) => ({ kind: 'promote' as const, id: n(id) });
const remove = (id: number) => ({ kind: 'remove' as const, id: n(id) });

/** Nodes 1-3 vote, node 1 leads and has committed its no-op; node 4 runs outside the membership. */
function cluster(): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], observers: [4] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliver();
  return c;
}

describe('membership values', () => {
  test('encode and decode round-trip; malformed memberships are named', () => {
    const m = { voters: [{ id: n(1), endpoint: 'a:1' }], learners: [{ id: n(2), endpoint: 'b:2' }] };
    expect(decodeMembership(encodeMembership(m))).toEqual({ membership: m });
    expect(decodeMembership(new TextEncoder().encode('{'))).toEqual({ problem: 'membership is not UTF-8 JSON' });
    expect(membershipProblem({ voters: [], learners: [] })).toBe('membership has no voter');
    expect(membershipProblem({ voters: [{ id: 1, endpoint: '' }], learners: [{ id: 1, endpoint: '' }] })).toBe('node 1 is listed twice');
    expect(membershipProblem({ voters: [{ id: -1, endpoint: '' }], learners: [] })).toMatch(/not a node id/);
  });

  test('each change moves one node; nonsense changes are refused with the reason', () => {
    const m = bootstrapMembership([n(1), n(2)]);
    const withLearner = applyChange(m, add(3));
    expect('membership' in withLearner && voterIds(withLearner.membership)).toEqual([1, 2]);
    expect(applyChange(m, add(2))).toMatchObject({ duplicate: true });
    expect(applyChange(m, promote(3))).toMatchObject({ notFound: true });
    expect(applyChange(m, remove(9))).toMatchObject({ notFound: true });
    expect(applyChange(bootstrapMembership([n(1)]), remove(1))).toEqual({ problem: 'node 1 is the last voter' });
  });

  test('a config entry whose membership is malformed is refused at the wire', () => {
    const bad = new TextEncoder().encode('{"voters":[],"learners":[]}');
    const msg = { type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [{ index: 1, term: 1, kind: 'config', data: bad }] };
    expect(messageProblem(msg)).toMatch(/config entry whose membership has no voter/);
  });
});

describe('adding a voter', () => {
  test('a node outside the membership joins as a learner, catches up, and is promoted: the quorum grows', () => {
    const c = cluster();
    const added = c.change(1, add(4));
    expect(added.ok).toBe(true);
    c.deliver();
    expect(c.core(4).membership.learners.map((l) => l.id)).toEqual([4]);
    expect(c.appliedData(4)).toEqual(['a']);
    expect(c.core(4).isLearner).toBe(true);
    const promoted = c.change(1, promote(4));
    expect(promoted).toMatchObject({ ok: true });
    c.deliver();
    for (const id of [1, 2, 3, 4]) expect(voterIds(c.core(id).membership)).toEqual([1, 2, 3, 4]);
    expect(c.core(4).isLearner).toBe(false);
    expect(c.core(4).membership.voters.find((v) => v.id === 4)!.endpoint).toBe('10.0.0.4:9093');
    // Four voters: a quorum is three. The leader and one follower no longer commit.
    c.isolate(3);
    c.isolate(4);
    const res = c.propose(1, 'b');
    c.deliver();
    expect(res.ok && c.core(1).commitIndex < res.index).toBe(true);
    c.heal();
    c.run(200);
    expect(c.appliedData(4)).toEqual(['a', 'b']);
  });

  test('a learner that has not caught up is not promoted yet (retriable)', () => {
    const c = cluster();
    c.isolate(4);
    c.change(1, add(4));
    c.deliver();
    c.run(60); // the add commits on the voters; node 4 hears nothing
    const res = c.change(1, promote(4));
    expect(res).toMatchObject({ ok: false, code: ErrorCode.REQUEST_TIMED_OUT });
    expect(!res.ok && res.reason).toMatch(/learner 4 has not caught up/);
  });

  test('a second change is refused while the first is uncommitted', () => {
    const c = cluster();
    c.isolate(2);
    c.isolate(3);
    expect(c.change(1, add(4)).ok).toBe(true);
    const second = c.change(1, remove(3));
    expect(second).toMatchObject({ ok: false, code: ErrorCode.REQUEST_TIMED_OUT });
    expect(!second.ok && second.reason).toMatch(/has not committed yet/);
  });

  test('a new leader makes no change before it has committed an entry of its own term', () => {
    const c = new Cluster({ voters: [1, 2, 3], observers: [4] });
    c.timeout(1);
    c.deliver({ drop: (m) => m.type === 'AppendEntriesResponse' });
    expect(c.leaders()).toEqual([1]);
    // Node 1 leads, but its no-op has not committed: no acknowledgement reached it.
    expect(c.change(1, add(4))).toMatchObject({ ok: false, code: ErrorCode.REQUEST_TIMED_OUT });
  });

  test('duplicates and unknown nodes are refused with KIP-853 codes; followers answer NOT_CONTROLLER', () => {
    const c = cluster();
    expect(c.change(1, add(2))).toMatchObject({ ok: false, code: ErrorCode.DUPLICATE_VOTER });
    expect(c.change(1, remove(9))).toMatchObject({ ok: false, code: ErrorCode.VOTER_NOT_FOUND });
    expect(c.change(2, add(4))).toMatchObject({ ok: false, code: ErrorCode.NOT_CONTROLLER, leaderHint: 1 });
  });
});

describe('removing a voter', () => {
  test('a removed follower no longer counts, and its messages are not heard', () => {
    const c = cluster();
    expect(c.change(1, remove(3)).ok).toBe(true);
    c.deliver();
    expect(voterIds(c.core(2).membership)).toEqual([1, 2]);
    // Two voters left: 1 and 2 commit without 3.
    c.isolate(3);
    const res = c.propose(1, 'b');
    c.deliver();
    expect(res.ok && c.core(1).commitIndex >= res.index).toBe(true);
    c.heal();
    c.timeout(3); // node 3 may still believe it votes; nobody listens
    c.deliver();
    expect(c.leaders()).toEqual([1]);
    expect(c.core(1).term).toBe(1);
  });

  test('a leader that removes itself steps down once the removal commits, and the rest elect a leader', () => {
    const c = cluster();
    expect(c.change(1, remove(1)).ok).toBe(true);
    c.deliver();
    expect(c.core(1).role).toBe('follower');
    expect(c.core(1).isLearner).toBe(true);
    c.run(2_000);
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect([2, 3]).toContain(leaders[0]);
    expect(c.propose(leaders[0]!, 'b').ok).toBe(true);
    c.deliver();
    expect(c.appliedData(leaders[0]!)).toEqual(['a', 'b']);
  });
});

describe('demoting a voter', () => {
  test('a demoted leader steps down and goes on receiving the log as a learner', () => {
    const c = cluster();
    expect(c.change(1, { kind: 'demote', id: n(1) }).ok).toBe(true);
    c.deliver();
    expect(c.core(1).role).toBe('follower');
    c.run(2_000);
    const leader = c.leaders()[0]!;
    expect([2, 3]).toContain(leader);
    expect(c.core(leader).membership.learners.map((l) => l.id)).toEqual([1]);
    c.propose(leader, 'b');
    c.deliver();
    expect(c.appliedData(1)).toEqual(['a', 'b']);
    expect(c.core(1).leaderId).toBe(leader);
  });
});

describe('where a membership comes from', () => {
  test('an uncommitted config entry is in force at once, and a truncation that drops it brings back the one before', () => {
    const c = cluster();
    c.isolate(1);
    expect(c.change(1, remove(3)).ok).toBe(true);
    expect(voterIds(c.core(1).membership)).toEqual([1, 2]);
    // Node 2 and 3 elect a leader of their own; node 1's config entry never reached them.
    c.heal();
    c.isolate(1);
    c.timeout(2);
    c.deliver();
    expect(c.leaders()).toContain(2);
    c.propose(2, 'b');
    c.deliver();
    c.heal();
    c.run(500);
    expect(c.core(1).role).toBe('follower');
    expect(voterIds(c.core(1).membership)).toEqual([1, 2, 3]);
    expect(c.appliedData(1)).toEqual(['a', 'b']);
  });

  test('a snapshot carries the membership: a node restored from it, or restarted on it, has the change', () => {
    const c = cluster();
    c.change(1, add(4));
    c.deliver();
    c.change(1, promote(4));
    c.deliver();
    c.propose(1, 'b');
    c.deliver();
    const leader = c.core(1);
    leader.compact(leader.appliedIndex, new Uint8Array([1]));
    c.drain(n(1));
    expect(c.disks.get(n(1))!.snapshot!.membership).toBeDefined();
    expect(voterIds(c.disks.get(n(1))!.snapshot!.membership!)).toEqual([1, 2, 3, 4]);
    c.crash(1);
    c.start(1);
    expect(voterIds(c.core(1).membership)).toEqual([1, 2, 3, 4]);
  });

  test('a node that missed the change follows a leader the change made a voter, once its configuration names it', () => {
    const c = cluster();
    c.isolate(3);
    c.change(1, add(4));
    c.deliver();
    c.run(100);
    c.change(1, promote(4));
    c.deliver();
    c.run(100);
    // Node 1 goes; 2 and 4 elect node 4 (a majority of four voters needs three: 2, 4 and 3 after the heal).
    c.crash(1);
    c.heal();
    c.run(3_000);
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect(c.core(3).leaderId).toBe(leaders[0]);
    expect(voterIds(c.core(3).membership)).toEqual([1, 2, 3, 4]);
  });
});

describe('the membership on disk and on the wire', () => {
  const membership = {
    voters: [
      { id: n(1), endpoint: '' },
      { id: n(4), endpoint: 'h4:9093' },
    ],
    learners: [{ id: n(2), endpoint: '' }],
  };

  test('a snapshot file keeps it (format 2), a format-1 file still loads without one, and config entries survive a restart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-membership-'));
    try {
      const { storage } = await RaftStorage.open(dir);
      const config = { index: 4, term: term(1), kind: 'config' as const, data: encodeMembership(membership) };
      await storage.persist({ snapshotToSave: { lastIndex: 3, lastTerm: term(1), data: new Uint8Array([7]), membership }, entriesToAppend: [config] });
      await storage.close();
      const { storage: again, state } = await RaftStorage.open(dir);
      await again.close();
      expect(state.snapshot?.membership).toEqual(membership);
      expect(state.entries).toEqual([config]);
      // A version-1 file: the same header with version 1 and no membership tail.
      const v2 = fs.readFileSync(path.join(dir, SNAPSHOT_FILE));
      const v1 = Buffer.from(v2.subarray(0, 33));
      v1.writeUInt16BE(1, 4);
      v1.writeUInt32BE(crc32c(v1.subarray(32), crc32c(v1.subarray(0, 28))), 28);
      expect(decodeSnapshot(v1, dir)).toEqual({ lastIndex: 3, lastTerm: 1, data: new Uint8Array([7]) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an InstallSnapshot carries it through the protobuf codec; a malformed one is refused', () => {
    const type = protoRoot().lookupType('cairn.v1.RaftMessage');
    const msg = { type: 'InstallSnapshot' as const, from: n(1), to: n(2), term: term(3), snapshot: { lastIndex: 9, lastTerm: term(3), data: new Uint8Array([1]), membership } };
    const decoded = type.toObject(type.decode(type.encode(type.fromObject(toWire(msg))).finish()), { longs: Number, bytes: Uint8Array, defaults: true }) as RaftMessageWire;
    const parsed = fromWire(decoded);
    expect('message' in parsed && parsed.message.type === 'InstallSnapshot' && parsed.message.snapshot.membership).toEqual(membership);
    const bad = { ...decoded, snapshot: { ...decoded.snapshot!, membership: new TextEncoder().encode('{"voters":[]}') } };
    expect(fromWire(bad)).toEqual({ problem: expect.stringMatching(/^InstallSnapshot.snapshot.membership: /) });
  });
});
