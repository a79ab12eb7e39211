import { MetadataImage, replay } from '../../../src/metadata/image';
import type { MetadataRecord } from '../../../src/metadata/records';

export function apply(image: MetadataImage, records: MetadataRecord[]): MetadataImage {
  return replay(image, records, image.offset + 1).image;
}

/** An image with brokers 1..n registered and unfenced (racks optional). */
export function withBrokers(n: number, racks?: string[]): MetadataImage {
  const records: MetadataRecord[] = [];
  for (let id = 1; id <= n; id++) {
    records.push({ type: 'RegisterBroker', brokerId: id, brokerEpoch: id, incarnationId: `inc-${id}`, host: '127.0.0.1', port: 9000 + id, rack: racks?.[id - 1] ?? null, fenced: false });
  }
  return apply(MetadataImage.EMPTY, records);
}

export function withPartition(image: MetadataImage, topic: string, replicas: number[], isr: number[], leader: number, config: Record<string, string> = {}): MetadataImage {
  const topicId = `${topic}-id`;
  const records: MetadataRecord[] = [];
  if (!image.topicsByName.has(topic)) records.push({ type: 'Topic', name: topic, topicId });
  for (const [name, value] of Object.entries(config)) records.push({ type: 'Config', resourceType: 'topic', resourceName: topic, name, value });
  const partition = image.topicsByName.get(topic)?.partitions.length ?? 0;
  records.push({
    type: 'Partition',
    topicId: image.topicsByName.get(topic)?.id ?? topicId,
    partition,
    replicas,
    isr,
    leader,
    leaderEpoch: 0,
    partitionEpoch: 0,
    addingReplicas: [],
    removingReplicas: [],
  });
  return apply(image, records);
}
