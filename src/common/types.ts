/**
 * Branded identifiers (style §13): a NodeId cannot be passed where a Term is expected.
 *
 * Offsets are plain `number`s on purpose: they are on every hot path and take part in a lot of
 * arithmetic, and a JavaScript number holds every integer up to 2^53 exactly (285 years at a
 * million records a second). The wire and disk formats keep 64-bit fields; `assertOffset` guards
 * the boundary. See docs/design-decisions.md.
 */
export type NodeId = number & { readonly __brand: 'NodeId' };
export type Term = number & { readonly __brand: 'Term' };
export type LeaderEpoch = number & { readonly __brand: 'LeaderEpoch' };
export type PartitionEpoch = number & { readonly __brand: 'PartitionEpoch' };
export type BrokerEpoch = number & { readonly __brand: 'BrokerEpoch' };

export const nodeId = (n: number) => n as NodeId;
export const term = (n: number) => n as Term;
export const leaderEpoch = (n: number) => n as LeaderEpoch;
export const partitionEpoch = (n: number) => n as PartitionEpoch;
export const brokerEpoch = (n: number) => n as BrokerEpoch;

export const NO_NODE = -1 as NodeId;

/** "No epoch": a leader epoch never held, in requests and answers (Kafka's UNDEFINED_EPOCH). */
export const UNDEFINED_EPOCH = -1;

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export function tpKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export function isSafeOffset(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** The internal topic of consumer groups' records and committed offsets (compacted; created by the brokers). */
export const CONSUMER_OFFSETS_TOPIC = '__consumer_offsets';

/** The internal topic of the transaction coordinators' state (compacted; created by the brokers). */
export const TRANSACTION_STATE_TOPIC = '__transaction_state';

/** Member epochs with a meaning of their own in a consumer group heartbeat (KIP-848). */
export const JOIN_GROUP_MEMBER_EPOCH = 0;
export const LEAVE_GROUP_MEMBER_EPOCH = -1;
/** A static member leaving for a while: its partitions wait for its return, until its session ends. */
export const LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2;
