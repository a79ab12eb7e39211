import { CONSUMER_OFFSETS_TOPIC } from '../common';
import type { CreatableTopic } from '../protocol';
import type { CommittedOffset, GroupRecord, MemberAssignment, MemberSubscription } from './group-state';
import { corrupt, int, parseJson, partitionsField, short } from './record-json';

/** The version written first in every key and value; a reader refuses versions it does not know. */
const VERSION = 1;

/**
 * A group record as a record of `__consumer_offsets`: the key is its compaction key, the value its
 * value, null for a tombstone. Both are JSON (with a version), so `kcat` or `cairn consume` can
 * read them. Nothing is trusted on the way back: `decodeGroupRecord` checks every field and throws
 * CORRUPT_MESSAGE for anything else.
 */
export function encodeGroupRecord(r: GroupRecord): { key: Buffer; value: Buffer | null } {
  const ids: (string | number)[] = r.kind === 'group' || r.kind === 'targetEpoch' ? [r.groupId] : r.kind === 'offset' ? [r.groupId, r.topic, r.partition] : [r.groupId, r.memberId];
  const key = Buffer.from(JSON.stringify([VERSION, r.kind, ...ids]));
  if (r.value === null) return { key, value: null };
  const body = r.kind === 'targetEpoch' ? { epoch: r.value } : r.kind === 'target' ? { partitions: r.value } : r.value;
  return { key, value: Buffer.from(JSON.stringify({ v: VERSION, ...body })) };
}

export function decodeGroupRecord(key: Buffer | null, value: Buffer | null): GroupRecord {
  const k = parseJson(key, 'group', 'key');
  if (!Array.isArray(k) || k[0] !== VERSION) throw corrupt(`key ${short(key)}: not a version ${VERSION} group record key`);
  const [, kind, groupId] = k as unknown[];
  const str = (x: unknown, what: string): string => {
    if (typeof x !== 'string' || x.length === 0) throw corrupt(`${what} is not a non-empty string`);
    return x;
  };
  const gid = str(groupId, 'group id');
  const v = value === null ? null : (parseJson(value, 'group', 'value') as Record<string, unknown>);
  if (v !== null && (typeof v !== 'object' || v.v !== VERSION)) throw corrupt(`value of ${short(key)}: not version ${VERSION}`);
  switch (kind) {
    case 'group':
      return { kind, groupId: gid, value: v === null ? null : { epoch: int(v.epoch, 'epoch'), topics: counts(v.topics) } };
    case 'targetEpoch':
      return { kind, groupId: gid, value: v === null ? null : int(v.epoch, 'epoch') };
    case 'member':
      return { kind, groupId: gid, memberId: str(k[3], 'member id'), value: v === null ? null : subscription(v) };
    case 'target':
      return { kind, groupId: gid, memberId: str(k[3], 'member id'), value: v === null ? null : partitionsField(v.partitions) };
    case 'current':
      return { kind, groupId: gid, memberId: str(k[3], 'member id'), value: v === null ? null : assignment(v) };
    case 'offset':
      return { kind, groupId: gid, topic: str(k[3], 'topic'), partition: int(k[4], 'partition'), value: v === null ? null : offset(v) };
    default:
      throw corrupt(`unknown group record kind ${JSON.stringify(kind)}`);
  }
}

function counts(x: unknown): Record<string, number> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw corrupt('topics is not an object');
  const out: Record<string, number> = {};
  for (const [t, n] of Object.entries(x)) out[t] = int(n, `partition count of ${t}`);
  return out;
}

function subscription(v: Record<string, unknown>): MemberSubscription {
  if (!Array.isArray(v.topics) || v.topics.some((t) => typeof t !== 'string')) throw corrupt('topics is not a list of names');
  const strOrNull = (x: unknown, what: string) => {
    if (x !== null && typeof x !== 'string') throw corrupt(`${what} is not a string or null`);
    return x;
  };
  return {
    instanceId: strOrNull(v.instanceId, 'instanceId'),
    clientId: String(v.clientId ?? ''),
    clientHost: String(v.clientHost ?? ''),
    topics: v.topics as string[],
    rebalanceTimeoutMs: int(v.rebalanceTimeoutMs, 'rebalanceTimeoutMs'),
    serverAssignor: strOrNull(v.serverAssignor, 'serverAssignor'),
  };
}

function assignment(v: Record<string, unknown>): MemberAssignment {
  if (v.state !== 'stable' && v.state !== 'unrevoked' && v.state !== 'unreleased') throw corrupt(`member state ${JSON.stringify(v.state)} is not one of stable, unrevoked, unreleased`);
  return {
    memberEpoch: int(v.memberEpoch, 'memberEpoch'),
    previousMemberEpoch: int(v.previousMemberEpoch, 'previousMemberEpoch'),
    state: v.state,
    assigned: partitionsField(v.assigned),
    pendingRevocation: partitionsField(v.pendingRevocation),
  };
}

function offset(v: Record<string, unknown>): CommittedOffset {
  if (typeof v.metadata !== 'string') throw corrupt('metadata is not a string');
  return { offset: int(v.offset, 'offset'), leaderEpoch: int(v.leaderEpoch, 'leaderEpoch'), metadata: v.metadata, commitTimestampMs: int(v.commitTimestampMs, 'commitTimestampMs') };
}

/**
 * The `__consumer_offsets` partition of a group: Java's String.hashCode of the id, made
 * non-negative as Kafka's Utils.abs does, modulo the partition count (where Kafka puts it).
 */
export function offsetsPartitionFor(groupId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(31, h) + groupId.charCodeAt(i)) | 0;
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitions;
}

/** `__consumer_offsets` as the brokers ask the controller for it: compacted, so each group's last records are kept. */
export function offsetsTopicSpec(numPartitions: number, replicationFactor: number): CreatableTopic {
  return { name: CONSUMER_OFFSETS_TOPIC, numPartitions, replicationFactor, configs: { 'cleanup.policy': 'compact' } };
}
