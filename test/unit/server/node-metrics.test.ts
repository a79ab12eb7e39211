import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/io/logger';
import { MetadataImage, replay } from '../../../src/metadata/image';
import type { MetadataRecord } from '../../../src/metadata/records';
import { NodeMetrics, type NodeView } from '../../../src/server/node-metrics';

const view: NodeView = {
  image: () => MetadataImage.EMPTY,
  partitions: () => [],
  minInsyncReplicas: () => 1,
  quorum: () => null,
  groupOffsets: () => [],
  wallMs: () => 0,
};

async function isrChanges(metrics: NodeMetrics): Promise<Record<string, number>> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'cairn_isr_changes_total')!;
  return Object.fromEntries(m.values.map((v) => [String(v.labels.change), v.value]));
}

describe('NodeMetrics ISR changes', () => {
  it('counts shrinks and expansions of partitions this node leads, from whichever image change made them', async () => {
    const metrics = new NodeMetrics(1, view, silentLogger);
    let offset = 0;
    let image = MetadataImage.EMPTY;
    const apply = (records: MetadataRecord[]) => {
      const r = replay(image, records, ++offset);
      image = r.image;
      metrics.onImage(image, r.changes);
    };
    metrics.onImage(image, null);
    const partition = (p: number, leader: number): MetadataRecord => ({
      type: 'Partition',
      topicId: 't1',
      partition: p,
      replicas: [1, 2, 3],
      isr: [1, 2, 3],
      leader,
      leaderEpoch: 0,
      partitionEpoch: 0,
      addingReplicas: [],
      removingReplicas: [],
    });
    apply([{ type: 'Topic', name: 't', topicId: 't1' }, partition(0, 1), partition(1, 2)]);
    expect(await isrChanges(metrics)).toEqual({ shrink: 0, expand: 0 });
    // Node 3 leaves both ISRs (the controller fenced it): only partition 0 is led here.
    apply([
      { type: 'PartitionChange', topicId: 't1', partition: 0, isr: [1, 2] },
      { type: 'PartitionChange', topicId: 't1', partition: 1, isr: [1, 2] },
    ]);
    expect(await isrChanges(metrics)).toEqual({ shrink: 1, expand: 0 });
    apply([{ type: 'PartitionChange', topicId: 't1', partition: 0, isr: [1, 2, 3] }]);
    expect(await isrChanges(metrics)).toEqual({ shrink: 1, expand: 1 });
    // A leadership change alone is no ISR change.
    apply([{ type: 'PartitionChange', topicId: 't1', partition: 0, leader: 2 }]);
    expect(await isrChanges(metrics)).toEqual({ shrink: 1, expand: 1 });
  });
});
