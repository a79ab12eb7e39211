import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Producer } from '../../src/client/producer';
import { runPipeline, TestCluster } from '../helpers/processes';

const RECORDS = 100_000;
let cluster: TestCluster;
let env: Record<string, string>;

beforeAll(async () => {
  cluster = await TestCluster.start('cairn-pipes-', 1);
  env = { CAIRN_BOOTSTRAP: cluster.bootstrap };
  const admin = new Admin({ bootstrap: cluster.bootstrap });
  await admin.createTopic({ name: 'lines', partitions: 3 });
  await admin.createTopic({ name: 'wide', partitions: 1500 }); // its description is larger than a pipe's buffer
  admin.close();
  const producer = new Producer({ bootstrap: cluster.bootstrap, acks: 1 });
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < RECORDS; i++) sends.push(producer.send({ topic: 'lines', value: `record-${i}` }));
  await Promise.all(sends);
  await producer.close();
});

afterAll(async () => {
  await cluster?.stopAll();
});

describe('the CLI writing into a pipe', () => {
  it('delivers every record to a reader that sleeps before it reads', async () => {
    const r = await runPipeline(`cairn consume lines --from-beginning --max-messages ${RECORDS} | (sleep 2; wc -l)`, env);
    expect(r.stderr).toContain(`Read ${RECORDS} record(s)`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(String(RECORDS));
  });

  it('ends cleanly, without an error or a stack, when the reader goes away (| head -5)', async () => {
    // --follow: only the closed pipe can end this command.
    const r = await runPipeline(`cairn consume lines --from-beginning --follow | head -5`, env);
    expect(r.stdout.trim().split('\n')).toHaveLength(5);
    expect(r.stderr).not.toMatch(/EPIPE|Error| {4}at /);
    expect(r.code, r.stderr).toBe(0);
  });

  it('prints a whole topic description into a slow reader', async () => {
    const r = await runPipeline(`cairn topics describe wide | (sleep 1; wc -l)`, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('1501');
  });
});
