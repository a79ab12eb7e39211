/**
 * deploy/ checked against the code (issue 21 item 1). There is no container engine or Kubernetes
 * here, so every manifest is parsed and held to what `cairn server --help` and
 * docs/configuration.md say exists: every flag, environment variable and config key it uses is
 * known, the settings load through the same loader a node uses (loadNodeConfig refuses unknown keys
 * and bad values), ports agree between listeners, container ports, services and probes, and
 * probes call the gRPC health service (`cairn health`). The Kubernetes start script and the systemd
 * install script are run for real (the first with a stand-in `cairn` that prints its arguments, the
 * second into a temporary root), and the Prometheus rules and Grafana dashboard may only name
 * metrics a node exports.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { CAIRN_MAIN } from '../../src/cli/local-cluster';
import { loadNodeConfig, parseProperties } from '../../src/server/config';
import { NodeMetrics, type NodeView } from '../../src/server/node-metrics';
import { MetadataImage } from '../../src/metadata/image';
import { silentLogger } from '../../src/common/io/logger';
import { mapDistinguishedName, parseMappingRules } from '../../src/security';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const read = (p: string) => fs.readFileSync(path.join(DEPLOY, p), 'utf8');

const serverHelp = spawnSync(process.execPath, [CAIRN_MAIN, 'server', '--help'], { encoding: 'utf8' }).stdout;
const configDocs = fs.readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
/** Every setting `cairn server --help` lists, as its flag name (node-id). */
const FLAGS = new Set([...serverHelp.matchAll(/--([a-z0-9][a-z0-9-]*)/g)].map((m) => m[1]!));
/** Environment variables a node or the CLI reads besides the settings. */
const OTHER_ENV = new Set(['CAIRN_CONFIG', 'CAIRN_LOG_LEVEL', 'CAIRN_BOOTSTRAP', 'CAIRN_COMMAND_CONFIG']);
const keyOfFlag = (flag: string) => flag.replace(/-/g, '.');
const flagOfEnv = (env: string) =>
  env
    .replace(/^CAIRN_/, '')
    .toLowerCase()
    .replace(/_/g, '-');

/** A config key is known when `cairn server --help` lists its flag and docs/configuration.md documents it. */
function expectKnownKey(key: string, where: string): void {
  expect(FLAGS.has(key.replace(/\./g, '-')), `${where}: ${key} is not in cairn server --help`).toBe(true);
  expect(configDocs.includes(`\`${key}\``), `${where}: ${key} is not in docs/configuration.md`).toBe(true);
}

function expectKnownEnv(name: string, where: string): void {
  if (OTHER_ENV.has(name)) return;
  expect(name, where).toMatch(/^CAIRN_[A-Z0-9_]+$/);
  expectKnownKey(keyOfFlag(flagOfEnv(name)), `${where} (${name})`);
}

/** The flags of an argument list: --key value pairs (the server's own flags only). */
function flagsOf(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z0-9-]+)$/.exec(args[i]!);
    if (!m) continue;
    // A flag followed by another flag (or nothing) is a switch: --live.
    if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) out[m[1]!] = args[++i]!;
    else out[m[1]!] = 'true';
  }
  return out;
}

