/**
 * A real multi-host cluster on this machine (issue 21 item 2): three Linux network namespaces with
 * their own addresses on a bridge (deploy/netns/up.sh), one `cairn server` in each started the way
 * a host would start it (deploy/netns/node.sh: deploy/systemd/server.properties plus the host's own
 * id and advertised address), and a client in a fourth namespace. It produces across hosts with
 * acks=all while a broker host and then the controller leader's host are cut off
 * (`ip link set eth0 down`) and healed, then reads everything back: every acknowledged record is
 * there, once.
 *
 * Needs root (network namespaces); without it the test is skipped with the reason. Runs in
 * `npm test` and alone with `npm run test:multihost`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpDir, waitFor } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');
const NETNS = path.join(ROOT, 'deploy/netns');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const CLIENT = path.join(ROOT, 'dist/test/tools/multihost-client.js');
const PREFIX = `cmh${process.pid % 100_000}`;
const NODES = [1, 2, 3];
const address = (n: number) => `10.77.0.${n}`;
const BOOTSTRAP = NODES.map((n) => `${address(n)}:9092`).join(',');
/** Short failure detection, so the test takes a minute rather than several (the rest is server.properties). */
const FAST = ['--broker-session-timeout-ms', '3000', '--broker-heartbeat-interval-ms', '500', '--replica-lag-time-max-ms', '3000', '--controller-quorum-election-timeout-ms', '1000'];

