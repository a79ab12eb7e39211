import { CairnError, CONSUMER_OFFSETS_TOPIC, ErrorCode, type Random, TRANSACTION_STATE_TOPIC, validateTopicConfigs } from '../common';
import { type ConfigRecord, type MetadataImage, type MetadataRecord, NO_LEADER } from '../metadata';
import type { CreatableTopic, CreateTopicResult } from '../protocol';
import { assignReplicas } from './placement';
import { collidingName, DEFAULT_MAX_PARTITIONS, MAX_PARTITIONS_PER_TOPIC, MAX_REPLICATION_FACTOR, USE_DEFAULT, validateTopicName } from './topic-validation';

export interface TopicDefaults {
  /** num.partitions */
  numPartitions: number;
  /** default.replication.factor; -1 means min(3, the brokers the cluster is known to have). */
  replicationFactor: number;
  /**
   * Brokers the cluster is known to have besides those registered: a controller in combined mode
   * knows that its fellow voters are brokers too, before they have registered.
   */
  expectedBrokers?: number;
  /** max.partitions: partitions the cluster may hold in all (DEFAULT_MAX_PARTITIONS when absent). */
  maxPartitions?: number;
}

/** A handler's output (style §12): the records to append and the response to send once they commit. */
export interface ControllerResult<T> {
  records: MetadataRecord[];
  response: T;
}

/** 128 random bits, base64url (Kafka's topic ids are UUIDs printed this way). */
export function newTopicId(random: Random): string {
  const bytes = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) bytes[i] = random.int(0, 255);
  return bytes.toString('base64url');
}

function fail(name: string, err: unknown): CreateTopicResult {
  const code = err instanceof CairnError ? err.code : ErrorCode.UNKNOWN_SERVER_ERROR;
  return { name, errorCode: code, errorMessage: (err as Error).message, topicId: '', numPartitions: -1, replicationFactor: -1 };
}

/**
 * CreateTopics: validates names, counts, configs and placement against the image, then emits a
 * Topic record, its Config records and one Partition record per partition — one atomic batch per
 * topic, so a topic never appears half-created.
 */
