import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Admin, type ClientOptions } from '../client';
import { DEV_PRINCIPAL_MAPPING_RULES, type DevCertificates, ensureDevCertificates } from '../security/io';

const MAIN_BESIDE = path.resolve(__dirname, 'main.js');
/**
 * The built CLI entry point: next to this file when it runs from dist/, or the
 * compiled copy under dist/ when it runs from source (vitest, tsx).
 */
export const CAIRN_MAIN = fs.existsSync(MAIN_BESIDE) ? MAIN_BESIDE : path.resolve(__dirname, '../../dist/src/cli/main.js');

/**
 * Below Linux's ephemeral range (ip_local_port_range starts at 32768): a port the OS handed out
 * with listen(0) lies inside it, so an outgoing connection of any process could take it before
 * the node binds (seen: a chaos run lost a node to EADDRINUSE). Ports here are never handed out
 * to outgoing connections.
 */
const PORT_MIN = 10_000;
const PORT_MAX = 32_000;
const handedOut = new Set<number>();

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `n` ports that were free a moment ago, outside the ephemeral range; `consecutive` for `cairn dev --base-port`. */
export async function freePorts(n: number, consecutive = false): Promise<number[]> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const ports: number[] = [];
    if (consecutive) {
      const base = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN - n));
      for (let i = 0; i < n; i++) ports.push(base + i);
    } else {
      while (ports.length < n) {
        const p = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN));
        if (!ports.includes(p)) ports.push(p);
      }
    }
    if (ports.some((p) => handedOut.has(p))) continue;
    const free = await Promise.all(ports.map(isFree));
    if (free.every(Boolean)) {
      for (const p of ports) handedOut.add(p);
      return ports;
    }
  }
  throw new Error(`no ${n} free ports between ${PORT_MIN} and ${PORT_MAX}`);
}

export interface LocalNode {
  id: number;
  port: number;
  /** The internal listener's port (node-to-node services), or null when the client port serves them. */
  internalPort: number | null;
  /** Where its Prometheus endpoint answers (metrics.listener), or null when metrics are off. */
  metricsPort: number | null;
  dataDir: string;
  /** Extra server flags for this node (without the leading --). */
  flags: Record<string, string>;
}

export interface LocalClusterOptions {
  baseDir: string;
  ports: number[];
  /** One per node: give each node an internal listener there, apart from its client port. */
  internalPorts?: number[];
  /** One per node: serve Prometheus metrics at 127.0.0.1:port/metrics. */
  metricsPorts?: number[];
  /** Server flags for every node, e.g. { 'replica-lag-time-max-ms': '5000' }. */
  flags?: Record<string, string>;
  /** How many of the nodes (the first ones) are controllers; all by default (combined mode). */
  controllers?: number;
  /** Where the main.js to run lives (default: this build's). */
  main?: string;
  logLevel?: string;
  /** Extra node.js flags for the servers, e.g. ['--cpu-prof']; default from CAIRN_SERVER_NODE_ARGS. */
  nodeArgs?: string[];
  /**
   * TLS and mutual TLS on every listener, with a CA and certificates under baseDir/tls (made once):
   * nodes are User:node-<id> (the cluster principals), the admin client User:admin (a super user),
   * and authorization on (authorization.enable=true) unless `authorization` is false.
   */
  secure?: boolean;
  authorization?: boolean;
}

/**
 * Real `cairn server` processes on loopback: started, killed (-9), paused, restarted. Used by
 * `cairn dev`, the integration tests, the benchmarks and the chaos suite.
 */
export class LocalCluster {
  readonly nodes: LocalNode[];
  readonly voters: string;
  private readonly procs = new Map<number, ChildProcess>();
  /** The CA and certificates of a secure cluster. */
  readonly certificates: DevCertificates | null;

  constructor(private readonly o: LocalClusterOptions) {
    const controllers = o.controllers ?? o.ports.length;
    if (o.internalPorts && o.internalPorts.length !== o.ports.length) throw new Error('internalPorts needs one port per node');
    if (o.metricsPorts && o.metricsPorts.length !== o.ports.length) throw new Error('metricsPorts needs one port per node');
    this.nodes = o.ports.map((port, i) => ({
      id: i + 1,
      port,
      internalPort: o.internalPorts?.[i] ?? null,
      metricsPort: o.metricsPorts?.[i] ?? null,
      dataDir: path.join(o.baseDir, `node-${i + 1}`),
      flags: {},
    }));
    this.voters = this.nodes
      .slice(0, controllers)
      .map((n) => `${n.id}@127.0.0.1:${n.internalPort ?? n.port}`)
      .join(',');
    this.certificates = o.secure
      ? ensureDevCertificates(
          path.join(o.baseDir, 'tls'),
          this.nodes.map((n) => n.id),
        )
      : null;
  }

