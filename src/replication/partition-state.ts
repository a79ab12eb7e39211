/**
 * A hosted partition's replication state inside the replication core: the registration as this
 * broker last applied it, the leader's bookkeeping and acks=all waiters, and the follower's place in
 * the fetch schedule. Only replica-core.ts and follower-fetcher.ts change it; everyone else reads it
 * as a `PartitionStatus`.
 */
import type { LeaderEpoch, PartitionEpoch } from '../common';
import type { LeaderState } from './leader-state';
import type { AlterPartitionItem, PartitionAssignment, ReplicaLogView } from './replica-types';

export type Role = 'leader' | 'follower';

/** A hosted partition's replication state, read-only for everyone but the core. */
export interface PartitionStatus {
  readonly tp: string;
  readonly topic: string;
  readonly partition: number;
  readonly topicId: string;
  readonly role: Role;
  /** The leader as the registration has it (-1: none). */
  readonly leaderId: number;
  readonly leaderEpoch: LeaderEpoch;
  readonly partitionEpoch: PartitionEpoch;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /** An AlterPartition is in flight (sent, outcome not yet in the metadata). */
  readonly isrChangeInFlight: boolean;
}

export interface ProduceWaiter {
  readonly id: number;
  /** Complete once the high watermark reaches this (the offset after the last one written). */
  readonly endOffset: number;
  readonly minInsync: number;
  readonly deadlineMs: number;
}

export interface IsrChange {
  readonly requestId: number;
  readonly item: AlterPartitionItem;
  readonly change: 'shrink' | 'expand';
  /** When to send it again: Infinity while an attempt is out. */
  retryAtMs: number;
}

export class PartitionState implements PartitionStatus {
  role: Role = 'follower';
  leaderId: number;
  leaderEpoch: LeaderEpoch;
  partitionEpoch: PartitionEpoch;
  replicas: readonly number[];
  isr: readonly number[];
  minInsync = 1;
  leader: LeaderState | null = null;
  isrChange: IsrChange | null = null;
  /** acks=all produces in offset order; [waiterHead, length) are live. */
  waiters: ProduceWaiter[] = [];
  waiterHead = 0;
  /** The leader whose fetch group this partition is in (-1: none). */
  fetchLeader = -1;
  /** The fetch request this partition is part of, until it is answered and its data fsynced (0: none). */
  fetchRequestId = 0;
  retryAtMs = 0;

  constructor(
    readonly tp: string,
    readonly topic: string,
    readonly partition: number,
    readonly topicId: string,
    readonly view: ReplicaLogView,
    a: PartitionAssignment,
  ) {
    this.leaderId = a.leader;
    this.leaderEpoch = a.leaderEpoch;
    this.partitionEpoch = a.partitionEpoch;
    this.replicas = a.replicas;
    this.isr = a.isr;
  }

  get isrChangeInFlight(): boolean {
    return this.isrChange !== null;
  }

  get waiting(): number {
    return this.waiters.length - this.waiterHead;
  }
}