export function createTopics(image: MetadataImage, topics: readonly CreatableTopic[], defaults: TopicDefaults, random: Random, validateOnly = false): ControllerResult<CreateTopicResult[]> {
  const records: MetadataRecord[] = [];
  const results: CreateTopicResult[] = [];
  const names = new Set(image.topicsByName.keys());
  const seen = new Set<string>();
  const maxPartitions = defaults.maxPartitions ?? DEFAULT_MAX_PARTITIONS;
  // Partitions the cluster holds, plus those this request has created so far.
  let partitionCount = 0;
  for (const t of image.topicsByName.values()) partitionCount += t.partitions.length;
  for (const t of topics) {
    try {
      const internal = t.name === CONSUMER_OFFSETS_TOPIC || t.name === TRANSACTION_STATE_TOPIC;
      validateTopicName(t.name, internal);
      // The brokers create these when a group or a transactional producer first needs one; they must be compacted, whoever creates them.
      if (internal && t.configs?.['cleanup.policy'] !== 'compact') throw new CairnError(ErrorCode.INVALID_CONFIG, `${t.name} must have cleanup.policy=compact`);
      if (seen.has(t.name)) throw new CairnError(ErrorCode.INVALID_REQUEST, `topic "${t.name}" appears twice in the request`);
      seen.add(t.name);
      if (names.has(t.name)) throw new CairnError(ErrorCode.TOPIC_ALREADY_EXISTS, `topic "${t.name}" already exists`);
      const collision = collidingName(t.name, names);
      if (collision) throw new CairnError(ErrorCode.INVALID_TOPIC_EXCEPTION, `topic "${t.name}" collides with existing topic "${collision}" ('.' and '_' are interchangeable in metric names)`);
      const configs = { ...(t.configs ?? {}) };
      validateTopicConfigs(configs);
      const assignment = t.assignments && t.assignments.length > 0 ? explicitAssignment(t, image) : automaticAssignment(t, image, defaults, random);
      const rf = assignment[0]!.length;
      if (partitionCount + assignment.length > maxPartitions) {
        throw new CairnError(
          ErrorCode.POLICY_VIOLATION,
          `creating ${assignment.length} partition(s) would take the cluster to ${partitionCount + assignment.length}, past max.partitions ${maxPartitions}`,
        );
      }
      if (configs['min.insync.replicas'] !== undefined && Number(configs['min.insync.replicas']) > rf) {
        throw new CairnError(ErrorCode.INVALID_CONFIG, `min.insync.replicas ${configs['min.insync.replicas']} is larger than the replication factor ${rf}`);
      }
      // Design brief §6: with three replicas, acks=all needs two in sync unless told otherwise.
      if (configs['min.insync.replicas'] === undefined && rf >= 3) configs['min.insync.replicas'] = '2';
      const topicId = newTopicId(random);
      const batch: MetadataRecord[] = [{ type: 'Topic', name: t.name, topicId }];
      for (const [name, value] of Object.entries(configs)) {
        batch.push({ type: 'Config', resourceType: 'topic', resourceName: t.name, name, value } satisfies ConfigRecord);
      }
      assignment.forEach((replicas, partition) => {
        const isr = replicas.filter((id) => image.isBrokerAlive(id));
        batch.push({
          type: 'Partition',
          topicId,
          partition,
          replicas,
          isr,
          leader: isr[0] ?? NO_LEADER,
          leaderEpoch: 0,
          partitionEpoch: 0,
          addingReplicas: [],
          removingReplicas: [],
        });
      });
      if (!validateOnly) records.push(...batch);
      names.add(t.name);
      partitionCount += assignment.length;
      results.push({ name: t.name, errorCode: ErrorCode.NONE, topicId: validateOnly ? '' : topicId, numPartitions: assignment.length, replicationFactor: rf });
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      results.push(fail(t.name, err));
    }
  }
  return { records, response: results };
}

