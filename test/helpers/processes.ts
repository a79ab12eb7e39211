import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Admin } from '../../src/client/admin';
import { waitFor } from './tmp';

export const MAIN = path.resolve(__dirname, '../../dist/src/cli/main.js');

export function assertBuilt(): void {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does)`);
}

/** Ports that were free a moment ago (the OS picked them). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface NodeSpec {
  id: number;
  port: number;
  dataDir: string;
  extra?: Record<string, string>;
}

/** Real `cairn server` processes on loopback, started, killed and restarted by tests. */
export class TestCluster {
  readonly procs = new Map<number, ChildProcess>();
  readonly specs: NodeSpec[];
  readonly voters: string;

  constructor(
    readonly baseDir: string,
    ports: number[],
    private readonly common: Record<string, string> = {},
    controllers = ports.length,
  ) {
    this.specs = ports.map((port, i) => ({ id: i + 1, port, dataDir: path.join(baseDir, `node-${i + 1}`) }));
    this.voters = this.specs.slice(0, controllers).map((s) => `${s.id}@127.0.0.1:${s.port}`).join(',');
  }

  get bootstrap(): string {
    return this.specs.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  spec(id: number): NodeSpec {
    return this.specs.find((s) => s.id === id)!;
  }

  start(id: number, extra: Record<string, string> = {}): ChildProcess {
    assertBuilt();
    const s = this.spec(id);
    fs.mkdirSync(s.dataDir, { recursive: true });
    const args = [MAIN, 'server', '--node-id', String(id), '--listeners', `127.0.0.1:${s.port}`, '--log-dir', s.dataDir, '--controller-quorum-voters', this.voters];
    for (const [k, v] of Object.entries({ ...this.common, ...s.extra, ...extra })) args.push(`--${k}`, v);
    const log = fs.openSync(path.join(s.dataDir, 'server.log'), 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], env: { ...process.env, CAIRN_LOG_LEVEL: process.env.CAIRN_LOG_LEVEL ?? 'info' } });
    fs.closeSync(log);
    this.procs.set(id, child);
    return child;
  }

  startAll(): void {
    for (const s of this.specs) this.start(s.id);
  }

  isRunning(id: number): boolean {
    const p = this.procs.get(id);
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** kill -9: no flush, no goodbye. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(id);
    if (!p || !this.isRunning(id)) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async stop(id: number): Promise<void> {
    await this.kill(id, 'SIGTERM');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.specs.map((s) => this.kill(s.id, 'SIGKILL')));
  }

  /** Waits until the node answers Metadata listing `brokers` live brokers. */
  async waitReady(brokers = this.specs.length, timeoutMs = 30_000): Promise<void> {
    const admin = new Admin({ bootstrap: this.bootstrap, requestTimeoutMs: 2_000 });
    try {
      await waitFor(async () => (await admin.describeCluster()).brokers.length >= brokers, `${brokers} live broker(s)`, timeoutMs, 100);
    } finally {
      admin.close();
    }
  }

  log(id: number): string {
    try {
      return fs.readFileSync(path.join(this.spec(id).dataDir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }
}

/** Runs the cairn CLI to completion, feeding `input` on stdin. */
export function runCli(args: string[], input = '', env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}