/** Why network namespaces cannot be used here, or null when they can. */
function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = `${PREFIX}-probe`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.error) return `no ip command (${add.error.message})`;
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}
const unavailable = netnsUnavailable();
if (unavailable) process.stderr.write(`multihost: skipped, network namespaces are not available (${unavailable}); run as root on Linux\n`);

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The cairn CLI, run as the client host (in the client namespace). */
function cairn(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', `${PREFIX}-client`, process.execPath, MAIN, ...args, '--bootstrap', BOOTSTRAP], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const servers = new Map<number, ChildProcess>();
let dataDir = '';

function startNode(n: number): void {
  const log = fs.openSync(path.join(dataDir, `node-${n}.log`), 'a');
  servers.set(n, spawn('sh', [path.join(NETNS, 'node.sh'), PREFIX, String(n), String(NODES.length), path.join(dataDir, `node-${n}`), ...FAST], { stdio: ['ignore', log, log] }));
  fs.closeSync(log);
}

/** `cairn cluster status` as the client sees it: each node's state, and the controller leader. */
function clusterStatus(): { leader: number; states: Map<number, string> } | null {
  const r = cairn(['cluster', 'status']);
  if (r.status !== 0) return null;
  const leader = Number(/leader node (\d+)/.exec(r.stdout)?.[1] ?? -1);
  const states = new Map([...r.stdout.matchAll(/node (\d+) {2}\S+ {2}\S+ {2}epoch \d+ {2}(\S+)/g)].map((m) => [Number(m[1]), m[2]!]));
  return { leader, states };
}

/** Every partition of the topic has all three replicas in sync again. */
function fullyReplicated(topic: string): boolean {
  const r = cairn(['topics', 'describe', topic]);
  if (r.status !== 0) return false;
  const isrs = [...r.stdout.matchAll(/\tIsr: ([\d,]+)/g)].map((m) => m[1]!.split(',').length);
  return isrs.length === 3 && isrs.every((n) => n === 3);
}

describe.skipIf(unavailable !== null)('a three-host cluster in network namespaces', () => {
  beforeAll(async () => {
    if (!fs.existsSync(CLIENT)) throw new Error(`${CLIENT} is missing: run "npm run build" first (npm test does)`);
    sh('sh', [path.join(NETNS, 'down.sh'), PREFIX]);
    sh('sh', [path.join(NETNS, 'up.sh'), PREFIX, String(NODES.length)]);
    dataDir = tmpDir('cairn-multihost-');
    for (const n of NODES) startNode(n);
    // Every node answers its health service to the client host, across the bridge.
    await waitFor(() => NODES.every((n) => cairn(['health', '--bootstrap', `${address(n)}:9092`]).stdout.trim() === 'SERVING'), 'three nodes SERVING to the client host', 60_000, 500);
  }, 90_000);

  afterAll(async () => {
    for (const p of servers.values()) p.kill('SIGKILL');
    spawnSync('sh', [path.join(NETNS, 'down.sh'), PREFIX]);
  });

  it('produces with acks=all across hosts while a broker host and the controller host are cut off; nothing acknowledged is lost or doubled', async () => {
    const created = cairn(['topics', 'create', 'mh', '--partitions', '3', '--replication-factor', '3', '--config', 'min.insync.replicas=2']);
    expect(created.status, created.stderr).toBe(0);
    const acked: string[] = [];
    const failed: string[] = [];
    const producer = spawn('ip', ['netns', 'exec', `${PREFIX}-client`, process.execPath, CLIENT, 'produce', BOOTSTRAP, 'mh'], {
      stdio: ['ignore', 'pipe', fs.openSync(path.join(dataDir, 'producer.log'), 'a')],
      env: { ...process.env, CAIRN_LOG_LEVEL: 'warn' },
    });
    let done = false;
    readline.createInterface({ input: producer.stdout! }).on('line', (line) => {
      if (line.startsWith('ack ')) acked.push(line.slice(4));
      else if (line.startsWith('fail ')) failed.push(line);
      else if (line === 'done') done = true;
    });
    const ackedAtLeast = (n: number, what: string) => waitFor(() => acked.length >= n, `${n} acknowledged records (${what}); failures: ${failed.slice(0, 3).join(' | ')}`, 60_000, 100);
    try {
      await ackedAtLeast(200, 'before any fault');

      // A broker host that is not the controller leader drops off the network.
      const before = await waitFor(() => clusterStatus(), 'cluster status');
      const broker = NODES.find((n) => n !== before.leader)!;
      sh('ip', ['-n', `${PREFIX}-n${broker}`, 'link', 'set', 'eth0', 'down']);
      await waitFor(() => clusterStatus()?.states.get(broker) === 'FENCED', `node ${broker} fenced once its host is cut off`, 30_000, 500);
      await ackedAtLeast(acked.length + 300, `with node ${broker} cut off`);
      sh('ip', ['-n', `${PREFIX}-n${broker}`, 'link', 'set', 'eth0', 'up']);
      await waitFor(() => clusterStatus()?.states.get(broker) === 'active' && fullyReplicated('mh'), `node ${broker} back in every ISR`, 60_000, 500);

      // Now the controller leader's host: the quorum elects another across the bridge.
      const leader = before.leader;
      sh('ip', ['-n', `${PREFIX}-n${leader}`, 'link', 'set', 'eth0', 'down']);
      await waitFor(
        () => {
          const s = clusterStatus();
          return s !== null && s.leader >= 0 && s.leader !== leader;
        },
        `a new controller leader after node ${leader}'s host is cut off`,
        30_000,
        500,
      );
      await ackedAtLeast(acked.length + 300, `with the controller host ${leader} cut off`);
      sh('ip', ['-n', `${PREFIX}-n${leader}`, 'link', 'set', 'eth0', 'up']);
      await waitFor(() => clusterStatus()?.states.get(leader) === 'active' && fullyReplicated('mh'), `node ${leader} back in every ISR`, 60_000, 500);
      await ackedAtLeast(acked.length + 100, 'after healing');
    } finally {
      producer.kill('SIGTERM');
      await waitFor(() => done || producer.exitCode !== null, 'the producer to finish its sends', 90_000, 100);
    }
    process.stderr.write(`multihost: ${acked.length} records acknowledged, ${failed.length} sends failed (unknown outcome, not required)\n`);
    expect(acked.length).toBeGreaterThan(900);

    // Read everything back from the client host.
    const mustSee = path.join(dataDir, 'acked.txt');
    fs.writeFileSync(mustSee, acked.join('\n') + '\n');
    const read = spawnSync('ip', ['netns', 'exec', `${PREFIX}-client`, process.execPath, CLIENT, 'read', BOOTSTRAP, 'mh', '3', mustSee], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, CAIRN_LOG_LEVEL: 'warn' },
    });
    expect(read.status, read.stderr).toBe(0);
    const { values, complete } = JSON.parse(read.stdout.trim().split('\n').pop()!) as { values: string[]; complete: boolean };
    const seen = new Set(values);
    const lost = acked.filter((v) => !seen.has(v));
    expect(lost, `acknowledged but not in the log: ${lost.slice(0, 10).join(', ')}`).toEqual([]);
    expect(complete).toBe(true);
    // The idempotent producer writes each record once, retries and all.
    const doubled = values.filter((v) => !seen.delete(v));
    expect(doubled, `written more than once: ${doubled.slice(0, 10).join(', ')}`).toEqual([]);
  }, 420_000);
});