  /** How a client reaches the cluster: the bootstrap list, and on a secure cluster TLS with the admin certificate. */
  get clientOptions(): ClientOptions {
    const c = this.certificates;
    if (!c) return { bootstrap: this.bootstrap };
    return { bootstrap: this.bootstrap, tls: { ca: fs.readFileSync(c.caFile), cert: fs.readFileSync(c.admin.certFile), key: fs.readFileSync(c.admin.keyFile) } };
  }

  /** The server flags that turn TLS, mutual TLS and the cluster principals on for node `id`. */
  private securityFlags(id: number): string[] {
    const c = this.certificates;
    if (!c) return [];
    const own = c.nodes.get(id)!;
    const names = this.nodes.some((n) => n.internalPort !== null) ? 'CLIENT:SSL,INTERNAL:SSL' : 'CLIENT:SSL';
    return [
      '--listener-security-protocol-map',
      names,
      '--ssl-certificate-location',
      own.certFile,
      '--ssl-key-location',
      own.keyFile,
      '--ssl-ca-location',
      c.caFile,
      '--ssl-principal-mapping-rules',
      DEV_PRINCIPAL_MAPPING_RULES,
      '--cluster-principals',
      this.nodes.map((n) => `User:node-${n.id}`).join(','),
      // Certificates are a must between nodes; on the client listener a password (SCRAM) will do too.
      '--listener-name-client-ssl-client-auth',
      'requested',
      '--super-users',
      'User:admin',
      '--authorization-enable',
      String(this.o.authorization ?? true),
    ];
  }

  get bootstrap(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  node(id: number): LocalNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  process(id: number): ChildProcess | undefined {
    return this.procs.get(id);
  }

  start(id: number, flags: Record<string, string> = {}): ChildProcess {
    const main = this.o.main ?? CAIRN_MAIN;
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first`);
    const n = this.node(id);
    // A second process would fail on the data directory's lock, and this handle would then point at
    // the dead one while the first keeps running unseen: refuse loudly instead.
    if (this.isRunning(id)) throw new Error(`node ${id} is already running (pid ${this.procs.get(id)!.pid})`);
    fs.mkdirSync(n.dataDir, { recursive: true });
    const nodeArgs = this.o.nodeArgs ?? (process.env.CAIRN_SERVER_NODE_ARGS ?? '').split(' ').filter((x) => x.length > 0);
    const args = [...nodeArgs, main, 'server', '--node-id', String(id), '--listeners', `127.0.0.1:${n.port}`, '--log-dir', n.dataDir, '--controller-quorum-voters', this.voters];
    if (n.internalPort !== null) args.push('--internal-listeners', `127.0.0.1:${n.internalPort}`);
    if (n.metricsPort !== null) args.push('--metrics-listener', `127.0.0.1:${n.metricsPort}`);
    args.push(...this.securityFlags(id));
    const extra = { ...this.o.flags, ...n.flags, ...flags };
    if (!('process-roles' in extra) && !this.nodes.slice(0, this.voters.split(',').length).some((x) => x.id === id)) args.push('--process-roles', 'broker');
    for (const [k, v] of Object.entries(extra)) args.push(`--${k}`, v);
    const log = fs.openSync(path.join(n.dataDir, 'server.log'), 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], env: { ...process.env, CAIRN_LOG_LEVEL: this.o.logLevel ?? process.env.CAIRN_LOG_LEVEL ?? 'info' } });
    fs.closeSync(log);
    this.procs.set(id, child);
    return child;
  }

  startAll(): void {
    for (const n of this.nodes) this.start(n.id);
  }

  isRunning(id: number): boolean {
    const p = this.procs.get(id);
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** Sends `signal` (default SIGKILL: no flush, no goodbye) and waits for the exit. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(id);
    if (!p || !this.isRunning(id)) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  /** Graceful stop (SIGTERM). */
  stop(id: number): Promise<void> {
    return this.kill(id, 'SIGTERM');
  }

  pause(id: number): void {
    this.procs.get(id)?.kill('SIGSTOP');
  }

  resume(id: number): void {
    this.procs.get(id)?.kill('SIGCONT');
  }

  async stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const n of this.nodes) this.resume(n.id);
    await Promise.all(this.nodes.map((n) => this.kill(n.id, signal)));
  }

  /** Waits until Metadata lists `brokers` live brokers (default: every node with the broker role). */
  async waitReady(brokers = this.nodes.length, timeoutMs = 30_000): Promise<void> {
    const admin = new Admin({ ...this.clientOptions, requestTimeoutMs: 2_000, defaultApiTimeoutMs: 2_000 });
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        try {
          if ((await admin.describeCluster()).brokers.length >= brokers) return;
        } catch {
          // not up yet
        }
        if (Date.now() > deadline) throw new Error(`cluster not ready within ${timeoutMs} ms (wanted ${brokers} live brokers); see ${this.o.baseDir}/node-*/server.log`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      admin.close();
    }
  }

  log(id: number): string {
    try {
      return fs.readFileSync(path.join(this.node(id).dataDir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }
}
