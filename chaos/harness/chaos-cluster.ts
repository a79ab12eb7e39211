import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Proxy, Toxiproxy } from 'toxiproxy-node-client';
import { freePorts, LocalCluster } from '../../src/cli/local-cluster';
import { type Logger } from '../../src/common/logger';
import { silentLogger } from '../../src/common/io/logger';
import { RpcClient } from '../../src/protocol/io/rpc-client';
import { nodeFileSystem } from '../../src/storage/file-system';
import { readFsyncJournal } from '../../src/storage/fsync-journal';
import { ToxiproxyServer } from '../toxiproxy/server';
import { channelCredentials } from '../../src/protocol/io/tls';

/** The client (this process) in link names. */
export const CLIENT = 'c';
const nodeName = (id: number) => `n${id}`;

/** Files whose un-fsynced bytes a power cut drops: partition segments (`<20 digits>.log`) and Raft's entry log. */
const DATA_FILE = /^(\d{20}\.log|raft-entries\.log)$/;

export interface ChaosClusterOptions {
  nodes: number;
  /** The first this-many nodes are controllers (combined with brokers); default all. */
  controllers?: number;
  baseDir: string;
  logger: Logger;
  /** Server flags for every node. */
  flags?: Record<string, string>;
  /** A running Toxiproxy to use instead of the bundled server (TOXIPROXY_URL). */
  toxiproxyUrl?: string;
  /** Record fsyncs so un-fsynced writes can be dropped after a kill (reliability.md 7-9). */
  fsyncJournal?: boolean;
  /** Put these nodes' data on a tmpfs of this many MiB (disk-full scenarios). */
  tmpfsMiB?: Map<number, number>;
  /** Extra environment per node. */
  env?: Map<number, Record<string, string>>;
  /** Each node's wall-clock offset at start (ms); `setClockSkew` changes it at runtime. */
  clockSkewMs?: Map<number, number>;
  /** Node.js options of every server process (a negative control's `--require` of a seeded bug). */
  nodeArgs?: string[];
  /** TLS, mutual TLS and authorization on every listener (LocalCluster's `secure`). */
  secure?: boolean;
}

export interface QuorumInfo {
  leaderId: number;
  term: number;
  role: string;
  metadataOffset: number;
  imageDigest: string;
  brokers: { nodeId: number; fenced: boolean }[];
}

/**
 * What a power cut that loses the page cache leaves of a stopped node's data directory, given the
 * last fsynced size of each file (`durable`, from the fsync journal): segments and Raft's entry log
 * cut back to it (to nothing if never fsynced), derived indexes dropped, every other file — the
 * node's `server.log` above all — untouched.
 */
export function dropUnfsyncedIn(dataDir: string, durable: ReadonlyMap<string, number>): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (DATA_FILE.test(e.name)) {
        const size = fs.statSync(full).size;
        const keep = Math.min(size, durable.get(full) ?? 0);
        if (keep < size) {
          fs.truncateSync(full, keep);
          files++;
          bytes += size - keep;
        }
      } else if (/\.(index|timeindex)$/.test(e.name)) {
        fs.rmSync(full);
      }
    }
  };
  walk(dataDir);
  return { files, bytes };
}

/**
 * A cluster of real `cairn server` processes whose every connection runs through a Toxiproxy proxy,
 * one per directed link (design brief §10; issue 7): client→node `c>nI`, node→node `nI>nJ`. Each
 * node advertises its client proxy and reaches its peers through theirs (`peer.addresses`), so any
 * link can be cut, slowed or made lossy on its own. Faults are applied through
 * `toxiproxy-node-client`, against the bundled Toxiproxy-compatible server or a real one.
 */
export class ChaosCluster {
  readonly cluster: LocalCluster;
  private toxiproxyServer: ToxiproxyServer | null = null;
  private toxiproxy!: Toxiproxy;
  private readonly proxies = new Map<string, Proxy>();
  private readonly clientPorts = new Map<number, number>();
  private readonly mounted: string[] = [];
  private readonly fillers = new Map<number, string>();
  private readonly ids: number[];

  private constructor(
    private readonly o: ChaosClusterOptions,
    cluster: LocalCluster,
  ) {
    this.cluster = cluster;
    this.ids = cluster.nodes.map((n) => n.id);
  }

  static async create(o: ChaosClusterOptions): Promise<ChaosCluster> {
    fs.mkdirSync(o.baseDir, { recursive: true });
    const ports = await freePorts(o.nodes);
    const cluster = new LocalCluster({ baseDir: o.baseDir, ports, flags: o.flags, logLevel: 'info', controllers: o.controllers, nodeArgs: o.nodeArgs, secure: o.secure });
    const c = new ChaosCluster(o, cluster);
    for (const id of c.ids) c.setClockSkew(id, o.clockSkewMs?.get(id) ?? 0);
    await c.setUpProxies();
    return c;
  }

