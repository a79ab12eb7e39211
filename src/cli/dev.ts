import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Admin } from '../client/admin';
import { intOption, parse } from './args';
import { out } from './output';

export const DEV_HELP = `Usage: cairn dev [--nodes N] [--data-dir DIR] [--base-port P]

Starts a local cluster on loopback for development: N nodes (default 3) in combined
controller+broker mode, on ports P, P+1, ... (default 9092), data under DIR/node-<id>
(default ./data), each node's log in DIR/node-<id>/server.log. Ctrl-C stops it cleanly.`;

export async function devCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { nodes: { type: 'string', short: 'n' }, 'data-dir': { type: 'string' }, 'base-port': { type: 'string' } });
  const nodes = intOption(values, 'nodes', Number(process.env.CAIRN_DEV_NODES ?? 3));
  const basePort = intOption(values, 'base-port', 9092);
  const dataDir = path.resolve((values['data-dir'] as string | undefined) ?? 'data');
  const ids = Array.from({ length: nodes }, (_, i) => i + 1);
  const voters = ids.map((id) => `${id}@127.0.0.1:${basePort + id - 1}`).join(',');
  const main = path.resolve(__dirname, 'main.js');
  const children: ChildProcess[] = [];
  for (const id of ids) {
    const dir = path.join(dataDir, `node-${id}`);
    fs.mkdirSync(dir, { recursive: true });
    const logFile = fs.openSync(path.join(dir, 'server.log'), 'a');
    const child = spawn(process.execPath, [main, 'server', '--node-id', String(id), '--listeners', `127.0.0.1:${basePort + id - 1}`, '--log-dir', dir, '--controller-quorum-voters', voters], {
      stdio: ['ignore', logFile, logFile],
    });
    child.on('exit', (code, signal) => {
      if (!stopping) out(`node ${id} exited (${signal ?? `code ${code}`}); see ${path.join(dir, 'server.log')}`);
    });
    children.push(child);
  }
  let stopping = false;
  const bootstrap = ids.map((id) => `127.0.0.1:${basePort + id - 1}`).join(',');
  const admin = new Admin({ bootstrap });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const meta = await admin.describeCluster();
        if (meta.brokers.length >= nodes) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        out(`the cluster did not come up within 30 s; see ${dataDir}/node-*/server.log`);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    admin.close();
  }
  out(`Cairn is running: ${nodes} node(s), data in ${dataDir}`);
  out(`  bootstrap: ${bootstrap}`);
  out(`  try:       export PATH="$PWD/bin:$PATH"; cairn topics create demo --partitions 3`);
  out(`             seq 10 | cairn produce demo && cairn consume demo --from-beginning`);
  out(`  logs:      ${dataDir}/node-<id>/server.log   (Ctrl-C stops the cluster)`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      out('stopping...');
      let left = children.length;
      for (const c of children) {
        if (c.exitCode !== null || c.signalCode !== null) {
          if (--left === 0) resolve();
          continue;
        }
        c.once('exit', () => {
          if (--left === 0) resolve();
        });
        c.kill('SIGTERM');
      }
      if (left === 0) resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