function automaticAssignment(t: CreatableTopic, image: MetadataImage, defaults: TopicDefaults, random: Random): number[][] {
  // As in Kafka, -1 asks for the broker default and any other count below 1 is refused (a -7 once
  // created a topic of num.partitions partitions).
  if (t.numPartitions !== USE_DEFAULT && !(Number.isInteger(t.numPartitions) && t.numPartitions >= 1)) {
    throw new CairnError(ErrorCode.INVALID_PARTITIONS, `partition count ${t.numPartitions} must be 1..${MAX_PARTITIONS_PER_TOPIC}, or -1 for the broker default`);
  }
  if (t.replicationFactor !== USE_DEFAULT && !(Number.isInteger(t.replicationFactor) && t.replicationFactor >= 1)) {
    throw new CairnError(ErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${t.replicationFactor} must be 1..${MAX_REPLICATION_FACTOR}, or -1 for the broker default`);
  }
  const partitions = t.numPartitions === USE_DEFAULT ? defaults.numPartitions : t.numPartitions;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS_PER_TOPIC) {
    throw new CairnError(ErrorCode.INVALID_PARTITIONS, `partition count ${partitions} must be 1..${MAX_PARTITIONS_PER_TOPIC}`);
  }
  const live = image.liveBrokers();
  // Registered brokers, fenced or not, exist; so do a combined-mode controller's fellow voters.
  const known = Math.max(image.brokers.size, defaults.expectedBrokers ?? 0, live.length);
  const rf = t.replicationFactor !== USE_DEFAULT ? t.replicationFactor : defaults.replicationFactor > 0 ? defaults.replicationFactor : Math.max(1, Math.min(3, known));
  if (!Number.isInteger(rf) || rf < 1 || rf > MAX_REPLICATION_FACTOR) {
    throw new CairnError(ErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${rf} must be 1..${MAX_REPLICATION_FACTOR}`);
  }
  if (rf > live.length) {
    // Brokers that exist but are not live yet — still registering in the first seconds after a
    // start, or restarting — make a create that may succeed later: retriable, and clients wait.
    // A factor beyond every broker the cluster has fails at once, as in Kafka.
    if (rf <= known || live.length === 0) {
      throw new CairnError(
        ErrorCode.BROKER_NOT_AVAILABLE,
        `replication factor ${rf} needs ${rf} live brokers and ${live.length} of the cluster's ${known} are live; waiting for brokers to register or return`,
      );
    }
    throw new CairnError(ErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${rf} is larger than the ${known} broker(s) of the cluster`);
  }
  return assignReplicas(live, partitions, rf, random);
}

function explicitAssignment(t: CreatableTopic, image: MetadataImage): number[][] {
  const list = [...t.assignments!].sort((a, b) => a.partition - b.partition);
  if (list.length > MAX_PARTITIONS_PER_TOPIC) throw new CairnError(ErrorCode.INVALID_PARTITIONS, `more than ${MAX_PARTITIONS_PER_TOPIC} partitions`);
  const rf = list[0]!.brokerIds.length;
  return list.map((a, i) => {
    if (a.partition !== i) throw new CairnError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `assignments must cover partitions 0..${list.length - 1} exactly once`);
    if (a.brokerIds.length !== rf || rf === 0) throw new CairnError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, 'every partition needs the same, non-zero number of replicas');
    if (new Set(a.brokerIds).size !== a.brokerIds.length) throw new CairnError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `partition ${i} lists a broker twice`);
    for (const id of a.brokerIds) {
      if (!image.brokers.has(id)) throw new CairnError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `broker ${id} is not registered`);
    }
    return [...a.brokerIds];
  });
}

export function deleteTopics(image: MetadataImage, names: readonly string[]): ControllerResult<{ name: string; errorCode: ErrorCode; errorMessage?: string }[]> {
  const records: MetadataRecord[] = [];
  const response = names.map((name) => {
    const t = image.topicsByName.get(name);
    if (!t) return { name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `topic "${name}" does not exist` };
    if (!records.some((r) => r.type === 'RemoveTopic' && r.topicId === t.id)) records.push({ type: 'RemoveTopic', topicId: t.id });
    return { name, errorCode: ErrorCode.NONE };
  });
  return { records, response };
}

export function alterTopicConfigs(
  image: MetadataImage,
  topic: string,
  set: Record<string, string>,
  remove: readonly string[],
  validateOnly = false,
): ControllerResult<{ errorCode: ErrorCode; errorMessage?: string }> {
  const t = image.topicsByName.get(topic);
  if (!t) return { records: [], response: { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `topic "${topic}" does not exist` } };
  try {
    validateTopicConfigs(set);
    validateTopicConfigs(Object.fromEntries(remove.map((k) => [k, image.topicConfigs(topic).get(k) ?? '1'])));
    const rf = t.partitions[0]?.replicas.length ?? 1;
    if (set['min.insync.replicas'] !== undefined && Number(set['min.insync.replicas']) > rf) {
      throw new CairnError(ErrorCode.INVALID_CONFIG, `min.insync.replicas ${set['min.insync.replicas']} is larger than the replication factor ${rf}`);
    }
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    return { records: [], response: { errorCode: err.code, errorMessage: err.message } };
  }
  if (validateOnly) return { records: [], response: { errorCode: ErrorCode.NONE } };
  const records: MetadataRecord[] = [
    ...Object.entries(set).map(([name, value]) => ({ type: 'Config' as const, resourceType: 'topic' as const, resourceName: topic, name, value })),
    ...remove.map((name) => ({ type: 'Config' as const, resourceType: 'topic' as const, resourceName: topic, name, value: null })),
  ];
  return { records, response: { errorCode: ErrorCode.NONE } };
}
