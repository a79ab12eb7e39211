import * as fs from 'node:fs';
import * as path from 'node:path';
import { intOption, parse } from './args';
import { LocalCluster } from './local-cluster';
import { out } from './output';

export const DEV_HELP = `Usage: cairn dev [--nodes N] [--data-dir DIR] [--base-port P] [--internal-base-port Q]
                 [--metrics-base-port M] [--secure]

Starts a local cluster on loopback for development: N nodes (default 3) in combined
controller+broker mode, clients on ports P, P+1, ... (default 9092), node-to-node services
(Raft, Controller, Replica) on their own ports Q, Q+1, ... (default P+100), Prometheus
metrics at http://127.0.0.1:M/metrics, M+1, ... (default 9644), data under
DIR/node-<id> (default ./data), each node's log in DIR/node-<id>/server.log. Ctrl-C stops it cleanly.

--secure: TLS and mutual TLS on every listener. A CA, a certificate per node and an admin
client certificate are made under DIR/tls (once; later runs reuse them), and the admin's
client settings are written to DIR/admin.properties: pass it to any command with
--command-config DIR/admin.properties (or export CAIRN_COMMAND_CONFIG). See docs/security.md.`;

export async function devCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    nodes: { type: 'string', short: 'n' },
    'data-dir': { type: 'string' },
    'base-port': { type: 'string' },
    'internal-base-port': { type: 'string' },
    'metrics-base-port': { type: 'string' },
    secure: { type: 'boolean' },
  });
  const nodes = intOption(values, 'nodes', Number(process.env.CAIRN_DEV_NODES ?? 3));
  const basePort = intOption(values, 'base-port', 9092);
  const internalBase = intOption(values, 'internal-base-port', basePort + 100);
  const metricsBase = intOption(values, 'metrics-base-port', 9644);
  const dataDir = path.resolve((values['data-dir'] as string | undefined) ?? 'data');
  const ports = (base: number) => Array.from({ length: nodes }, (_, i) => base + i);
  const secure = values.secure === true;
  const cluster = new LocalCluster({ baseDir: dataDir, ports: ports(basePort), internalPorts: ports(internalBase), metricsPorts: ports(metricsBase), secure });
  const adminProperties = path.join(dataDir, 'admin.properties');
  if (cluster.certificates) {
    const c = cluster.certificates;
    fs.writeFileSync(
      adminProperties,
      [
        "# Client settings of the dev cluster's admin (User:admin, a super user): cairn <command> --command-config " + adminProperties,
        `bootstrap.servers=${cluster.bootstrap}`,
        'security.protocol=SSL',
        `ssl.ca.location=${c.caFile}`,
        `ssl.certificate.location=${c.admin.certFile}`,
        `ssl.key.location=${c.admin.keyFile}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  }
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
  out(`Cairn is running: ${nodes} node(s), data in ${dataDir}${secure ? ', TLS and mutual TLS on every listener' : ''}`);
  out(`  bootstrap: ${cluster.bootstrap}`);
  out(`  internal:  ${cluster.nodes.map((n) => `127.0.0.1:${n.internalPort}`).join(',')}   (Raft, Controller, Replica: node-to-node only${secure ? ', cluster certificates only' : ''})`);
  out(`  metrics:   ${cluster.nodes.map((n) => `http://127.0.0.1:${n.metricsPort}/metrics`).join(' ')}   (Prometheus; docs/operations.md)`);
  if (secure) {
    out(`  TLS:       CA and certificates in ${cluster.certificates!.dir}; the admin client's settings in ${adminProperties}`);
    out(`  try:       export PATH="$PWD/bin:$PATH" CAIRN_COMMAND_CONFIG=${adminProperties}`);
  } else {
    out(`  try:       export PATH="$PWD/bin:$PATH" CAIRN_BOOTSTRAP=${cluster.bootstrap}`);
  }
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
