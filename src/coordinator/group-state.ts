import { invariant, TopicPartitionSets, type TopicPartitions } from '../common';

const { NO_PARTITIONS, pairsOf } = TopicPartitionSets;

/**
 * Where a member is in moving to its target assignment (KIP-848's reconciliation):
 * - `stable`: it has its whole target, at the group's assignment epoch;
 * - `unrevoked`: it must give up `pendingRevocation` first, and acknowledges that by a heartbeat
 *   whose owned partitions no longer include them; its epoch stays until it does;
 * - `unreleased`: it is at the new epoch, but some partitions of its target are still owned by
 *   another member that has not given them up; they come on a later heartbeat.
 */
export type MemberState = 'stable' | 'unrevoked' | 'unreleased';

/** A member's subscription and settings, as it last sent them (the `member` record). */
export interface MemberSubscription {
  readonly instanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  /** Sorted topic names. */
  readonly topics: readonly string[];
  readonly rebalanceTimeoutMs: number;
  /** The assignor the member asked for, or null for the group's default. */
  readonly serverAssignor: string | null;
}

/** A member's current assignment (the `current` record). */
export interface MemberAssignment {
  /** -2 after a static member left (its partitions are kept for its return), else ≥ 0. */
  readonly memberEpoch: number;
  readonly previousMemberEpoch: number;
  readonly state: MemberState;
  /** What the member may consume now. */
  readonly assigned: TopicPartitions;
  /** What it must give up; still its own until it says it has. */
  readonly pendingRevocation: TopicPartitions;
}

export interface CommittedOffset {
  readonly offset: number;
  /** The leader epoch of the record at offset − 1 as the consumer saw it, or -1. */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}

/**
 * The records a group coordinator writes to its `__consumer_offsets` partition. Each has a key
 * (kind and ids: the compaction key) and a value; a null value is a tombstone that deletes
 * whatever the key held. The group's state is only ever changed by replaying these.
 */
export type GroupRecord =
  /** The group exists at this epoch; `topics` are the subscribed topics' partition counts it was computed against. */
  | { kind: 'group'; groupId: string; value: { epoch: number; topics: Readonly<Record<string, number>> } | null }
  | { kind: 'member'; groupId: string; memberId: string; value: MemberSubscription | null }
  /** The member's share of the target assignment of the `targetEpoch` record's epoch. */
  | { kind: 'target'; groupId: string; memberId: string; value: TopicPartitions | null }
  | { kind: 'targetEpoch'; groupId: string; value: number | null }
  | { kind: 'current'; groupId: string; memberId: string; value: MemberAssignment | null }
  | { kind: 'offset'; groupId: string; topic: string; partition: number; value: CommittedOffset | null };

/** The compaction key of a record: two records with the same key describe the same thing. */
export function recordKey(r: GroupRecord): string {
  switch (r.kind) {
    case 'group':
    case 'targetEpoch':
      return JSON.stringify([r.kind, r.groupId]);
    case 'member':
    case 'target':
    case 'current':
      return JSON.stringify([r.kind, r.groupId, r.memberId]);
    case 'offset':
      return JSON.stringify([r.kind, r.groupId, r.topic, r.partition]);
  }
}

export interface Member {
  readonly memberId: string;
  subscription: MemberSubscription;
  assignment: MemberAssignment;
}

/** Until a member's own record is replayed (see `current` in replay). */
const UNKNOWN_SUBSCRIPTION: MemberSubscription = Object.freeze({ instanceId: null, clientId: '', clientHost: '', topics: [], rebalanceTimeoutMs: 0, serverAssignor: null });

export const INITIAL_ASSIGNMENT: MemberAssignment = Object.freeze({ memberEpoch: 0, previousMemberEpoch: -1, state: 'stable', assigned: NO_PARTITIONS, pendingRevocation: NO_PARTITIONS });

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;
export const offsetKey = tpKey;