  /** The CA and certificates of a secure cluster. */
  get certificates() {
    return this.cluster.certificates;
  }

  get bootstrap(): string {
    return this.ids.map((id) => `127.0.0.1:${this.clientPorts.get(id)}`).join(',');
  }

  /** Direct (unproxied) address of a node, for the harness's own status queries. */
  direct(id: number): string {
    return `127.0.0.1:${this.cluster.node(id).port}`;
  }

  nodeIds(): number[] {
    return [...this.ids];
  }

  private async setUpProxies(): Promise<void> {
    const url = this.o.toxiproxyUrl ?? process.env.TOXIPROXY_URL;
    if (url) {
      this.toxiproxy = new Toxiproxy(url);
    } else {
      // Refused upstream connections are the point of many faults: keep them out of the console.
      this.toxiproxyServer = new ToxiproxyServer({ logger: process.env.CAIRN_CHAOS_DEBUG ? this.o.logger.child({ component: 'toxiproxy' }) : silentLogger });
      await this.toxiproxyServer.start({ host: '127.0.0.1', port: 0 });
      this.toxiproxy = new Toxiproxy(this.toxiproxyServer.url);
    }
    const links: [string, number][] = [];
    for (const to of this.ids) {
      links.push([`${CLIENT}>${nodeName(to)}`, to]);
      for (const from of this.ids) if (from !== to) links.push([`${nodeName(from)}>${nodeName(to)}`, to]);
    }
    const ports = await freePorts(links.length);
    for (let i = 0; i < links.length; i++) {
      const [name, to] = links[i]!;
      try {
        await this.toxiproxy.get(name).then((p) => p.remove());
      } catch {
        // not there: fine
      }
      const proxy = await this.toxiproxy.createProxy({ name, listen: `127.0.0.1:${ports[i]}`, upstream: this.direct(to) });
      this.proxies.set(name, proxy);
      if (name.startsWith(`${CLIENT}>`)) this.clientPorts.set(to, ports[i]!);
    }
    for (const n of this.cluster.nodes) {
      const peers = this.ids.filter((id) => id !== n.id).map((id) => `${id}@${this.proxies.get(`${nodeName(n.id)}>${nodeName(id)}`)!.listen}`);
      n.flags = { ...n.flags, 'advertised-listeners': `127.0.0.1:${this.clientPorts.get(n.id)}`, 'peer-addresses': peers.join(',') };
    }
  }

  private proxy(name: string): Proxy {
    const p = this.proxies.get(name);
    if (!p) throw new Error(`no proxy ${name}`);
    return p;
  }

  // ---- processes ----

  async startAll(): Promise<void> {
    for (const id of this.ids) this.start(id);
    await this.cluster.waitReady(this.ids.length, 60_000);
  }

