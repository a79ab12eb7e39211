import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Producer } from '../../src/client/producer';
import { runCli, TestCluster } from '../helpers/processes';

let cluster: TestCluster;
let env: Record<string, string>;

beforeAll(async () => {
  cluster = await TestCluster.start('cairn-groups-cli-', 1, { 'offsets-topic-num-partitions': '2', 'group-consumer-heartbeat-interval-ms': '300' });
  env = { CAIRN_BOOTSTRAP: cluster.bootstrap };
  const admin = new Admin({ bootstrap: cluster.bootstrap });
  await admin.createTopic({ name: 'notes', partitions: 3 });
  admin.close();
  const producer = new Producer({ bootstrap: cluster.bootstrap });
  await Promise.all(Array.from({ length: 30 }, (_, i) => producer.send({ topic: 'notes', key: `k${i}`, value: `note-${i}` })));
  await producer.close();
}, 120_000);

afterAll(async () => {
  await cluster?.stopAll();
});

const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);

describe('cairn consume --group and cairn groups', () => {
  it('a group member reads from the committed offsets; describe shows the lag; reset-offsets and delete work', async () => {
    const first = await runCli(['consume', 'notes', '--group', 'readers', '--from-beginning', '--max-messages', '12'], '', env);
    expect(first.code, first.stderr).toBe(0);
    expect(lines(first.stdout)).toHaveLength(12);

    // The group's committed offsets win over --from-beginning: the next member reads the other 18 only.
    const second = await runCli(['consume', 'notes', '--group', 'readers', '--from-beginning', '--timeout-ms', '2000'], '', env);
    expect(second.code, second.stderr).toBe(0);
    expect(new Set([...lines(first.stdout), ...lines(second.stdout)]).size).toBe(30);
    expect(lines(second.stdout)).toHaveLength(18);

    const listed = await runCli(['groups', 'list'], '', env);
    expect(listed.stdout).toMatch(/^readers\tempty\t0 member\(s\)$/m);
    const described = await runCli(['groups', 'describe', 'readers'], '', env);
    expect(described.code, described.stderr).toBe(0);
    const rows = lines(described.stdout).filter((l) => l.startsWith('notes\t'));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      const [, , current, end, lag] = row.split('\t');
      expect(current).toBe(end);
      expect(lag).toBe('0');
    }

    const reset = await runCli(['groups', 'reset-offsets', 'readers', '--topic', 'notes', '--to-earliest'], '', env);
    expect(reset.code, reset.stderr).toBe(0);
    const again = await runCli(['consume', 'notes', '--group', 'readers', '--timeout-ms', '2000'], '', env);
    expect(lines(again.stdout)).toHaveLength(30);
    // Back two records on each of the three partitions, from the committed offsets.
    const shifted = await runCli(['groups', 'reset-offsets', 'readers', '--topic', 'notes', '--shift-by=-2'], '', env);
    expect(shifted.code, shifted.stderr).toBe(0);
    const replayed = await runCli(['consume', 'notes', '--group', 'readers', '--timeout-ms', '2000'], '', env);
    expect(lines(replayed.stdout)).toHaveLength(6);

    const bad = await runCli(['groups', 'reset-offsets', 'readers', '--topic', 'notes'], '', env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('exactly one of');
    const deleted = await runCli(['groups', 'delete', 'readers'], '', env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await runCli(['groups', 'list'], '', env)).stdout).not.toContain('readers');
  }, 120_000);
});