/** One consumer group (KIP-848's "consumer" type), as rebuilt from its records. */
export class ConsumerGroup {
  epoch = 0;
  /** Partition counts of the subscribed topics at `epoch`. */
  topics: Readonly<Record<string, number>> = {};
  /** Whether a `group` record exists (a group of committed offsets only has none until its first member). */
  hasMetadata = false;
  assignmentEpoch = 0;
  readonly members = new Map<string, Member>();
  readonly target = new Map<string, TopicPartitions>();
  readonly offsets = new Map<string, { topic: string; partition: number } & CommittedOffset>();
  /** Derived: which member owns each partition (assigned or pending revocation). At most one, always. */
  private readonly owners = new Map<string, string>();

  constructor(readonly groupId: string) {}

  ownerOf(topic: string, partition: number): string | undefined {
    return this.owners.get(tpKey(topic, partition));
  }

  get isEmpty(): boolean {
    return this.members.size === 0;
  }

  memberByInstanceId(instanceId: string): Member | undefined {
    for (const m of this.members.values()) if (m.subscription.instanceId === instanceId) return m;
    return undefined;
  }

  /** Applies one record. Two owners for a partition is a bug in whoever wrote the records: it throws. */
  replay(r: GroupRecord): void {
    switch (r.kind) {
      case 'group':
        if (r.value === null) {
          invariant(this.members.size === 0, 'group tombstone while it has members', { groupId: this.groupId });
          this.hasMetadata = false;
          this.epoch = 0;
          this.topics = {};
        } else {
          this.hasMetadata = true;
          this.epoch = r.value.epoch;
          this.topics = r.value.topics;
        }
        return;
      case 'targetEpoch':
        this.assignmentEpoch = r.value ?? 0;
        return;
      case 'member': {
        if (r.value === null) {
          const m = this.members.get(r.memberId);
          if (m) this.setOwnership(r.memberId, m.assignment, INITIAL_ASSIGNMENT);
          this.members.delete(r.memberId);
          return;
        }
        const m = this.members.get(r.memberId);
        if (m) m.subscription = r.value;
        else this.members.set(r.memberId, { memberId: r.memberId, subscription: r.value, assignment: INITIAL_ASSIGNMENT });
        return;
      }
      case 'target':
        if (r.value === null) this.target.delete(r.memberId);
        else this.target.set(r.memberId, r.value);
        return;
      case 'current': {
        let m = this.members.get(r.memberId);
        if (r.value === null) {
          if (m) {
            this.setOwnership(r.memberId, m.assignment, INITIAL_ASSIGNMENT);
            m.assignment = INITIAL_ASSIGNMENT;
          }
          return;
        }
        // A compacted log keeps each key's last record only, so this may come before the member's own record.
        if (!m) {
          m = { memberId: r.memberId, subscription: UNKNOWN_SUBSCRIPTION, assignment: INITIAL_ASSIGNMENT };
          this.members.set(r.memberId, m);
        }
        this.setOwnership(r.memberId, m.assignment, r.value);
        m.assignment = r.value;
        return;
      }
      case 'offset': {
        const k = tpKey(r.topic, r.partition);
        if (r.value === null) this.offsets.delete(k);
        else this.offsets.set(k, { topic: r.topic, partition: r.partition, ...r.value });
        return;
      }
    }
  }

  private setOwnership(memberId: string, before: MemberAssignment, after: MemberAssignment): void {
    for (const tp of [before.assigned, before.pendingRevocation]) for (const [t, p] of pairsOf(tp)) this.owners.delete(tpKey(t, p));
    for (const tp of [after.assigned, after.pendingRevocation]) {
      for (const [t, p] of pairsOf(tp)) {
        const k = tpKey(t, p);
        const other = this.owners.get(k);
        invariant(other === undefined, 'a partition would have two owners', { groupId: this.groupId, partition: `${t}-${p}`, owner: other, newOwner: memberId });
        this.owners.set(k, memberId);
      }
    }
  }
}

/** Every group of one `__consumer_offsets` partition. */
export class GroupsState {
  readonly groups = new Map<string, ConsumerGroup>();

  replay(r: GroupRecord): void {
    let g = this.groups.get(r.groupId);
    if (!g) {
      g = new ConsumerGroup(r.groupId);
      this.groups.set(r.groupId, g);
    }
    g.replay(r);
    if (!g.hasMetadata && g.members.size === 0 && g.offsets.size === 0 && g.target.size === 0) this.groups.delete(r.groupId);
  }
}