  start(id: number): void {
    const mib = this.o.tmpfsMiB?.get(id);
    const dir = this.cluster.node(id).dataDir;
    if (mib !== undefined && !this.mounted.includes(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir]);
      this.mounted.push(dir);
    }
    const env: Record<string, string> = { ...(this.o.env?.get(id) ?? {}), CAIRN_CLOCK_SKEW_FILE: this.clockFile(id) };
    if (this.o.fsyncJournal) env.CAIRN_FAULT_FSYNC_JOURNAL = this.journal(id);
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      this.cluster.start(id);
    } finally {
      for (const k of Object.keys(env)) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  }

  private clockFile(id: number): string {
    return path.join(this.o.baseDir, `clock-skew-${id}`);
  }

  /**
   * Sets a node's wall-clock offset: a running node re-reads it within ~50 ms (src/common/clock.ts),
   * a restarted one starts with it. Only its wall clock moves; its timeouts run on a monotonic clock.
   */
  setClockSkew(id: number, ms: number): void {
    const file = this.clockFile(id);
    fs.writeFileSync(`${file}.tmp`, String(Math.round(ms)));
    fs.renameSync(`${file}.tmp`, file); // whole, never half-written
  }

  /** Every node's wall clock back to its offset at start. */
  resetClocks(): void {
    for (const id of this.ids) this.setClockSkew(id, this.o.clockSkewMs?.get(id) ?? 0);
  }

  clockSkew(id: number): number {
    return Number(fs.readFileSync(this.clockFile(id), 'utf8'));
  }

  private journal(id: number): string {
    return path.join(this.o.baseDir, `fsync-journal-${id}.log`);
  }

  isRunning(id: number): boolean {
    return this.cluster.isRunning(id);
  }

  async kill(id: number): Promise<void> {
    this.cluster.resume(id);
    await this.cluster.kill(id, 'SIGKILL');
  }

  pause(id: number): void {
    this.cluster.pause(id);
  }

  resume(id: number): void {
    this.cluster.resume(id);
  }

  /** Resumes every paused node and starts every node that is not running. */
  restartStopped(): void {
    for (const id of this.ids) {
      this.resume(id);
      if (!this.isRunning(id)) this.start(id);
    }
  }

  /**
   * After a kill: cut every segment and Raft entry file back to its last fsynced size (to nothing if
   * never fsynced), drop derived indexes — what a power cut that loses the page cache leaves of the
   * node's data. The node's own `server.log` (written by this harness's redirect, not by the node's
   * storage) is left alone: it is the record of what happened.
   */
  dropUnfsynced(id: number): { files: number; bytes: number } {
    if (this.isRunning(id)) throw new Error(`node ${id} must be stopped before its page cache is dropped`);
    return dropUnfsyncedIn(this.cluster.node(id).dataDir, readFsyncJournal(nodeFileSystem, this.journal(id)));
  }

  /**
   * A power cut during a write: the node loses its page cache, except that the file being written
   * keeps a random part of what was not yet fsynced (a torn write). Returns the bytes torn off.
   */
  tearUnfsynced(id: number, file: string, random: { int(min: number, max: number): number }): { durable: number; size: number; kept: number } {
    if (this.isRunning(id)) throw new Error(`node ${id} must be stopped first`);
    const durable = readFsyncJournal(nodeFileSystem, this.journal(id)).get(file) ?? 0;
    const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
    const tail = size > durable ? fs.readFileSync(file).subarray(durable, size) : Buffer.alloc(0);
    this.dropUnfsynced(id);
    const kept = tail.length > 1 ? random.int(1, tail.length - 1) : 0;
    if (kept > 0) fs.appendFileSync(file, tail.subarray(0, kept));
    return { durable, size, kept };
  }

  // ---- storage faults ----

  /** Segment files of a partition on a node, oldest first. */
  segments(id: number, topic: string, partition: number): string[] {
    const dir = path.join(this.cluster.node(id).dataDir, `${topic}-${partition}`);
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort()
      .map((f) => path.join(dir, f));
  }

  /** Fills a tmpfs-backed node's data directory to the last byte. */
  fillDisk(id: number): void {
    const dir = this.cluster.node(id).dataDir;
    if (!this.mounted.includes(dir)) throw new Error(`node ${id} is not on a tmpfs`);
    const filler = path.join(dir, 'chaos-filler');
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(1 << 20);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch {
      // ENOSPC: full
    } finally {
      fs.closeSync(fd);
    }
    this.fillers.set(id, filler);
  }

  freeDisk(id: number): void {
    const f = this.fillers.get(id);
    if (f) fs.rmSync(f, { force: true });
    this.fillers.delete(id);
  }

  // ---- network faults ----

  private async toxic(proxy: string, body: { name: string; type: string; stream: 'upstream' | 'downstream'; attributes: Record<string, number> }): Promise<void> {
    await this.proxy(proxy).addToxic({ toxicity: 1, ...body } as never);
  }

  /** Nothing `from` sends reaches `to` (requests on from's connections, answers on to's). */
  async cut(from: string, to: string): Promise<void> {
    const tag = `cut-${from}-${to}`;
    if (this.proxies.has(`${from}>${to}`)) await this.toxic(`${from}>${to}`, { name: `${tag}-up`, type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } });
    if (this.proxies.has(`${to}>${from}`)) await this.toxic(`${to}>${from}`, { name: `${tag}-down`, type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } });
  }

  /** Cuts both directions between each node of `a` and each node of `b`. */
  async partition(a: number[], b: number[], oneWay = false): Promise<void> {
    for (const x of a) {
      for (const y of b) {
        await this.cut(nodeName(x), nodeName(y));
        if (!oneWay) await this.cut(nodeName(y), nodeName(x));
      }
    }
  }

  async isolate(id: number, fromClients = false): Promise<void> {
    await this.partition(
      [id],
      this.ids.filter((x) => x !== id),
    );
    if (fromClients) {
      await this.cut(CLIENT, nodeName(id));
      await this.cut(nodeName(id), CLIENT);
    }
  }

  /** Every node link gets latency (and jitter), in both directions. */
  async latency(ms: number, jitterMs: number, includeClients = false): Promise<void> {
    for (const [name] of this.proxies) {
      if (!includeClients && name.startsWith(`${CLIENT}>`)) continue;
      for (const stream of ['upstream', 'downstream'] as const) await this.toxic(name, { name: `latency-${stream}`, type: 'latency', stream, attributes: { latency: ms, jitter: jitterMs } });
    }
  }

  /** Delays what goes one way on one link (`c>n2`: the client's requests to node 2) by `ms`. */
  async latencyOn(link: string, ms: number): Promise<void> {
    await this.toxic(link, { name: `latency-on-${link}`, type: 'latency', stream: 'upstream', attributes: { latency: ms, jitter: 0 } });
  }

  async bandwidth(kbPerS: number): Promise<void> {
    for (const [name] of this.proxies) {
      if (name.startsWith(`${CLIENT}>`)) continue;
      for (const stream of ['upstream', 'downstream'] as const) await this.toxic(name, { name: `bandwidth-${stream}`, type: 'bandwidth', stream, attributes: { rate: kbPerS } });
    }
  }

  /** Resets (TCP RST) connections on a link once data flows, after `afterMs`. */
  async resetPeer(link: string, afterMs: number): Promise<void> {
    await this.toxic(link, { name: 'reset-peer', type: 'reset_peer', stream: 'upstream', attributes: { timeout: afterMs } });
  }

  /** Closes client→node connections after `bytes` bytes (a cut mid-request). */
  async limitData(link: string, bytes: number): Promise<void> {
    await this.toxic(link, { name: 'limit-data', type: 'limit_data', stream: 'upstream', attributes: { bytes } });
  }

  /**
   * Lets requests through but not their answers (issue 17, rows 3 and 5): the node→client half of
   * the link drops everything and, after `closeAfterMs` (0: never), closes the connection. The
   * leader writes and acknowledges; the client never hears it and resends.
   */
  async dropAnswers(link: string, closeAfterMs: number): Promise<void> {
    await this.toxic(link, { name: 'drop-answers', type: 'timeout', stream: 'downstream', attributes: { timeout: closeAfterMs } });
  }

  /** Closes client connections once `bytes` bytes of answers have gone down them: the answers after that are lost, their requests written. */
  async limitAnswers(link: string, bytes: number): Promise<void> {
    await this.toxic(link, { name: 'limit-answers', type: 'limit_data', stream: 'downstream', attributes: { bytes } });
  }

  /** Removes every toxic (Toxiproxy's /reset). */
  async healNetwork(): Promise<void> {
    await this.toxiproxy.reset();
  }

  // ---- observation (direct, never through the proxies) ----

  async quorum(id: number): Promise<QuorumInfo | null> {
    if (!this.isRunning(id)) return null;
    const rpc = new RpcClient(this.direct(id), 'cairn.v1.Admin', channelCredentials(this.cluster.clientOptions.tls));
    try {
      return await rpc.unary<unknown, QuorumInfo>('DescribeQuorum', {}, 2_000);
    } catch {
      return null;
    } finally {
      rpc.close();
    }
  }

  async controllerLeader(): Promise<number> {
    for (const id of this.ids) {
      const q = await this.quorum(id);
      if (q?.role === 'leader') return id;
    }
    return -1;
  }

  async partitionLeader(topic: string, partition: number): Promise<number> {
    for (const id of this.ids) {
      if (!this.isRunning(id)) continue;
      const rpc = new RpcClient(this.direct(id), 'cairn.v1.Broker', channelCredentials(this.cluster.clientOptions.tls));
      try {
        const m = await rpc.unary<unknown, { topics: { partitions: { partition: number; leaderId: number }[] }[] }>('Metadata', { topics: [topic] }, 2_000);
        const l = m.topics[0]?.partitions.find((p) => p.partition === partition)?.leaderId;
        if (l !== undefined && l >= 0) return l;
      } catch {
        // try the next node
      } finally {
        rpc.close();
      }
    }
    return -1;
  }

  async stop(): Promise<void> {
    await this.cluster.stopAll('SIGKILL');
    for (const id of this.ids) this.freeDisk(id);
    try {
      await this.toxiproxy.reset();
      for (const p of this.proxies.values()) await p.remove().catch(() => undefined);
    } catch {
      // the server may be gone
    }
    await this.toxiproxyServer?.stop();
    for (const dir of this.mounted.splice(0)) {
      // The node's log lives in its data directory: keep it past the unmount.
      try {
        fs.copyFileSync(path.join(dir, 'server.log'), `${dir}.server.log`);
      } catch {
        // no log
      }
      try {
        execFileSync('umount', [dir]);
      } catch {
        // busy or gone
      }
    }
  }
}
