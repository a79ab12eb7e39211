import { createHash } from 'node:crypto';
import { invariant, type LeaderEpoch, leaderEpoch, type PartitionEpoch, partitionEpoch } from '../common';
import type { AccessControlEntryRecord, MetadataRecord, QuorumMembershipRecord, QuotaKey, ScramMechanism, UserScramCredentialRecord } from './records';

/** A quota entity's parts: absent, a name, or null for the default. */
export interface QuotaEntity {
  user?: string | null;
  clientId?: string | null;
}

/** The canonical text of a quota entity, its key in the image: `user=alice,client-id=<default>`. */
export function quotaEntityKey(e: QuotaEntity): string {
  const parts: string[] = [];
  if (e.user !== undefined) parts.push(`user=${e.user ?? '<default>'}`);
  if (e.clientId !== undefined) parts.push(`client-id=${e.clientId ?? '<default>'}`);
  return parts.join(',');
}

export interface BrokerRegistration {
  readonly id: number;
  readonly epoch: number;
  readonly incarnationId: string;
  readonly host: string;
  readonly port: number;
  /** Its internal listener (replication), when apart from the client one. */
  readonly internalHost?: string;
  readonly internalPort?: number;
  /** Its Prometheus endpoint, when it serves one. */
  readonly metricsHost?: string;
  readonly metricsPort?: number;
  readonly rack: string | null;
  readonly fenced: boolean;
  readonly inControlledShutdown: boolean;
  /** Metadata offset of this registration: the broker has caught up once it has replayed this far. */
  readonly registeredAtOffset: number;
}

/** Where other nodes reach a broker: its internal listener if it registered one, else its only one. */
export function internalEndpoint(b: BrokerRegistration): { host: string; port: number } {
  return b.internalHost !== undefined && b.internalPort !== undefined ? { host: b.internalHost, port: b.internalPort } : { host: b.host, port: b.port };
}

export interface PartitionRegistration {
  readonly topicId: string;
  readonly topic: string;
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leader: number;
  readonly leaderEpoch: LeaderEpoch;
  readonly partitionEpoch: PartitionEpoch;
  readonly addingReplicas: readonly number[];
  readonly removingReplicas: readonly number[];
  /**
   * Eligible leader replicas (Kafka KIP-966): members that left the ISR while it was below
   * min.insync.replicas — nothing could commit after they left, so each holds every committed
   * record and may lead if no ISR member can.
   */
  readonly elr: readonly number[];
}

export interface TopicImage {
  readonly name: string;
  readonly id: string;
  readonly partitions: readonly PartitionRegistration[];
}

export const NO_LEADER = -1;

/**
 * The cluster as of one offset of the metadata log: immutable, built by replaying records
 * (design brief §5). Every request a broker answers is answered from one image; a new batch of
 * records yields a new image that shares everything it did not change.
 */
export class MetadataImage {
  constructor(
    /** Index of the last metadata-log entry replayed into this image (0: none). */
    readonly offset: number,
    readonly clusterId: string | null,
    readonly brokers: ReadonlyMap<number, BrokerRegistration>,
    readonly topicsByName: ReadonlyMap<string, TopicImage>,
    readonly topicsById: ReadonlyMap<string, TopicImage>,
    /** `type:name` → config overrides. */
    readonly configs: ReadonlyMap<string, ReadonlyMap<string, string>>,
    readonly nextProducerId: number,
    readonly maxBrokerEpoch: number,
    /** ACLs by id. */
    readonly acls: ReadonlyMap<string, AccessControlEntryRecord> = new Map(),
    /** SCRAM credentials by `name` then mechanism. */
    readonly scramCredentials: ReadonlyMap<string, ReadonlyMap<ScramMechanism, UserScramCredentialRecord>> = new Map(),
    /** Client quotas by quotaEntityKey. */
    readonly quotas: ReadonlyMap<string, { entity: QuotaEntity; values: ReadonlyMap<QuotaKey, number> }> = new Map(),
    /** The controller quorum's membership once it changed at run time (KIP-853); null while controller.quorum.voters holds. */
    readonly quorum: QuorumMembershipRecord | null = null,
  ) {}

  static readonly EMPTY = new MetadataImage(0, null, new Map(), new Map(), new Map(), new Map(), 0, 0);

  topicConfigs(topic: string): ReadonlyMap<string, string> {
    return this.configs.get(`topic:${topic}`) ?? new Map();
  }

  partition(topic: string, partition: number): PartitionRegistration | undefined {
    return this.topicsByName.get(topic)?.partitions[partition];
  }

  /** The partition a `topicId:partition` key names (partitionKey: ImageChanges.partitions, a broker's offline list). */
  partitionByKey(key: string): PartitionRegistration | undefined {
    const i = key.lastIndexOf(':');
    return this.topicsById.get(key.slice(0, i))?.partitions[Number(key.slice(i + 1))];
  }

