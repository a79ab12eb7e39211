import * as path from 'node:path';
import { intOption, parse } from './args';
import { LocalCluster } from './local-cluster';
import { out } from './output';

export const DEV_HELP = `Usage: cairn dev [--nodes N] [--data-dir DIR] [--base-port P] [--internal-base-port Q]

Starts a local cluster on loopback for development: N nodes (default 3) in combined
controller+broker mode, clients on ports P, P+1, ... (default 9092), node-to-node services
(Raft, Controller, Replica) on their own ports Q, Q+1, ... (default P+100), data under
DIR/node-<id> (default ./data), each node's log in DIR/node-<id>/server.log. Ctrl-C stops it cleanly.`;

export async function devCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { nodes: { type: 'string', short: 'n' }, 'data-dir': { type: 'string' }, 'base-port': { type: 'string' }, 'internal-base-port': { type: 'string' } });
  const nodes = intOption(values, 'nodes', Number(process.env.CAIRN_DEV_NODES ?? 3));
  const basePort = intOption(values, 'base-port', 9092);
  const internalBase = intOption(values, 'internal-base-port', basePort + 100);
  const dataDir = path.resolve((values['data-dir'] as string | undefined) ?? 'data');
  const ports = (base: number) => Array.from({ length: nodes }, (_, i) => base + i);
  const cluster = new LocalCluster({ baseDir: dataDir, ports: ports(basePort), internalPorts: ports(internalBase) });
  let stopping = false;
  for (const n of cluster.nodes) {
    cluster.start(n.id).on('exit', (code, signal) => {
      if (!stopping) out(`node ${n.id} exited (${signal ?? `code ${code}`}); see ${path.join(n.dataDir, 'server.log')}`);
    });
  }
  try {
    await cluster.waitReady();
  } catch (err) {
    out((err as Error).message);
  }
  out(`Cairn is running: ${nodes} node(s), data in ${dataDir}`);
  out(`  bootstrap: ${cluster.bootstrap}`);
  out(`  internal:  ${cluster.nodes.map((n) => `127.0.0.1:${n.internalPort}`).join(',')}   (Raft, Controller, Replica: node-to-node only)`);
  out(`  try:       export PATH="$PWD/bin:$PATH" CAIRN_BOOTSTRAP=${cluster.bootstrap}`);
  out(`             cairn topics create demo --partitions 3`);
  out(`             seq 10 | cairn produce demo && cairn consume demo --from-beginning`);
  out(`  logs:      ${dataDir}/node-<id>/server.log   (Ctrl-C stops the cluster)`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      out('stopping...');
      cluster.stopAll('SIGTERM').then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
