import { describe, expect, it } from 'vitest';
import { ErrorCode, isRetriable } from '../../../src/common/errors';
import { SeededRandom } from '../../../src/common/random';
import { createTopics, deleteTopics } from '../../../src/controller/topic-ops';
import { MetadataImage, replay } from '../../../src/metadata/image';
import { apply, withBrokers } from './helpers';

const defaults = { numPartitions: 1, replicationFactor: -1 };

describe('topic creation', () => {
  it('spreads leaders and replicas evenly and defaults to three replicas with min.insync.replicas 2', () => {
    const img = withBrokers(3);
    const r = createTopics(img, [{ name: 'orders', numPartitions: 6, replicationFactor: -1 }], defaults, new SeededRandom(1));
    expect(r.response[0]).toMatchObject({ errorCode: ErrorCode.NONE, numPartitions: 6, replicationFactor: 3 });
    const after = apply(img, r.records);
    const parts = after.topicsByName.get('orders')!.partitions;
    const leaders = parts.map((p) => p.leader);
    for (const b of [1, 2, 3]) expect(leaders.filter((l) => l === b)).toHaveLength(2);
    for (const p of parts) expect(new Set(p.replicas).size).toBe(3);
    expect(after.topicConfigs('orders').get('min.insync.replicas')).toBe('2');
  });

  it('a create waits (retriable) while brokers the cluster has are not live yet; a factor beyond every broker fails at once', () => {
    const retriable = (r: { response: { errorCode: ErrorCode }[]; records: unknown[] }) => {
      expect(r.response[0]!.errorCode).toBe(ErrorCode.BROKER_NOT_AVAILABLE);
      expect(isRetriable(r.response[0]!.errorCode)).toBe(true);
      expect(r.records).toEqual([]);
    };
    const rnd = () => new SeededRandom(1);
    // Nothing registered yet: whatever the factor, nothing can be placed until brokers come.
    retriable(createTopics(MetadataImage.EMPTY, [{ name: 'early', numPartitions: 3, replicationFactor: -1 }], defaults, rnd()));
    retriable(createTopics(MetadataImage.EMPTY, [{ name: 'early', numPartitions: 3, replicationFactor: 1 }], defaults, rnd()));
    // A combined-mode controller of three voters expects three brokers: one registered is not enough yet.
    const combined = { ...defaults, expectedBrokers: 3 };
    const one = withBrokers(1);
    retriable(createTopics(one, [{ name: 'early', numPartitions: 3, replicationFactor: -1 }], combined, rnd()));
    retriable(createTopics(one, [{ name: 'early', numPartitions: 3, replicationFactor: 3 }], combined, rnd()));
    const beyond = createTopics(one, [{ name: 'early', numPartitions: 3, replicationFactor: 4 }], combined, rnd());
    expect(beyond.response[0]).toMatchObject({ errorCode: ErrorCode.INVALID_REPLICATION_FACTOR });
    expect(isRetriable(beyond.response[0]!.errorCode)).toBe(false);
    // Without expected brokers, a factor above every registered broker fails at once (Kafka).
    expect(createTopics(one, [{ name: 'early', numPartitions: 3, replicationFactor: 3 }], defaults, rnd()).response[0]).toMatchObject({ errorCode: ErrorCode.INVALID_REPLICATION_FACTOR });
    // A registered broker that is fenced (restarting) is waited for.
    const fenced = apply(withBrokers(3), [{ type: 'BrokerRegistrationChange', brokerId: 3, brokerEpoch: 3, fenced: true, inControlledShutdown: false }]);
    retriable(createTopics(fenced, [{ name: 'early', numPartitions: 3, replicationFactor: 3 }], defaults, rnd()));
    // The default is three copies once three brokers are known, and it is kept when they are live.
    const ready = createTopics(withBrokers(3), [{ name: 'early', numPartitions: 3, replicationFactor: -1 }], combined, rnd());
    expect(ready.response[0]).toMatchObject({ errorCode: ErrorCode.NONE, replicationFactor: 3 });
  });

  it('places replicas of each partition in distinct racks when it can', () => {
    const img = withBrokers(6, ['a', 'a', 'b', 'b', 'c', 'c']);
    const r = createTopics(img, [{ name: 'racked', numPartitions: 12, replicationFactor: 3 }], defaults, new SeededRandom(7));
    const after = apply(img, r.records);
    const rackOf = (id: number) => after.brokers.get(id)!.rack;
    for (const p of after.topicsByName.get('racked')!.partitions) expect(new Set(p.replicas.map(rackOf)).size).toBe(3);
  });

  it('refuses what cannot be done, with the code that says why, and creates nothing for it', () => {
    const img = withBrokers(2);
    const r = createTopics(
      img,
      [
        { name: 'too-many', numPartitions: 1, replicationFactor: 3 },
        { name: 'bad/name', numPartitions: 1, replicationFactor: 1 },
        { name: 'a.b', numPartitions: 1, replicationFactor: 1 },
        { name: 'a_b', numPartitions: 1, replicationFactor: 1 },
        { name: 'dup', numPartitions: 1, replicationFactor: 1 },
        { name: 'dup', numPartitions: 1, replicationFactor: 1 },
        { name: 'isr', numPartitions: 1, replicationFactor: 1, configs: { 'min.insync.replicas': '2' } },
      ],
      defaults,
      new SeededRandom(1),
    );
    expect(r.response.map((x) => x.errorCode)).toEqual([
      ErrorCode.INVALID_REPLICATION_FACTOR,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.NONE,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.NONE,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.INVALID_CONFIG,
    ]);
    expect([...apply(img, r.records).topicsByName.keys()].sort()).toEqual(['a.b', 'dup']);
  });

  it('takes -1 as the broker default and refuses 0 and other negative counts (Kafka), creating nothing for them', () => {
    const img = withBrokers(3);
    const r = createTopics(
      img,
      [
        { name: 'neg-partitions', numPartitions: -7, replicationFactor: 1 },
        { name: 'zero-partitions', numPartitions: 0, replicationFactor: 1 },
        { name: 'neg-rf', numPartitions: 1, replicationFactor: -7 },
        { name: 'zero-rf', numPartitions: 1, replicationFactor: 0 },
        { name: 'fractional', numPartitions: 1.5, replicationFactor: 1 },
        { name: 'defaults', numPartitions: -1, replicationFactor: -1 },
      ],
      { numPartitions: 4, replicationFactor: 2 },
      new SeededRandom(1),
    );
    expect(r.response.map((x) => x.errorCode)).toEqual([
      ErrorCode.INVALID_PARTITIONS,
      ErrorCode.INVALID_PARTITIONS,
      ErrorCode.INVALID_REPLICATION_FACTOR,
      ErrorCode.INVALID_REPLICATION_FACTOR,
      ErrorCode.INVALID_PARTITIONS,
      ErrorCode.NONE,
    ]);
    expect(r.response[5]).toMatchObject({ numPartitions: 4, replicationFactor: 2 });
    expect([...apply(img, r.records).topicsByName.keys()]).toEqual(['defaults']);
  });

  it('refuses with POLICY_VIOLATION a create that would take the cluster past max.partitions, counting earlier topics of the same request', () => {
    let img = withBrokers(1);
    const capped = { ...defaults, maxPartitions: 10 };
    img = apply(img, createTopics(img, [{ name: 'six', numPartitions: 6, replicationFactor: 1 }], capped, new SeededRandom(1)).records);
    const r = createTopics(
      img,
      [
        { name: 'three', numPartitions: 3, replicationFactor: 1 },
        { name: 'two', numPartitions: 2, replicationFactor: 1 },
        { name: 'one', numPartitions: 1, replicationFactor: 1 },
      ],
      capped,
      new SeededRandom(2),
    );
    expect(r.response.map((x) => x.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.POLICY_VIOLATION, ErrorCode.NONE]);
    expect(r.response[1]!.errorMessage).toContain('max.partitions 10');
    img = apply(img, r.records);
    expect([...img.topicsByName.keys()].sort()).toEqual(['one', 'six', 'three']);
    // Without a configured cap the default bounds the cluster (10000 partitions).
    const big = createTopics(
      withBrokers(1),
      [
        { name: 'a', numPartitions: 10_000, replicationFactor: 1 },
        { name: 'b', numPartitions: 1, replicationFactor: 1 },
      ],
      defaults,
      new SeededRandom(3),
    );
    expect(big.response.map((x) => x.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.POLICY_VIOLATION]);
  });

  it('deletes topics by id, and a recreated topic gets a new id', () => {
    let img = withBrokers(1);
    img = apply(img, createTopics(img, [{ name: 't', numPartitions: 1, replicationFactor: 1 }], defaults, new SeededRandom(1)).records);
    const firstId = img.topicsByName.get('t')!.id;
    img = apply(img, deleteTopics(img, ['t', 'nope']).records);
    expect(img.topicsByName.has('t')).toBe(false);
    img = apply(img, createTopics(img, [{ name: 't', numPartitions: 1, replicationFactor: 1 }], defaults, new SeededRandom(2)).records);
    expect(img.topicsByName.get('t')!.id).not.toBe(firstId);
  });
});

describe('metadata image', () => {
  it('a snapshot (toRecords) rebuilds an equal image', () => {
    let img = withBrokers(3, ['x', 'y', 'z']);
    img = apply(img, createTopics(img, [{ name: 'a', numPartitions: 4, replicationFactor: 2, configs: { 'retention.ms': '1000' } }], defaults, new SeededRandom(3)).records);
    img = apply(img, [
      { type: 'BrokerRegistrationChange', brokerId: 2, brokerEpoch: 2, fenced: true },
      { type: 'ClusterId', clusterId: 'c1' },
    ]);
    const rebuilt = replay(MetadataImage.EMPTY, img.toRecords(), img.offset).image;
    expect(rebuilt.toRecords()).toEqual(img.toRecords());
    expect([...rebuilt.brokers.values()].map((b) => ({ ...b, registeredAtOffset: 0 }))).toEqual([...img.brokers.values()].map((b) => ({ ...b, registeredAtOffset: 0 })));
  });
});
