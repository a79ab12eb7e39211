import { type ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CAIRN_MAIN } from '../../src/cli/local-cluster';
import { freePorts, runCli, runPipeline } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

let dev: ChildProcess | null = null;

afterEach(async () => {
  // Ctrl-C, as a user stops it; then make sure no node outlives the test, even on a failed run.
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    const exited = new Promise((r) => dev!.once('exit', r));
    dev.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  }
  try {
    if (dev?.pid) process.kill(-dev.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
  dev = null;
});

describe('the first commands after npm start', () => {
  it('creates a topic, produces 100,000 lines with acks=all and reads them back, each command run the moment the port answers', async () => {
    const [base] = await freePorts(3, true);
    const dataDir = tmpDir('cairn-first-');
    dev = spawn(process.execPath, [CAIRN_MAIN, 'dev', '--data-dir', dataDir, '--base-port', String(base)], { stdio: 'ignore', detached: true });
    // Only the port, as a user's script would: no broker may have registered yet, no controller been elected.
    await waitFor(() => portAnswers(base), `port ${base}`, 30_000, 5);
    const env = { CAIRN_BOOTSTRAP: `127.0.0.1:${base},127.0.0.1:${base + 1},127.0.0.1:${base + 2}` };
    const created = await runCli(['topics', 'create', 'x', '--partitions', '3'], '', env);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('replication factor 3');
    const produced = await runPipeline('seq 1 100000 | cairn produce x --acks all', env);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await runPipeline('cairn consume x --from-beginning --max-messages 100000 | (sleep 2; wc -l)', env);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trim()).toBe('100000');
  });
});
