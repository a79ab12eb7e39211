import { CairnError, ErrorCode } from '../common';

export const MAX_TOPIC_NAME_LENGTH = 249;
/** Bound on partitions per topic (style §3): a typo of 100000 should fail, not stall the cluster. */
export const MAX_PARTITIONS_PER_TOPIC = 10_000;
export const MAX_REPLICATION_FACTOR = 16;
/**
 * Default of `max.partitions`: partitions the whole cluster may hold (KIP-578 proposed this name).
 * Each partition is a directory, open files and a replica fetch on every replica's broker; a
 * cluster past this was never tested and a create that would go past it is refused.
 */
export const DEFAULT_MAX_PARTITIONS = 10_000;
/** What a CreateTopics count of -1 means (Kafka): the broker default. */
export const USE_DEFAULT = -1;
const LEGAL = /^[a-zA-Z0-9._-]+$/;

/** Kafka's topic-name rules: 1-249 of [a-zA-Z0-9._-], not "." or "..". Names starting "__" are internal. */
export function validateTopicName(name: string, allowInternal = false): void {
  if (typeof name !== 'string' || name.length === 0) throw new CairnError(ErrorCode.INVALID_TOPIC_EXCEPTION, 'topic name is empty');
  if (name.length > MAX_TOPIC_NAME_LENGTH) throw new CairnError(ErrorCode.INVALID_TOPIC_EXCEPTION, `topic name is ${name.length} characters; the limit is ${MAX_TOPIC_NAME_LENGTH}`);
  if (name === '.' || name === '..') throw new CairnError(ErrorCode.INVALID_TOPIC_EXCEPTION, `"${name}" is not a valid topic name`);
  if (!LEGAL.test(name)) throw new CairnError(ErrorCode.INVALID_TOPIC_EXCEPTION, `topic name "${name}" has characters outside [a-zA-Z0-9._-]`);
  if (!allowInternal && name.startsWith('__')) throw new CairnError(ErrorCode.INVALID_TOPIC_EXCEPTION, `topic names starting with "__" are reserved for internal topics`);
}

/** Kafka forbids topics whose names differ only by '.' versus '_' (they collide in metric names). */
export function collidingName(name: string, existing: Iterable<string>): string | null {
  const norm = name.replace(/\./g, '_');
  for (const e of existing) if (e !== name && e.replace(/\./g, '_') === norm) return e;
  return null;
}
