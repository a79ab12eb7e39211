import { TopicPartitionSets, type TopicPartitions } from '../common';
import type { MemberAssignment } from './group-state';

const { countOf, equals, filter, intersect, intersects, isEmpty, minus, NO_PARTITIONS, union } = TopicPartitionSets;

/**
 * One step of a member towards its target assignment (KIP-848's CurrentAssignmentBuilder), the
 * rule that keeps every partition with at most one owner while the rest of the group keeps
 * consuming:
 * - partitions leave a member before anyone else gets them: what is no longer in its target goes
 *   to `pendingRevocation`, its epoch stays, and it gets nothing new until a heartbeat reports
 *   that it no longer owns them (`owned`, null when the heartbeat did not say);
 * - a partition joins a member only once no other member owns it (`ownedByOther`); the member
 *   moves to the target epoch at once and gets the rest on later heartbeats (`unreleased`).
 * Returns `current` itself when nothing changes.
 */
export function reconcile(
  current: MemberAssignment,
  targetEpoch: number,
  target: TopicPartitions,
  owned: TopicPartitions | null,
  ownedByOther: (topic: string, partition: number) => boolean,
): MemberAssignment {
  switch (current.state) {
    case 'unrevoked':
      if (owned === null || intersects(owned, current.pendingRevocation)) return current;
      return next({ ...current, pendingRevocation: NO_PARTITIONS }, targetEpoch, target, ownedByOther);
    case 'stable':
      if (current.memberEpoch === targetEpoch) return current;
      return next(current, targetEpoch, target, ownedByOther);
    case 'unreleased': {
      const step = next(current, targetEpoch, target, ownedByOther);
      return sameAssignment(step, current) ? current : step;
    }
  }
}

function next(m: MemberAssignment, targetEpoch: number, target: TopicPartitions, ownedByOther: (topic: string, partition: number) => boolean): MemberAssignment {
  const kept = intersect(m.assigned, target);
  const revoke = minus(m.assigned, target);
  if (!isEmpty(revoke)) {
    return { memberEpoch: m.memberEpoch, previousMemberEpoch: m.previousMemberEpoch, state: 'unrevoked', assigned: kept, pendingRevocation: revoke };
  }
  const wanted = minus(target, kept);
  const free = filter(wanted, (t, p) => !ownedByOther(t, p));
  const epochChanges = m.memberEpoch !== targetEpoch;
  return {
    memberEpoch: targetEpoch,
    previousMemberEpoch: epochChanges ? m.memberEpoch : m.previousMemberEpoch,
    state: countOf(free) < countOf(wanted) ? 'unreleased' : 'stable',
    assigned: union(kept, free),
    pendingRevocation: NO_PARTITIONS,
  };
}

function sameAssignment(a: MemberAssignment, b: MemberAssignment): boolean {
  return (
    a.memberEpoch === b.memberEpoch && a.previousMemberEpoch === b.previousMemberEpoch && a.state === b.state && equals(a.assigned, b.assigned) && equals(a.pendingRevocation, b.pendingRevocation)
  );
}
