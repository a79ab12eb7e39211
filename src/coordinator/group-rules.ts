// The group coordinator's checks and small decisions, apart from its state machine (group-coordinator.ts).
import { CairnError, ErrorCode, LEAVE_GROUP_STATIC_MEMBER_EPOCH, type Random, TopicPartitionSets } from '../common';
import { DEFAULT_ASSIGNOR } from './assignors';
import type { ConsumerHeartbeatRequest, GroupStateName, TopicsView } from './group-messages';
import type { ConsumerGroup, Member, MemberSubscription } from './group-state';

const { filter, has, isEmpty } = TopicPartitionSets;

export const MAX_NAME_LENGTH = 249;
export const MAX_SUBSCRIBED_TOPICS = 10_000;
export const MAX_ID_LENGTH = 255;

export function checkName(value: unknown, code: ErrorCode, what: string, max = MAX_NAME_LENGTH): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new CairnError(code, `${what} must be 1 to ${max} characters`);
}

export function checkTopics(names: readonly string[]): string[] {
  if (!Array.isArray(names) || names.length > MAX_SUBSCRIBED_TOPICS) throw new CairnError(ErrorCode.INVALID_REQUEST, `a member subscribes to at most ${MAX_SUBSCRIBED_TOPICS} topics`);
  for (const n of names) checkName(n, ErrorCode.INVALID_TOPIC_EXCEPTION, 'a subscribed topic name');
  return [...new Set(names)].sort();
}

/** KIP-848's epoch check: the current epoch, or the previous one from a member that missed an answer and owns nothing new. */
export function checkEpoch(m: Member, req: ConsumerHeartbeatRequest): void {
  const a = m.assignment;
  if (req.memberEpoch === a.memberEpoch) return;
  const missedAnswer = req.memberEpoch === a.previousMemberEpoch && (req.ownedPartitions === null || isEmpty(filter(req.ownedPartitions, (t, p) => !has(a.assigned, t, p))));
  if (a.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH && req.memberEpoch < a.memberEpoch && missedAnswer) return;
  throw new CairnError(ErrorCode.FENCED_MEMBER_EPOCH, `member ${m.memberId} sent epoch ${req.memberEpoch}; its epoch is ${a.memberEpoch}`);
}

/** Whether the target assignment depends on the difference: the topics or the assignor asked for. */
export function assignmentInputsDiffer(a: MemberSubscription, b: MemberSubscription): boolean {
  return a.topics.join('\u0000') !== b.topics.join('\u0000') || a.serverAssignor !== b.serverAssignor;
}

export function sameSubscription(a: MemberSubscription, b: MemberSubscription): boolean {
  return (
    a.instanceId === b.instanceId &&
    a.clientId === b.clientId &&
    a.clientHost === b.clientHost &&
    a.rebalanceTimeoutMs === b.rebalanceTimeoutMs &&
    a.serverAssignor === b.serverAssignor &&
    a.topics.join('\u0000') === b.topics.join('\u0000')
  );
}

/** The partition counts of every topic some member subscribes to and that exists. */
export function subscribedCounts(g: ConsumerGroup, topics: TopicsView): Record<string, number> {
  const names = new Set<string>();
  for (const m of g.members.values()) for (const t of m.subscription.topics) names.add(t);
  const counts: Record<string, number> = {};
  for (const t of [...names].sort()) {
    const n = topics.partitionCount(t);
    if (n !== undefined && n > 0) counts[t] = n;
  }
  return counts;
}

export function sameCounts(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** The assignor most members ask for (ties by name), else the default. */
export function chooseAssignor(members: readonly Member[]): string {
  const votes = new Map<string, number>();
  for (const m of members) if (m.subscription.serverAssignor !== null) votes.set(m.subscription.serverAssignor, (votes.get(m.subscription.serverAssignor) ?? 0) + 1);
  let best = DEFAULT_ASSIGNOR;
  let bestVotes = 0;
  for (const [name, n] of [...votes].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (n > bestVotes) {
      best = name;
      bestVotes = n;
    }
  }
  return best;
}

export function stateOf(g: ConsumerGroup): GroupStateName {
  if (g.isEmpty) return 'empty';
  if (g.epoch > g.assignmentEpoch) return 'assigning';
  for (const m of g.members.values()) if (m.assignment.state !== 'stable' || m.assignment.memberEpoch !== g.assignmentEpoch) return 'reconciling';
  return 'stable';
}

/** 16 random bytes, base64url: a member id (Kafka's are UUIDs). */
export function newMemberId(random: Random): string {
  const bytes = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) bytes[i] = random.int(0, 255);
  return bytes.toString('base64url');
}
