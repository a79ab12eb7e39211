import { ErrorCode } from '../common';
import { type MetadataImage, type MetadataRecord, NO_LEADER, type PartitionRegistration } from '../metadata';
import { electLeader, isrAfter, isUsable, partitionChange, type PartitionTarget, uncleanAllowed } from './partition-ops';
import type { ControllerResult } from './topic-ops';

export interface AlterPartitionItem {
  topicId: string;
  partition: number;
  leaderEpoch: number;
  partitionEpoch: number;
  newIsr: number[];
}

export interface AlterPartitionResult {
  topicId: string;
  partition: number;
  errorCode: ErrorCode;
  errorMessage?: string;
  isr: number[];
  leaderEpoch: number;
  partitionEpoch: number;
}

export interface AlterPartitionResponse {
  /** A refusal of the whole request (unknown or stale broker); NONE when each item carries its own code. */
  errorCode: ErrorCode;
  errorMessage?: string;
  results: AlterPartitionResult[];
}

/**
 * AlterPartition (KIP-497): a partition leader asks to shrink or expand its ISR. Accepted only
 * from the current leader, at the current leader epoch and partition epoch — a request made from
 * stale state is refused (INVALID_UPDATE_VERSION / FENCED_LEADER_EPOCH) and the leader waits for
 * newer metadata. A replica may only join the ISR while it is usable. An ISR that now holds every
 * replica being added completes that partition's reassignment.
 */
