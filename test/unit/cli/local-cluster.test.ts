import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalCluster } from '../../../src/cli/local-cluster';
import { tmpDir } from '../../helpers/tmp';

describe('LocalCluster process handles', () => {
  // Regression (chaos torn-tail, seed 2): restarting a node that was still running spawned a second
  // process that died on the data directory's lock; the handle then pointed at the dead one, so the
  // harness "killed" nothing and cut a live node's files under it.
  it('refuses to start a node that is already running, and starts it again once it has exited', async () => {
    const dir = tmpDir('cairn-local-cluster-');
    const main = path.join(dir, 'idle.js');
    fs.writeFileSync(main, 'setInterval(() => {}, 1000);\n');
    const cluster = new LocalCluster({ baseDir: dir, ports: [1], main });
    const first = cluster.start(1);
    expect(cluster.isRunning(1)).toBe(true);
    expect(() => cluster.start(1)).toThrow(/already running/);
    expect(cluster.process(1)).toBe(first);
    await cluster.kill(1);
    expect(cluster.isRunning(1)).toBe(false);
    const second = cluster.start(1);
    expect(second.pid).not.toBe(first.pid);
    await cluster.stopAll();
  });
});