  /** Brokers that are registered, unfenced and not shutting down: candidates for new replicas and leaders. */
  liveBrokers(): BrokerRegistration[] {
    return [...this.brokers.values()].filter((b) => !b.fenced && !b.inControlledShutdown).sort((a, b) => a.id - b.id);
  }

  isBrokerAlive(id: number): boolean {
    const b = this.brokers.get(id);
    return b !== undefined && !b.fenced;
  }

  /** Every partition hosted (as any replica) by `brokerId`. */
  partitionsOf(brokerId: number): PartitionRegistration[] {
    const out: PartitionRegistration[] = [];
    for (const t of this.topicsByName.values()) for (const p of t.partitions) if (p.replicas.includes(brokerId)) out.push(p);
    return out;
  }

  /** A digest of the whole image, independent of map order: equal images, equal digests. */
  digest(): string {
    const lines = this.toRecords().map((r) =>
      JSON.stringify(r, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v)),
    );
    lines.sort();
    return createHash('sha256').update(lines.join('\n')).digest('hex');
  }

  /** The records that rebuild this image from empty: the payload of a metadata snapshot. */
  toRecords(): MetadataRecord[] {
    const out: MetadataRecord[] = [];
    if (this.clusterId !== null) out.push({ type: 'ClusterId', clusterId: this.clusterId });
    if (this.quorum !== null) out.push({ ...this.quorum });
    for (const b of this.brokers.values()) {
      const internal = b.internalHost !== undefined ? { internalHost: b.internalHost, internalPort: b.internalPort } : {};
      const metrics = b.metricsHost !== undefined ? { metricsHost: b.metricsHost, metricsPort: b.metricsPort } : {};
      out.push({ type: 'RegisterBroker', brokerId: b.id, brokerEpoch: b.epoch, incarnationId: b.incarnationId, host: b.host, port: b.port, ...internal, ...metrics, rack: b.rack, fenced: b.fenced });
      if (b.inControlledShutdown) out.push({ type: 'BrokerRegistrationChange', brokerId: b.id, brokerEpoch: b.epoch, inControlledShutdown: true });
    }
    for (const t of this.topicsByName.values()) {
      out.push({ type: 'Topic', name: t.name, topicId: t.id });
      for (const p of t.partitions) {
        out.push({
          type: 'Partition',
          topicId: t.id,
          partition: p.partition,
          replicas: [...p.replicas],
          isr: [...p.isr],
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
          addingReplicas: [...p.addingReplicas],
          removingReplicas: [...p.removingReplicas],
          ...(p.elr.length > 0 ? { elr: [...p.elr] } : {}),
        });
      }
    }
    for (const [key, entries] of this.configs) {
      const i = key.indexOf(':');
      for (const [name, value] of entries) {
        out.push({ type: 'Config', resourceType: key.slice(0, i) as 'topic', resourceName: key.slice(i + 1), name, value });
      }
    }
    for (const acl of this.acls.values()) out.push({ ...acl });
    for (const byMechanism of this.scramCredentials.values()) for (const c of byMechanism.values()) out.push({ ...c });
    for (const { entity, values } of this.quotas.values()) for (const [key, value] of values) out.push({ type: 'ClientQuota', ...entity, key, value });
    // Producer ids and broker epochs are carried by a synthetic record so counters never go back.
    out.push({ type: 'ProducerIds', brokerId: -1, brokerEpoch: this.maxBrokerEpoch, nextProducerId: this.nextProducerId });
    return out;
  }
}

/** What a replay changed, so brokers can react to their partitions only. */
/** A partition's key by topic id, which survives a topic being deleted and re-created under its name. */
export function partitionKey(topicId: string, partition: number): string {
  return `${topicId}:${partition}`;
}

export interface ImageChanges {
  /** `topicId:partition` of every partition created or changed. */
  readonly partitions: ReadonlySet<string>;
  readonly removedTopics: readonly TopicImage[];
  readonly brokers: ReadonlySet<number>;
}

/**
 * Applies records to an image, producing a new one. Copies each map on its first change only,
 * and each topic's partition list on its first partition change.
 */
export class ImageBuilder {
  private offset: number;
  private clusterId: string | null;
  private brokers: Map<number, BrokerRegistration> | null = null;
  private byName: Map<string, TopicImage> | null = null;
  private byId: Map<string, TopicImage> | null = null;
  private configs: Map<string, ReadonlyMap<string, string>> | null = null;
  private nextProducerId: number;
  private maxBrokerEpoch: number;
  private acls: Map<string, AccessControlEntryRecord> | null = null;
  private scram: Map<string, ReadonlyMap<ScramMechanism, UserScramCredentialRecord>> | null = null;
  private quotas: Map<string, { entity: QuotaEntity; values: ReadonlyMap<QuotaKey, number> }> | null = null;
  private quorum: QuorumMembershipRecord | null;
  private readonly copiedTopics = new Set<string>();
  private readonly changedPartitions = new Set<string>();
  private readonly removedTopics: TopicImage[] = [];
  private readonly changedBrokers = new Set<number>();
  private readonly newRegistrations = new Set<number>();

