/**
 * The quorum's membership (KIP-853's voter set, Raft thesis §4.1): which nodes vote, which only
 * follow, and where each listens. A membership lives in the log as a `config` entry and takes
 * effect on every node as soon as the entry is in its log — committed or not — and a truncation
 * that drops the entry brings the previous one back. The newest config entry in the log wins,
 * then the snapshot's membership, then the bootstrap voters a node was started with
 * (`controller.quorum.voters`).
 *
 * Changes are made one node at a time (a learner is added, a caught-up learner becomes a voter,
 * a member is removed): any two majorities of memberships that differ by one voter overlap, so no
 * two leaders can be elected from them. docs/raft.md §8.
 */
import { type NodeId, nodeId } from '../common';
import { MAX_WIRE_VALUE } from './limits';

export interface Member {
  readonly id: NodeId;
  /** `host:port` of its internal (Raft) listener; '' in a bootstrap membership, where the node's configuration knows it. */
  readonly endpoint: string;
}

export interface Membership {
  readonly voters: readonly Member[];
  readonly learners: readonly Member[];
}

export type MembershipChange =
  /** A node that is not a member starts receiving the log, without a vote. */
  | { readonly kind: 'add-learner'; readonly id: NodeId; readonly endpoint: string }
  /** A learner that has caught up becomes a voter. */
  | { readonly kind: 'promote'; readonly id: NodeId }
  /** A voter loses its vote but keeps receiving the log (a controller node that goes on as a broker). */
  | { readonly kind: 'demote'; readonly id: NodeId }
  /** A voter or learner leaves. */
  | { readonly kind: 'remove'; readonly id: NodeId };

const MAX_ENDPOINT_LENGTH = 255;
const MAX_MEMBERS = 64;

export function bootstrapMembership(voters: readonly NodeId[], learners: readonly NodeId[] = []): Membership {
  return { voters: voters.map((id) => ({ id, endpoint: '' })), learners: learners.map((id) => ({ id, endpoint: '' })) };
}

export const voterIds = (m: Membership): NodeId[] => m.voters.map((v) => v.id);
export const learnerIds = (m: Membership): NodeId[] => m.learners.map((l) => l.id);

/** Why `m` cannot be a membership, or null. */
export function membershipProblem(m: unknown): string | null {
  if (typeof m !== 'object' || m === null) return 'membership is not an object';
  const { voters, learners } = m as Record<string, unknown>;
  if (!Array.isArray(voters) || !Array.isArray(learners)) return 'membership needs voters and learners arrays';
  if (voters.length === 0) return 'membership has no voter';
  if (voters.length + learners.length > MAX_MEMBERS) return `membership has more than ${MAX_MEMBERS} members`;
  const seen = new Set<number>();
  for (const x of [...voters, ...learners] as unknown[]) {
    if (typeof x !== 'object' || x === null) return 'a member is not an object';
    const { id, endpoint } = x as Record<string, unknown>;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_WIRE_VALUE) return `member id ${String(id)} is not a node id`;
    if (typeof endpoint !== 'string' || endpoint.length > MAX_ENDPOINT_LENGTH) return `member ${id} has no valid endpoint string`;
    if (seen.has(id)) return `node ${id} is listed twice`;
    seen.add(id);
  }
  return null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes of a `config` entry (and of a snapshot's membership): JSON, small and rare. */
export function encodeMembership(m: Membership): Uint8Array {
  return encoder.encode(JSON.stringify({ voters: m.voters.map(plain), learners: m.learners.map(plain) }));
}

const plain = (x: Member) => ({ id: x.id, endpoint: x.endpoint });

export function decodeMembership(data: Uint8Array): { membership: Membership } | { problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    return { problem: 'membership is not UTF-8 JSON' };
  }
  const problem = membershipProblem(raw);
  if (problem !== null) return { problem };
  const r = raw as { voters: Member[]; learners: Member[] };
  const member = (x: Member): Member => ({ id: nodeId(x.id), endpoint: x.endpoint });
  return { membership: { voters: r.voters.map(member), learners: r.learners.map(member) } };
}

/** The membership after `change`, or why the change cannot be made to `m`. */
export function applyChange(m: Membership, change: MembershipChange): { membership: Membership } | { problem: string; duplicate?: boolean; notFound?: boolean } {
  const isVoter = m.voters.some((v) => v.id === change.id);
  const isLearner = m.learners.some((l) => l.id === change.id);
  switch (change.kind) {
    case 'add-learner':
      if (isVoter) return { problem: `node ${change.id} is already a voter`, duplicate: true };
      if (isLearner) return { problem: `node ${change.id} is already a learner`, duplicate: true };
      return { membership: { voters: m.voters, learners: [...m.learners, { id: change.id, endpoint: change.endpoint }] } };
    case 'promote': {
      if (isVoter) return { problem: `node ${change.id} is already a voter`, duplicate: true };
      const learner = m.learners.find((l) => l.id === change.id);
      if (!learner) return { problem: `node ${change.id} is not a learner`, notFound: true };
      return { membership: { voters: [...m.voters, learner], learners: m.learners.filter((l) => l.id !== change.id) } };
    }
    case 'demote': {
      const voter = m.voters.find((v) => v.id === change.id);
      if (!voter) return { problem: `node ${change.id} is not a voter`, notFound: true };
      if (m.voters.length === 1) return { problem: `node ${change.id} is the last voter` };
      return { membership: { voters: m.voters.filter((v) => v.id !== change.id), learners: [...m.learners, voter] } };
    }
    case 'remove':
      if (!isVoter && !isLearner) return { problem: `node ${change.id} is not a member`, notFound: true };
      if (isVoter && m.voters.length === 1) return { problem: `node ${change.id} is the last voter` };
      return { membership: { voters: m.voters.filter((v) => v.id !== change.id), learners: m.learners.filter((l) => l.id !== change.id) } };
  }
}

export function describeMembership(m: Membership): string {
  const learners = m.learners.length > 0 ? ` learners [${learnerIds(m).join(',')}]` : '';
  return `voters [${voterIds(m).join(',')}]${learners}`;
}