/** Every metric name a node exports (a NodeMetrics registry with an empty node behind it). */
async function exportedMetrics(): Promise<Set<string>> {
  const view: NodeView = {
    image: () => MetadataImage.EMPTY,
    partitions: () => [],
    minInsyncReplicas: () => 1,
    quorum: () => ({ active: true, leaderId: 1, term: 1, commitIndex: 0, voterLag: [{ id: 2, lag: 0 }] }),
    groupOffsets: () => [],
    wallMs: () => 0,
  };
  const metrics = new NodeMetrics(1, view, silentLogger);
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

describe('deploy/docker', () => {
  const dockerfile = read('docker/Dockerfile');
  const compose = parseYaml(read('docker/compose.yaml'), { merge: true }) as {
    services: Record<string, { environment: Record<string, string>; ports: string[]; volumes: string[]; hostname: string; build: { context: string; dockerfile: string } }>;
    volumes: Record<string, unknown>;
  };

  it('the Dockerfile builds in two stages from Node 20 slim, runs as a non-root user with a data volume, and checks health through the gRPC health service', () => {
    const from = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    expect(from.length).toBeGreaterThanOrEqual(2);
    for (const image of from) expect(image).toMatch(/^node:20[-.a-z0-9]*-slim$/);
    expect(dockerfile).toMatch(/^USER cairn$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/var\/lib\/cairn"\]$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*CMD \["cairn", "health", "--bootstrap", "127\.0\.0\.1:9092"\]/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["cairn"\]$/m);
    const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)![1]!.split(/\s+/).map(Number);
    expect(exposed.sort()).toEqual([9092, 9093, 9644]);
    // Everything it copies from the build context exists in the repository.
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1]!.split(/\s+/)) expect(fs.existsSync(path.join(ROOT, src)), src).toBe(true);
    for (const m of dockerfile.matchAll(/^ENV ([\s\S]*?)(?=^\S)/gm)) for (const v of m[1]!.matchAll(/(CAIRN_[A-Z_]+)=/g)) expectKnownEnv(v[1]!, 'Dockerfile ENV');
    // Its build context is the repository root, as compose.yaml says.
    for (const s of Object.values(compose.services)) expect(path.resolve(DEPLOY, 'docker', s.build.context, s.build.dockerfile)).toBe(path.join(DEPLOY, 'docker/Dockerfile'));
  });

  it('compose.yaml: three nodes whose environment loads as a node config, each a voter at its own hostname, ports published as advertised, data on named volumes', () => {
    const services = Object.entries(compose.services);
    expect(services).toHaveLength(3);
    const hostPorts = new Set<string>();
    for (const [name, s] of services) {
      for (const k of Object.keys(s.environment)) expectKnownEnv(k, `compose ${name}`);
      const env = Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, String(v)]));
      const config = loadNodeConfig({}, env);
      expect(s.hostname).toBe(name);
      // Every node is a voter, reached at its hostname's internal listener.
      const self = config.voters.find((v) => v.id === config.nodeId)!;
      expect(self).toEqual({ id: config.nodeId, host: s.hostname, port: config.internal!.listen.port });
      expect(config.voters.map((v) => v.host).sort()).toEqual(services.map(([n]) => n).sort());
      // Published ports: the client listener at the advertised host port, and the metrics listener.
      const published = new Map(s.ports.map((p) => [Number(p.split(':')[1]), Number(p.split(':')[0])]));
      expect(published.get(config.listen.port)).toBe(config.advertised.port);
      expect(published.has(config.metrics!.port)).toBe(true);
      for (const p of s.ports) {
        expect(hostPorts.has(p.split(':')[0]!), `host port ${p} published twice`).toBe(false);
        hostPorts.add(p.split(':')[0]!);
      }
      expect(/^INTERNAL:PLAINTEXT|INTERNAL:SSL/.test(env.CAIRN_LISTENER_SECURITY_PROTOCOL_MAP!.split(',').find((x) => x.startsWith('INTERNAL'))!)).toBe(true);
      // The image exposes what the node listens on; the data directory is on a named volume.
      for (const port of [config.listen.port, config.internal!.listen.port, config.metrics!.port]) expect(dockerfile).toMatch(new RegExp(`^EXPOSE .*\\b${port}\\b`, 'm'));
      const [volume, mount] = s.volumes[0]!.split(':');
      expect(compose.volumes).toHaveProperty(volume!);
      expect(config.dataDir.startsWith(mount! + '/')).toBe(true);
    }
    expect(new Set(services.map(([, s]) => s.environment.CAIRN_NODE_ID)).size).toBe(3);
  });
});

