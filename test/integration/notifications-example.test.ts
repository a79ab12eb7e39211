import { afterEach, describe, expect, it } from 'vitest';
import { runNotifications } from '../../examples/notifications';
import { TestCluster } from '../helpers/processes';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

describe('examples/notifications.ts', () => {
  it('four groups each receive every notification; the three email members share them, each handled once', async () => {
    cluster = await TestCluster.start('cairn-notifications-', 3, { 'offsets-topic-num-partitions': '4', 'group-consumer-heartbeat-interval-ms': '300' });
    const r = await runNotifications(cluster.bootstrap, 300);
    expect(r.received).toEqual({ email: 300, sms: 300, push: 300, 'in-app': 300 });
    const counts = Object.values(r.emailMembers);
    expect(counts).toHaveLength(3);
    for (const n of counts) expect(n).toBeGreaterThan(0);
    expect(r.emailDuplicates).toBe(0);
  }, 180_000);
});
