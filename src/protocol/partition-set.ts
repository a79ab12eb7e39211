import { CairnError, ErrorCode, TopicPartitionSets, type TopicPartitions } from '../common';
import type { PartitionSet } from './messages';

/** A PartitionSet from the wire as TopicPartitions; an empty topic or a bad partition number is INVALID_REQUEST. */
export function partitionsFromWire(s: PartitionSet): TopicPartitions {
  const out: Record<string, number[]> = {};
  for (const t of s.topics ?? []) {
    if (typeof t.topic !== 'string' || t.topic.length === 0) throw new CairnError(ErrorCode.INVALID_REQUEST, 'a partition set names an empty topic');
    for (const p of t.partitions ?? []) if (!Number.isInteger(p) || p < 0) throw new CairnError(ErrorCode.INVALID_REQUEST, `partition ${p} of ${t.topic} is not valid`);
    (out[t.topic] ??= []).push(...(t.partitions ?? []));
  }
  return TopicPartitionSets.canonical(out);
}

export function partitionsToWire(tp: TopicPartitions): PartitionSet {
  return { topics: Object.keys(tp).map((topic) => ({ topic, partitions: [...tp[topic]!] })) };
}