describe('deploy/kubernetes', () => {
  const docs = fs
    .readdirSync(path.join(DEPLOY, 'kubernetes'))
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) =>
      parseAllDocuments(read(`kubernetes/${f}`)).map((d) => {
        expect(d.errors, f).toEqual([]);
        return d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; spec: any; data?: Record<string, string> }; // eslint-disable-line @typescript-eslint/no-explicit-any
      }),
    );
  const one = (kind: string, name?: string) => {
    const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
    expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
    return found[0]!;
  };
  const sts = one('StatefulSet');
  const pod = sts.spec.template;
  const container = pod.spec.containers[0];
  const configMap = one('ConfigMap');
  const namespace = one('Namespace').metadata.name;

  it('kustomization.yaml lists every manifest, and every object is in the namespace', () => {
    const k = parseYaml(read('kubernetes/kustomization.yaml')) as { resources: string[] };
    expect(k.resources.sort()).toEqual(
      fs
        .readdirSync(path.join(DEPLOY, 'kubernetes'))
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .sort(),
    );
    for (const d of docs) if (d.kind !== 'Namespace') expect(d.metadata.namespace, `${d.kind} ${d.metadata.name}`).toBe(namespace);
  });

  it('a StatefulSet with volume claim templates, a headless Service that publishes unready pods, a client Service and a PodDisruptionBudget of one', () => {
    const labels = pod.metadata.labels;
    const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(matches(sts.spec.selector.matchLabels)).toBe(true);
    const headless = one('Service', sts.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(matches(headless.spec.selector)).toBe(true);
    const client = docs.find((d) => d.kind === 'Service' && d.metadata.name !== sts.spec.serviceName)!;
    expect(matches(client.spec.selector)).toBe(true);
    // The quorum needs a majority before any pod is ready: pods must start in parallel.
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    const pdb = one('PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
    const claim = sts.spec.volumeClaimTemplates[0];
    expect(container.volumeMounts.map((m: { name: string }) => m.name)).toContain(claim.metadata.name);
    // Service ports point at named container ports.
    const containerPorts = new Map<string, number>(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    for (const svc of [headless, client]) for (const p of svc.spec.ports) expect(containerPorts.get(p.targetPort), `${svc.metadata.name} ${p.name}`).toBe(p.port);
    // Config from the ConfigMap, TLS from a Secret, both mounted.
    const volumes = new Map<string, any>(pod.spec.volumes.map((v: { name: string }) => [v.name, v])); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect([...volumes.values()].find((v) => v.configMap)?.configMap.name).toBe(configMap.metadata.name);
    expect([...volumes.values()].find((v) => v.secret)?.secret.secretName).toBe('cairn-tls');
    for (const m of container.volumeMounts) expect(volumes.has(m.name) || m.name === claim.metadata.name, m.name).toBe(true);
  });

  it("start.sh gives node ids from the pod ordinal and advertises the pod's DNS name; server.properties loads as each node's config, ports and voters agreeing with the manifests", () => {
    const dir = tmpDir('cairn-k8s-');
    fs.writeFileSync(path.join(dir, 'server.properties'), configMap.data!['server.properties']!);
    // A stand-in `cairn` on PATH that prints the arguments start.sh execs it with.
    fs.writeFileSync(path.join(dir, 'cairn'), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'start.sh'), configMap.data!['start.sh']!);
    const props = parseProperties(configMap.data!['server.properties']!);
    for (const key of Object.keys(props)) if (!/^listener\.name\./.test(key)) expectKnownKey(key, 'configmap server.properties');
    const containerPorts = new Map<string, number>(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    const mounts = new Map<string, string>(container.volumeMounts.map((m: { mountPath: string; name: string }) => [m.mountPath, m.name]));
    expect(container.command).toEqual(['sh', '/etc/cairn/start.sh']);
    for (let ordinal = 0; ordinal < sts.spec.replicas; ordinal++) {
      const host = `${sts.metadata.name}-${ordinal}`;
      const run = spawnSync('sh', [path.join(dir, 'start.sh')], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, HOSTNAME: host, POD_NAMESPACE: namespace } });
      expect(run.status, run.stderr).toBe(0);
      const args = run.stdout.trim().split('\n');
      expect(args[0]).toBe('server');
      const flags = flagsOf(args);
      for (const f of Object.keys(flags)) if (f !== 'config') expect(FLAGS.has(f), f).toBe(true);
      expect(flags.config).toBe('/etc/cairn/server.properties');
      expect(mounts.get(flags.config!)).toBe('config');
      const config = loadNodeConfig({ ...flags, config: path.join(dir, 'server.properties') }, {});
      expect(config.nodeId).toBe(ordinal + 1);
      const fqdn = `${host}.${sts.spec.serviceName}.${namespace}.svc.cluster.local`;
      expect(config.advertised).toEqual({ host: fqdn, port: containerPorts.get('client') });
      expect(config.internal!.advertised).toEqual({ host: fqdn, port: containerPorts.get('internal') });
      expect(config.voters.find((v) => v.id === config.nodeId)).toEqual({ id: config.nodeId, host: fqdn, port: containerPorts.get('internal') });
      expect(config.listen.port).toBe(containerPorts.get('client'));
      expect(config.metrics!.port).toBe(containerPorts.get('metrics'));
      expect(config.protocols).toEqual({ client: 'SSL', internal: 'SSL' });
      // The README's admin certificate (CN=cairn-admin) maps to the super user the config names.
      expect(`User:${mapDistinguishedName(parseMappingRules(config.ssl!.principalMappingRules), 'CN=cairn-admin,O=Cairn')}`).toBe(config.superUsers[0]);
      // The TLS files are in the Secret's mount; the data directory is on the claim.
      const tlsMount = container.volumeMounts.find((m: { name: string }) => m.name === 'tls').mountPath as string;
      for (const f of [config.ssl!.certificateFile, config.ssl!.keyFile, config.ssl!.caFile]) expect(path.dirname(f)).toBe(tlsMount);
      const dataMount = container.volumeMounts.find((m: { name: string }) => m.name === sts.spec.volumeClaimTemplates[0].metadata.name).mountPath as string;
      expect(config.dataDir.startsWith(dataMount + '/')).toBe(true);
    }
    expect(loadNodeConfig({ config: path.join(dir, 'server.properties'), 'node-id': '1', 'advertised-listeners': 'CLIENT://a:9092,INTERNAL://a:9093' }, {}).voters).toHaveLength(sts.spec.replicas);
  });

  it('readiness, liveness and startup probes ask the gRPC health service on the client port, with the probe client settings from the ConfigMap', () => {
    const clientPort = container.ports.find((p: { name: string }) => p.name === 'client').containerPort;
    const probes = { readinessProbe: false, livenessProbe: true, startupProbe: true };
    for (const [probe, live] of Object.entries(probes)) {
      const cmd = container[probe].exec.command as string[];
      expect(cmd.slice(0, 2), probe).toEqual(['cairn', 'health']);
      expect(flagsOf(cmd).bootstrap).toBe(`127.0.0.1:${clientPort}`);
      // Readiness waits for SERVING; liveness only for an answer (a node catching up is alive).
      expect(cmd.includes('--live'), probe).toBe(live);
      const commandConfig = flagsOf(cmd)['command-config']!;
      const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === commandConfig);
      expect(mount?.subPath).toBeDefined();
      const probeProps = parseProperties(configMap.data![mount.subPath]!);
      expect(probeProps['security.protocol']).toBe('SSL');
    }
    const help = spawnSync(process.execPath, [CAIRN_MAIN, 'health', '--help'], { encoding: 'utf8' }).stdout;
    for (const flag of ['--bootstrap', '--live', '--command-config']) expect(help).toContain(flag);
  });
});

