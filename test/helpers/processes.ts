import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CAIRN_MAIN, freePorts, LocalCluster } from '../../src/cli/local-cluster';
import { tmpDir } from './tmp';

function assertBuilt(): void {
  if (!fs.existsSync(CAIRN_MAIN)) throw new Error(`${CAIRN_MAIN} is missing: run "npm run build" first (npm test does)`);
}

export { freePorts };

/** Short session, election and ISR timeouts, so failover tests with real processes take seconds. */
export const FAST_FAILOVER_FLAGS: Record<string, string> = {
  'broker-session-timeout-ms': '3000',
  'broker-heartbeat-interval-ms': '500',
  'controller-quorum-election-timeout-ms': '500',
  'controller-quorum-heartbeat-interval-ms': '100',
  'replica-lag-time-max-ms': '3000',
};

/** A LocalCluster of the compiled CLI (dist/; the tests run from source), under a test's temp directory. */
export class TestCluster extends LocalCluster {
  constructor(baseDir: string, ports: number[], flags: Record<string, string> = {}, controllers = ports.length) {
    super({ baseDir, ports, flags, controllers });
  }

  /**
   * `nodes` nodes under a new temp directory named from `prefix`, started, with every broker
   * registered. Stops them again if they do not get ready, since no caller holds them yet.
   */
  static async start(prefix: string, nodes: number, flags: Record<string, string> = {}, controllers = nodes): Promise<TestCluster> {
    const cluster = new TestCluster(tmpDir(prefix), await freePorts(nodes), flags, controllers);
    cluster.startAll();
    try {
      await cluster.waitReady();
    } catch (err) {
      await cluster.stopAll();
      throw err;
    }
    return cluster;
  }
}

/** Runs the cairn CLI to completion, feeding `input` on stdin. */
export function runCli(args: string[], input = '', env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CAIRN_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}

/** Runs a bash pipeline in which `cairn` stands for the built CLI (pipefail on: the pipeline's status is the first failure). */
export function runPipeline(script: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -o pipefail; cairn() { "${process.execPath}" "${CAIRN_MAIN}" "$@"; }; ${script}`], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}