  constructor(private readonly base: MetadataImage) {
    this.offset = base.offset;
    this.clusterId = base.clusterId;
    this.nextProducerId = base.nextProducerId;
    this.maxBrokerEpoch = base.maxBrokerEpoch;
    this.quorum = base.quorum;
  }

  private mBrokers() {
    return (this.brokers ??= new Map(this.base.brokers));
  }
  private mByName() {
    return (this.byName ??= new Map(this.base.topicsByName));
  }
  private mById() {
    return (this.byId ??= new Map(this.base.topicsById));
  }
  private mConfigs() {
    return (this.configs ??= new Map(this.base.configs));
  }
  private mAcls() {
    return (this.acls ??= new Map(this.base.acls));
  }
  private mScram() {
    return (this.scram ??= new Map(this.base.scramCredentials));
  }
  private mQuotas() {
    return (this.quotas ??= new Map(this.base.quotas));
  }
  private topics() {
    return this.byId ?? this.base.topicsById;
  }

  /** The topic with a private, mutable partition list. */
  private mutableTopic(topicId: string): { name: string; id: string; partitions: PartitionRegistration[] } | undefined {
    const t = this.topics().get(topicId);
    if (!t) return undefined;
    if (this.copiedTopics.has(topicId)) return t as { name: string; id: string; partitions: PartitionRegistration[] };
    const copy = { name: t.name, id: t.id, partitions: [...t.partitions] };
    this.mById().set(topicId, copy);
    this.mByName().set(t.name, copy);
    this.copiedTopics.add(topicId);
    return copy;
  }