describe('deploy/systemd', () => {
  const unit = read('systemd/cairn.service');
  const setting = (name: string) => [...unit.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!);

  it('the unit restarts on failure, raises LimitNOFILE, runs as a dedicated user and is hardened', () => {
    expect(setting('User')).toEqual(['cairn']);
    expect(setting('Restart')).toEqual(['on-failure']);
    expect(Number(setting('LimitNOFILE')[0])).toBeGreaterThanOrEqual(65536);
    for (const [k, v] of Object.entries({ NoNewPrivileges: 'true', ProtectSystem: 'strict', ProtectHome: 'true', PrivateTmp: 'true', KillSignal: 'SIGTERM' })) expect(setting(k), k).toEqual([v]);
    expect(setting('ReadWritePaths')).toEqual(['/var/lib/cairn']);
    const exec = setting('ExecStart')[0]!.split(/\s+/);
    expect(exec.slice(1, 3)).toEqual(['/opt/cairn/dist/src/cli/main.js', 'server']);
    expect(flagsOf(exec).config).toBe('/etc/cairn/server.properties');
    expect(setting('EnvironmentFile')).toEqual(['/etc/cairn/cairn.env']);
  });

  it('install.sh installs a runnable tree into a root; the installed settings load as node 2 of three voters', () => {
    const root = tmpDir('cairn-systemd-');
    const run = spawnSync(
      'sh',
      [path.join(DEPLOY, 'systemd/install.sh'), '--root', root, '--no-build', '--node-id', '2', '--address', '10.0.0.2', '--voters', '1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093'],
      {
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(fs.readFileSync(path.join(root, 'etc/systemd/system/cairn.service'), 'utf8')).toBe(unit);
    const env = parseProperties(fs.readFileSync(path.join(root, 'etc/cairn/cairn.env'), 'utf8'));
    for (const k of Object.keys(env)) expectKnownEnv(k, 'cairn.env');
    const propsFile = path.join(root, 'etc/cairn/server.properties');
    for (const key of Object.keys(parseProperties(fs.readFileSync(propsFile, 'utf8')))) expectKnownKey(key, 'systemd server.properties');
    const config = loadNodeConfig({ config: propsFile }, env);
    expect(config.nodeId).toBe(2);
    expect(config.advertised).toEqual({ host: '10.0.0.2', port: 9092 });
    expect(config.voters.map((v) => `${v.id}@${v.host}:${v.port}`)).toEqual(['1@10.0.0.1:9093', '2@10.0.0.2:9093', '3@10.0.0.3:9093']);
    expect(config.dataDir.startsWith(setting('ReadWritePaths')[0]! + '/')).toBe(true);
    // The installed tree runs on its own (its node_modules and proto/ are complete).
    const installed = path.join(root, 'opt/cairn/dist/src/cli/main.js');
    const health = spawnSync(process.execPath, [installed, 'health', '--bootstrap', '127.0.0.1:1', '--timeout-ms', '200'], { encoding: 'utf8' });
    expect(health.stdout.trim()).toBe('UNREACHABLE');
    const help = spawnSync(process.execPath, [installed, 'server', '--help'], { encoding: 'utf8' });
    expect(help.stdout).toBe(serverHelp);
  });
});

describe('deploy/prometheus and deploy/grafana', () => {
  it('the rules and the dashboard name only metrics a node exports (or the rules record)', async () => {
    const exported = await exportedMetrics();
    const rules = parseYaml(read('prometheus/cairn-rules.yaml')) as { groups: { rules: { record?: string; alert?: string; expr: string }[] }[] };
    const recorded = new Set(rules.groups.flatMap((g) => g.rules.map((r) => r.record).filter((r): r is string => r !== undefined)));
    const dashboard = JSON.parse(read('grafana/cairn-dashboard.json')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const expressions = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
    expect(expressions.length).toBeGreaterThan(20);
    for (const expr of expressions) {
      for (const m of expr.matchAll(/\b(cairn[_:][a-z0-9_:]*)/g)) {
        const name = m[1]!;
        expect(exported.has(name) || recorded.has(name), `${name} in "${expr}"`).toBe(true);
      }
    }
    const promtool = spawnSync('promtool', ['check', 'rules', path.join(DEPLOY, 'prometheus/cairn-rules.yaml')], { encoding: 'utf8' });
    if (promtool.error === undefined) expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);
    const config = spawnSync('promtool', ['check', 'config', path.join(DEPLOY, 'prometheus/prometheus.yml')], { encoding: 'utf8' });
    if (config.error === undefined) expect(config.status, config.stdout + config.stderr).toBe(0);
  });
});
