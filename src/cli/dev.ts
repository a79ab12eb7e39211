import * as path from 'node:path';
import { intOption, parse } from './args';
import { LocalCluster } from './local-cluster';
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
  const cluster = new LocalCluster({ baseDir: dataDir, ports: Array.from({ length: nodes }, (_, i) => basePort + i) });
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