  replay(record: MetadataRecord): void {
    switch (record.type) {
      case 'ClusterId':
        this.clusterId ??= record.clusterId;
        return;
      case 'RegisterBroker':
        this.mBrokers().set(record.brokerId, {
          id: record.brokerId,
          epoch: record.brokerEpoch,
          incarnationId: record.incarnationId,
          host: record.host,
          port: record.port,
          ...(record.internalHost !== undefined ? { internalHost: record.internalHost, internalPort: record.internalPort } : {}),
          ...(record.metricsHost !== undefined ? { metricsHost: record.metricsHost, metricsPort: record.metricsPort } : {}),
          rack: record.rack,
          fenced: record.fenced,
          inControlledShutdown: false,
          registeredAtOffset: -1,
        });
        this.newRegistrations.add(record.brokerId);
        this.maxBrokerEpoch = Math.max(this.maxBrokerEpoch, record.brokerEpoch);
        this.changedBrokers.add(record.brokerId);
        return;
      case 'UnregisterBroker': {
        const b = this.mBrokers().get(record.brokerId);
        if (b && b.epoch === record.brokerEpoch) this.mBrokers().delete(record.brokerId);
        this.changedBrokers.add(record.brokerId);
        return;
      }
      case 'BrokerRegistrationChange': {
        const b = this.mBrokers().get(record.brokerId);
        if (!b || b.epoch !== record.brokerEpoch) return;
        this.mBrokers().set(record.brokerId, {
          ...b,
          fenced: record.fenced ?? b.fenced,
          inControlledShutdown: record.inControlledShutdown ?? (record.fenced === false ? false : b.inControlledShutdown),
        });
        this.changedBrokers.add(record.brokerId);
        return;
      }
      case 'Topic': {
        const t: TopicImage = { name: record.name, id: record.topicId, partitions: [] };
        this.mById().set(record.topicId, t);
        this.mByName().set(record.name, t);
        this.copiedTopics.add(record.topicId);
        return;
      }
      case 'Partition': {
        const t = this.mutableTopic(record.topicId);
        invariant(t !== undefined, 'partition record for an unknown topic', { topicId: record.topicId });
        t.partitions[record.partition] = {
          topicId: record.topicId,
          topic: t.name,
          partition: record.partition,
          replicas: record.replicas,
          isr: record.isr,
          leader: record.leader,
          leaderEpoch: leaderEpoch(record.leaderEpoch),
          partitionEpoch: partitionEpoch(record.partitionEpoch),
          addingReplicas: record.addingReplicas,
          removingReplicas: record.removingReplicas,
          elr: record.elr ?? [],
        };
        this.changedPartitions.add(partitionKey(record.topicId, record.partition));
        return;
      }
      case 'PartitionChange': {
        const t = this.mutableTopic(record.topicId);
        const p = t?.partitions[record.partition];
        if (!t || !p) return; // the topic was removed in the same batch or before
        const leaderChanged = record.leader !== undefined && record.leader !== p.leader;
        t.partitions[record.partition] = {
          ...p,
          leader: record.leader ?? p.leader,
          isr: record.isr ?? p.isr,
          replicas: record.replicas ?? p.replicas,
          addingReplicas: record.addingReplicas ?? p.addingReplicas,
          removingReplicas: record.removingReplicas ?? p.removingReplicas,
          elr: record.elr ?? p.elr,
          leaderEpoch: leaderChanged ? leaderEpoch(p.leaderEpoch + 1) : p.leaderEpoch,
          partitionEpoch: partitionEpoch(p.partitionEpoch + 1),
        };
        this.changedPartitions.add(partitionKey(record.topicId, record.partition));
        return;
      }
      case 'RemoveTopic': {
        const t = this.topics().get(record.topicId);
        if (!t) return;
        this.mById().delete(record.topicId);
        this.mByName().delete(t.name);
        this.mConfigs().delete(`topic:${t.name}`);
        this.removedTopics.push(t);
        return;
      }
      case 'Config': {
        const key = `${record.resourceType}:${record.resourceName}`;
        const entries = new Map(this.mConfigs().get(key) ?? []);
        if (record.value === null) entries.delete(record.name);
        else entries.set(record.name, record.value);
        if (entries.size === 0) this.mConfigs().delete(key);
        else this.mConfigs().set(key, entries);
        return;
      }
      case 'ProducerIds':
        this.nextProducerId = Math.max(this.nextProducerId, record.nextProducerId);
        this.maxBrokerEpoch = Math.max(this.maxBrokerEpoch, record.brokerEpoch);
        return;
      case 'AccessControlEntry':
        this.mAcls().set(record.id, { ...record });
        return;
      case 'RemoveAccessControlEntry':
        this.mAcls().delete(record.id);
        return;
      case 'UserScramCredential': {
        const byMechanism = new Map(this.mScram().get(record.name) ?? []);
        byMechanism.set(record.mechanism, { ...record });
        this.mScram().set(record.name, byMechanism);
        return;
      }
      case 'QuorumMembership':
        this.quorum = { type: 'QuorumMembership', voters: record.voters.map((v) => ({ ...v })), learners: record.learners.map((l) => ({ ...l })) };
        return;
      case 'ClientQuota': {
        const entity: QuotaEntity = {};
        if (record.user !== undefined) entity.user = record.user;
        if (record.clientId !== undefined) entity.clientId = record.clientId;
        const key = quotaEntityKey(entity);
        const values = new Map(this.mQuotas().get(key)?.values ?? []);
        if (record.value === null) values.delete(record.key);
        else values.set(record.key, record.value);
        if (values.size === 0) this.mQuotas().delete(key);
        else this.mQuotas().set(key, { entity, values });
        return;
      }
      case 'RemoveUserScramCredential': {
        const byMechanism = new Map(this.mScram().get(record.name) ?? []);
        byMechanism.delete(record.mechanism);
        if (byMechanism.size === 0) this.mScram().delete(record.name);
        else this.mScram().set(record.name, byMechanism);
        return;
      }
    }
  }

  setOffset(offset: number): void {
    invariant(offset >= this.offset, 'metadata offset went backwards', { from: this.offset, to: offset });
    this.offset = offset;
  }

  build(): { image: MetadataImage; changes: ImageChanges } {
    // Registrations in this batch took effect at the batch's offset.
    for (const id of this.newRegistrations) {
      const b = this.brokers?.get(id);
      if (b && b.registeredAtOffset < 0) this.brokers!.set(id, { ...b, registeredAtOffset: this.offset });
    }
    const image = new MetadataImage(
      this.offset,
      this.clusterId,
      this.brokers ?? this.base.brokers,
      this.byName ?? this.base.topicsByName,
      this.byId ?? this.base.topicsById,
      this.configs ?? this.base.configs,
      this.nextProducerId,
      this.maxBrokerEpoch,
      this.acls ?? this.base.acls,
      this.scram ?? this.base.scramCredentials,
      this.quotas ?? this.base.quotas,
      this.quorum,
    );
    return { image, changes: { partitions: this.changedPartitions, removedTopics: this.removedTopics, brokers: this.changedBrokers } };
  }
}

/** Replays one batch of records at `offset` onto `image`. */
export function replay(image: MetadataImage, records: readonly MetadataRecord[], offset: number): { image: MetadataImage; changes: ImageChanges } {
  const b = new ImageBuilder(image);
  for (const r of records) b.replay(r);
  b.setOffset(offset);
  return b.build();
}