export function alterPartition(image: MetadataImage, brokerId: number, brokerEpoch: number, items: readonly AlterPartitionItem[], uncleanDefault: boolean): ControllerResult<AlterPartitionResponse> {
  const b = image.brokers.get(brokerId);
  if (!b) return { records: [], response: { errorCode: ErrorCode.BROKER_ID_NOT_REGISTERED, errorMessage: `broker ${brokerId} is not registered`, results: [] } };
  if (b.epoch !== brokerEpoch)
    return { records: [], response: { errorCode: ErrorCode.STALE_BROKER_EPOCH, errorMessage: `broker ${brokerId} epoch ${brokerEpoch} is stale (current ${b.epoch})`, results: [] } };
  const records: MetadataRecord[] = [];
  const results = items.map((item): AlterPartitionResult => {
    const t = image.topicsById.get(item.topicId);
    const p = t?.partitions[item.partition];
    const fail = (errorCode: ErrorCode, errorMessage: string): AlterPartitionResult => ({
      topicId: item.topicId,
      partition: item.partition,
      errorCode,
      errorMessage,
      isr: p ? [...p.isr] : [],
      leaderEpoch: p?.leaderEpoch ?? -1,
      partitionEpoch: p?.partitionEpoch ?? -1,
    });
    if (!p) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `unknown partition ${item.topicId}:${item.partition}`);
    if (p.leader !== brokerId) return fail(ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${brokerId} does not lead ${p.topic}-${p.partition} (leader ${p.leader})`);
    if (item.leaderEpoch !== p.leaderEpoch) return fail(ErrorCode.FENCED_LEADER_EPOCH, `leader epoch ${item.leaderEpoch} is not the current ${p.leaderEpoch}`);
    if (item.partitionEpoch !== p.partitionEpoch) return fail(ErrorCode.INVALID_UPDATE_VERSION, `partition epoch ${item.partitionEpoch} is not the current ${p.partitionEpoch}`);
    const isr = [...new Set(item.newIsr)];
    if (isr.length !== item.newIsr.length || !isr.includes(brokerId) || !isr.every((r) => p.replicas.includes(r))) {
      return fail(ErrorCode.INVALID_REQUEST, `ISR [${item.newIsr.join(',')}] must list distinct replicas of [${p.replicas.join(',')}] including the leader`);
    }
    const added = isr.filter((r) => !p.isr.includes(r));
    const unusable = added.filter((r) => !isUsable(image, r));
    if (unusable.length > 0) return fail(ErrorCode.INELIGIBLE_REPLICA, `replicas ${unusable.join(',')} are fenced or shutting down and cannot join the ISR`);
    const target = { isr, ...completeReassignment(image, p, isr, uncleanDefault) };
    const change = partitionChange(image, p, target);
    if (change) records.push(change);
    const leaderChanged = change?.leader !== undefined && change.leader !== p.leader;
    return {
      topicId: item.topicId,
      partition: item.partition,
      errorCode: ErrorCode.NONE,
      isr: [...(change?.isr ?? p.isr)],
      leaderEpoch: leaderChanged ? p.leaderEpoch + 1 : p.leaderEpoch,
      partitionEpoch: change ? p.partitionEpoch + 1 : p.partitionEpoch,
    };
  });
  return { records, response: { errorCode: ErrorCode.NONE, results } };
}

/** If every replica being added is now in sync, the target that finishes the reassignment. */
function completeReassignment(image: MetadataImage, p: PartitionRegistration, isr: readonly number[], uncleanDefault: boolean): PartitionTarget {
  if (p.addingReplicas.length === 0 || !p.addingReplicas.every((r) => isr.includes(r))) return {};
  const replicas = p.replicas.filter((r) => !p.removingReplicas.includes(r));
  let newIsr = isr.filter((r) => !p.removingReplicas.includes(r));
  let leader = p.leader;
  if (!replicas.includes(leader)) {
    const e = electLeader(image, { replicas, isr: newIsr }, newIsr, uncleanAllowed(image, p.topic, uncleanDefault));
    leader = e.leader;
    if (e.leader !== NO_LEADER) newIsr = isrAfter(e, newIsr);
  }
  return { replicas, isr: newIsr.length > 0 ? newIsr : [...isr], addingReplicas: [], removingReplicas: [], leader };
}

export interface ReassignmentRequest {
  topic: string;
  partition: number;
  /** Target replicas; empty cancels a reassignment in progress. */
  replicas: number[];
}

/**
 * Starts (or cancels) moving partitions to new replica lists (design brief §5, issue 4): new
 * replicas are added to the replica set and marked adding; they fetch until they are in sync,
 * then the leader's AlterPartition completes the move (see completeReassignment). A move that
 * adds nobody completes at once.
 */
export function alterReassignments(
  image: MetadataImage,
  requests: readonly ReassignmentRequest[],
  uncleanDefault: boolean,
): ControllerResult<{ topic: string; partition: number; errorCode: ErrorCode; errorMessage?: string }[]> {
  const records: MetadataRecord[] = [];
  const response = requests.map((r) => {
    const p = image.partition(r.topic, r.partition);
    const fail = (errorCode: ErrorCode, errorMessage: string) => ({ topic: r.topic, partition: r.partition, errorCode, errorMessage });
    if (!p) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `unknown partition ${r.topic}-${r.partition}`);
    const push = (target: PartitionTarget) => {
      const c = partitionChange(image, p, target);
      if (c) records.push(c);
    };
    if (r.replicas.length === 0) {
      if (p.addingReplicas.length === 0) return fail(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, `no reassignment of ${r.topic}-${r.partition} is in progress`);
      const replicas = p.replicas.filter((x) => !p.addingReplicas.includes(x));
      push({ replicas, isr: p.isr.filter((x) => replicas.includes(x)), addingReplicas: [], removingReplicas: [] });
      return { topic: r.topic, partition: r.partition, errorCode: ErrorCode.NONE };
    }
    if (p.addingReplicas.length > 0) return fail(ErrorCode.REASSIGNMENT_IN_PROGRESS, `${r.topic}-${r.partition} is already being reassigned`);
    if (new Set(r.replicas).size !== r.replicas.length) return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, 'the target lists a broker twice');
    const unknown = r.replicas.filter((id) => !image.brokers.has(id));
    if (unknown.length > 0) return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `brokers ${unknown.join(',')} are not registered`);
    const adding = r.replicas.filter((x) => !p.replicas.includes(x));
    const removing = p.replicas.filter((x) => !r.replicas.includes(x));
    if (adding.length === 0) {
      // Only removals or a new order: done now.
      let isr = p.isr.filter((x) => r.replicas.includes(x));
      let leader = p.leader;
      if (!r.replicas.includes(leader) || leader === NO_LEADER) {
        const e = electLeader(image, { replicas: r.replicas, isr, elr: p.elr.filter((x) => r.replicas.includes(x)) }, isr, uncleanAllowed(image, p.topic, uncleanDefault));
        leader = e.leader;
        if (e.leader !== NO_LEADER) isr = isrAfter(e, isr);
      }
      push({ replicas: r.replicas, isr: isr.length > 0 ? isr : p.isr, leader });
      return { topic: r.topic, partition: r.partition, errorCode: ErrorCode.NONE };
    }
    push({ replicas: [...r.replicas, ...removing], addingReplicas: adding, removingReplicas: removing });
    return { topic: r.topic, partition: r.partition, errorCode: ErrorCode.NONE };
  });
  return { records, response };
}
