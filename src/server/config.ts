import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_MAX_PARTITIONS } from '../controller';
import type { FlushPolicy } from '../storage';
import { bool, ConfigError, type Endpoint, int, parseEndpoint } from './config-values';
import { type ListenerSettings, parseListeners, parseSsl, PER_LISTENER_KEY, principals, type SslConfig } from './listener-config';

export { ConfigError, type Endpoint, parseEndpoint } from './config-values';
export type { ClientAuth, ListenerSettings, SecurityProtocol, SslConfig } from './listener-config';

export type Role = 'broker' | 'controller';

export interface Voter extends Endpoint {
  id: number;
}

/** Everything one `cairn server` process is configured with (design brief §1). */
export interface NodeConfig extends ListenerSettings {
  nodeId: number;
  roles: Role[];
  /** Present when any listener is SSL. */
  ssl: SslConfig | null;
  /** super.users: principals allowed everything (`User:admin;User:ops`, Kafka's separator). */
  superUsers: string[];
  /**
   * cluster.principals: the principals of cluster members, the only ones the node-to-node services
   * (Raft, Controller, Replica, and everything on the internal listener) answer once any listener
   * is SSL. Empty: the principal of this node's own certificate (all nodes share one identity).
   */
  clusterPrincipals: string[];
  /** authorization.enable: check every client request against the ACLs (docs/security.md). */
  authorizationEnable: boolean;
  /** allow.everyone.if.no.acl.found: what a resource no ACL names allows when authorization is on. */
  allowEveryoneIfNoAclFound: boolean;
  /** sasl.session.lifetime.ms: how long a SCRAM session token is good for. */
  saslSessionLifetimeMs: number;
  /** quota.window.num and quota.window.size.seconds: client quota rates are measured over this many samples of this length. */
  quotaWindowNum: number;
  quotaWindowSizeSeconds: number;
  dataDir: string;
  /** The controller quorum: every voter's id and address. */
  voters: Voter[];
  /** How this node reaches another node, when that differs from what the node advertises (proxies in the chaos suite). */
  peerOverrides: Map<number, Endpoint>;
  rack: string | null;
  /** metrics.listener: where `/metrics` (Prometheus) is served; null: nowhere. */
  metrics: Endpoint | null;
  numPartitions: number;
  /** max.partitions: partitions the cluster may hold in all; a create past it gets POLICY_VIOLATION. */
  maxPartitions: number;
  /** -1: min(3, live brokers). */
  defaultReplicationFactor: number;
  flushPolicy: FlushPolicy;
  replicaLagTimeMaxMs: number;
  replicaFetchWaitMaxMs: number;
  brokerSessionTimeoutMs: number;
  brokerHeartbeatIntervalMs: number;
  /** Raft election timeout (the randomized range starts here and ends at twice this). */
  electionTimeoutMs: number;
  raftHeartbeatIntervalMs: number;
  metadataSnapshotEvery: number;
  /** Broker-wide defaults for topic configs, by topic-config name (log.retention.ms → retention.ms). */
  logDefaults: Record<string, string>;
  uncleanLeaderElection: boolean;
  autoLeaderRebalance: boolean;
  leaderImbalanceCheckIntervalMs: number;
  logRetentionCheckIntervalMs: number;
  offsetsTopicPartitions: number;
  offsetsTopicReplicationFactor: number;
  groupSessionTimeoutMs: number;
  groupHeartbeatIntervalMs: number;
  /** transaction.state.log.num.partitions, transaction.state.log.replication.factor */
  transactionTopicPartitions: number;
  transactionTopicReplicationFactor: number;
  /** transaction.max.timeout.ms: the longest transaction timeout a producer may ask for. */
  transactionMaxTimeoutMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms */
  transactionAbortCheckIntervalMs: number;
}

/** `1@127.0.0.1:9093,2@127.0.0.1:9095` (Kafka's controller.quorum.voters format). */
export function parseVoters(raw: string): Voter[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((v) => {
    const m = /^(\d+)@(.+)$/.exec(v.trim());
    if (!m) throw new ConfigError(`controller.quorum.voters: expected id@host:port, got "${v}"`);
    return { id: Number(m[1]), ...parseEndpoint(m[2]!, 'controller.quorum.voters') };
  });
}

/** Kafka-style `.properties`: key=value lines, # comments. */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const i = line.search(/[=:]/);
    if (i < 0) throw new ConfigError(`config line without "=": ${line}`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Flag and env names for every key: --node-id / CAIRN_NODE_ID ↔ node.id. */
export const KEYS: Record<string, string> = {
  'node.id': 'numeric id of this node, unique in the cluster',
  'process.roles': 'broker, controller, or broker,controller',
  listeners: 'host:port the gRPC server binds for clients',
  'advertised.listeners': 'host:port clients are told to use (default: listeners)',
  'internal.listeners':
    'host:port of a second gRPC server for node-to-node services (Raft, Controller, Replica), which the client listener then no longer serves (default: none, one listener serves all)',
  'advertised.internal.listeners': 'host:port other nodes are told to use for internal.listeners (default: internal.listeners)',
  'listener.security.protocol.map': 'NAME:PROTOCOL,... the security protocol of each named listener, PLAINTEXT or SSL (default: a listener named SSL is SSL, others PLAINTEXT)',
  'inter.broker.listener.name': 'with two named listeners: the one for node-to-node services (Raft, Controller, Replica)',
  'controller.listener.names': 'the listener of the controller services; Cairn serves them with the inter-broker ones, so it must name the same listener',
  'ssl.certificate.location': "PEM file with this node's certificate (chain), used by its SSL listeners and as its client certificate toward other nodes",
  'ssl.key.location': "PEM file with the certificate's private key",
  'ssl.ca.location': 'PEM file with the CA certificate(s) client and peer certificates must chain to',
  'ssl.client.auth':
    'required (mutual TLS; default), requested or none: whether SSL listeners ask clients for a certificate; listener.name.<name>.ssl.client.auth sets it for one listener (requested on the client listener lets password users in)',
  'ssl.principal.mapping.rules': 'RULE:pattern/replacement/[LU],...,DEFAULT (Kafka KIP-371): how a certificate subject becomes a principal name (default DEFAULT: the whole DN)',
  'ssl.endpoint.identification.algorithm': "https (default): check that a peer node's certificate names the address dialled; empty: do not",
  'ssl.reload.interval.ms': 'how often the certificate, key and CA files are re-read; a rotated certificate is used without a restart (default 30000)',
  'super.users': 'User:NAME;User:NAME2 principals allowed every operation',
  'authorization.enable': 'true: check every client request against the ACLs (cairn acls); default false',
  'sasl.session.lifetime.ms': 'how long a session token from SCRAM authentication is good for; the client authenticates again before it runs out (default 3600000)',
  'quota.window.num': 'client quotas are measured over this many samples (default 11)',
  'quota.window.size.seconds': 'the length of one quota sample (default 1)',
  'allow.everyone.if.no.acl.found': 'with authorization on: whether a resource no ACL names is open to everyone (default false)',
  'cluster.principals': "User:NAME,... principals of cluster members, the only ones node-to-node services answer once TLS is on (default: this node's own certificate's principal)",
  'log.dir': 'data directory',
  'controller.quorum.voters': 'id@host:port,... of the controllers (the bootstrap voters; a controller not listed observes until cairn cluster add-controller)',
  'peer.addresses': 'id@host:port,... how this node reaches other nodes when it differs from what they advertise',
  'broker.rack': 'rack of this broker, for rack-aware placement',
  'metrics.listener': 'host:port of the Prometheus endpoint (/metrics over HTTP); port 0 picks a free one (default: none, metrics off)',
  'num.partitions': 'default partition count of new topics',
  'max.partitions': 'partitions the whole cluster may hold; a create that would pass it is refused (POLICY_VIOLATION)',
  'default.replication.factor': 'default replication factor of new topics (-1: min(3, brokers known to the cluster))',
  'log.flush.policy': 'fsync (acknowledge after fsync; default) or interval',
  'log.flush.interval.ms': 'with log.flush.policy=interval: how often to fsync',
  'replica.lag.time.max.ms': 'a follower not caught up for this long leaves the ISR',
  'replica.fetch.wait.max.ms': "how long a follower's fetch may wait on the leader for new data",
  'broker.session.timeout.ms': 'a broker silent for this long is fenced',
  'broker.heartbeat.interval.ms': 'how often brokers heartbeat to the controller',
  'controller.quorum.election.timeout.ms': 'Raft election timeout',
  'controller.quorum.heartbeat.interval.ms': 'Raft leader heartbeat interval',
  'metadata.snapshot.max.entries': 'take a metadata snapshot after this many log entries',
  'unclean.leader.election.enable': 'cluster default for electing out-of-sync replicas',
  'auto.leader.rebalance.enable': 'move leadership back to preferred replicas',
  'leader.imbalance.check.interval.seconds': 'how often preferred leaders are checked',
  'log.retention.check.interval.ms': 'how often retention and compaction run',
  'offsets.topic.num.partitions': 'partitions of __consumer_offsets, made when a group first needs it',
  'offsets.topic.replication.factor': 'replication factor of __consumer_offsets (-1: min(3, brokers))',
  'group.consumer.session.timeout.ms': 'a consumer group member not heard from for this long is removed',
  'group.consumer.heartbeat.interval.ms': 'how often consumer group members are told to heartbeat',
  'transaction.state.log.num.partitions': 'partitions of __transaction_state, made when a transactional producer first needs it',
  'transaction.state.log.replication.factor': 'replication factor of __transaction_state (-1: min(3, brokers))',
  'transaction.max.timeout.ms': 'the longest transaction.timeout.ms a producer may ask for',
  'transaction.abort.timed.out.transaction.cleanup.interval.ms': 'how often the transaction coordinator aborts transactions past their timeout',
};

const LOG_DEFAULT_KEYS: Record<string, string> = {
  'log.segment.bytes': 'segment.bytes',
  'log.roll.ms': 'segment.ms',
  'log.retention.ms': 'retention.ms',
  'log.retention.bytes': 'retention.bytes',
  'log.cleanup.policy': 'cleanup.policy',
  'message.max.bytes': 'max.message.bytes',
  'log.message.timestamp.type': 'message.timestamp.type',
  'log.message.timestamp.before.max.ms': 'message.timestamp.before.max.ms',
  'log.message.timestamp.after.max.ms': 'message.timestamp.after.max.ms',
  'log.index.interval.bytes': 'index.interval.bytes',
  'log.cleaner.delete.retention.ms': 'delete.retention.ms',
  'min.insync.replicas': 'min.insync.replicas',
};

export const flagName = (key: string) => key.replace(/\./g, '-');
export const envName = (key: string) => 'CAIRN_' + key.replace(/\./g, '_').toUpperCase();

/**
 * Builds a NodeConfig from, in increasing precedence: defaults, a config file (`.properties` or
 * JSON), CAIRN_* environment variables, and flags.
 */
export function loadNodeConfig(flags: Record<string, string>, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const props: Record<string, string> = {};
  const configFile = flags.config ?? env.CAIRN_CONFIG;
  if (configFile) {
    const text = fs.readFileSync(configFile, 'utf8');
    Object.assign(props, configFile.endsWith('.json') ? Object.fromEntries(Object.entries(JSON.parse(text)).map(([k, v]) => [k, String(v)])) : parseProperties(text));
  }
  for (const key of [...Object.keys(KEYS), ...Object.keys(LOG_DEFAULT_KEYS)]) {
    const e = env[envName(key)];
    if (e !== undefined) props[key] = e;
    const f = flags[flagName(key)] ?? flags[key];
    if (f !== undefined) props[key] = f;
  }
  // Kafka's per-listener override: listener.name.<name>.ssl.client.auth (flag --listener-name-<name>-ssl-client-auth).
  for (const [k, v] of [
    ...Object.entries(env).map(
      ([k, v]) =>
        [
          k
            .replace(/^CAIRN_/, '')
            .toLowerCase()
            .replace(/_/g, '.'),
          v,
        ] as const,
    ),
    ...Object.entries(flags).map(([k, v]) => [k.replace(/-/g, '.'), v] as const),
  ]) {
    const m = /^listener\.name\.([a-z0-9]+)\.ssl\.client\.auth$/.exec(k);
    if (m && v !== undefined) props[`listener.name.${m[1]}.ssl.client.auth`] = v;
  }
  for (const key of Object.keys(props)) {
    if (PER_LISTENER_KEY.test(key)) continue;
    if (!(key in KEYS) && !(key in LOG_DEFAULT_KEYS)) throw new ConfigError(`unknown config "${key}"; known: ${[...Object.keys(KEYS), ...Object.keys(LOG_DEFAULT_KEYS)].join(', ')}`);
  }
  const nodeId = int(props, 'node.id', 1);
  const roles = (props['process.roles'] ?? 'broker,controller').split(',').map((r) => r.trim()) as Role[];
  for (const r of roles) if (r !== 'broker' && r !== 'controller') throw new ConfigError(`process.roles: unknown role "${r}"`);
  const { listen, advertised, internal, listenerNames, protocols } = parseListeners(props);
  const ssl = parseSsl(props, protocols, listenerNames);
  // Voters are reached where the Raft and Controller services are: the internal listener if any.
  const selfVoter = internal?.advertised ?? advertised;
  const voters = parseVoters(props['controller.quorum.voters'] ?? (roles.includes('controller') ? `${nodeId}@${selfVoter.host}:${selfVoter.port}` : ''));
  if (voters.length === 0) throw new ConfigError('controller.quorum.voters is empty: a broker needs to know the controllers');
  // A controller outside controller.quorum.voters starts as an observer of the quorum, to be
  // made a voter with `cairn cluster add-controller` (KIP-853, docs/operations.md).
  const peerOverrides = new Map(parseVoters(props['peer.addresses'] ?? '').map((v) => [v.id, { host: v.host, port: v.port }]));
  const policy = props['log.flush.policy'] ?? 'fsync';
  if (policy !== 'fsync' && policy !== 'interval') throw new ConfigError(`log.flush.policy: fsync or interval, not "${policy}"`);
  const maxPartitions = int(props, 'max.partitions', DEFAULT_MAX_PARTITIONS);
  if (maxPartitions < 1) throw new ConfigError(`max.partitions: expected at least 1, got ${maxPartitions}`);
  for (const key of [
    'quota.window.num',
    'quota.window.size.seconds',
    'sasl.session.lifetime.ms',
    'offsets.topic.num.partitions',
    'group.consumer.session.timeout.ms',
    'group.consumer.heartbeat.interval.ms',
    'transaction.state.log.num.partitions',
    'transaction.max.timeout.ms',
    'transaction.abort.timed.out.transaction.cleanup.interval.ms',
  ]) {
    if (int(props, key, 1) < 1) throw new ConfigError(`${key}: expected at least 1, got ${props[key]}`);
  }
  if (int(props, 'group.consumer.heartbeat.interval.ms', 5_000) >= int(props, 'group.consumer.session.timeout.ms', 45_000)) {
    throw new ConfigError('group.consumer.heartbeat.interval.ms must be below group.consumer.session.timeout.ms');
  }
  const logDefaults: Record<string, string> = {};
  for (const [key, topicKey] of Object.entries(LOG_DEFAULT_KEYS)) if (props[key] !== undefined) logDefaults[topicKey] = props[key]!;
  return {
    nodeId,
    roles,
    listen,
    advertised,
    internal,
    listenerNames,
    protocols,
    ssl,
    superUsers: principals(props, 'super.users', ';'),
    clusterPrincipals: principals(props, 'cluster.principals', ','),
    authorizationEnable: bool(props, 'authorization.enable', false),
    allowEveryoneIfNoAclFound: bool(props, 'allow.everyone.if.no.acl.found', false),
    saslSessionLifetimeMs: int(props, 'sasl.session.lifetime.ms', 3_600_000),
    quotaWindowNum: int(props, 'quota.window.num', 11),
    quotaWindowSizeSeconds: int(props, 'quota.window.size.seconds', 1),
    dataDir: path.resolve(props['log.dir'] ?? `./data/node-${nodeId}`),
    voters,
    peerOverrides,
    rack: props['broker.rack'] ?? null,
    metrics: props['metrics.listener'] ? parseEndpoint(props['metrics.listener'], 'metrics.listener') : null,
    numPartitions: int(props, 'num.partitions', 1),
    maxPartitions,
    defaultReplicationFactor: int(props, 'default.replication.factor', -1),
    flushPolicy: policy === 'fsync' ? { kind: 'fsync' } : { kind: 'interval', intervalMs: int(props, 'log.flush.interval.ms', 1000) },
    replicaLagTimeMaxMs: int(props, 'replica.lag.time.max.ms', 30_000),
    replicaFetchWaitMaxMs: int(props, 'replica.fetch.wait.max.ms', 500),
    brokerSessionTimeoutMs: int(props, 'broker.session.timeout.ms', 9_000),
    brokerHeartbeatIntervalMs: int(props, 'broker.heartbeat.interval.ms', 2_000),
    electionTimeoutMs: int(props, 'controller.quorum.election.timeout.ms', 1_000),
    raftHeartbeatIntervalMs: int(props, 'controller.quorum.heartbeat.interval.ms', 200),
    metadataSnapshotEvery: int(props, 'metadata.snapshot.max.entries', 1_000),
    logDefaults,
    uncleanLeaderElection: props['unclean.leader.election.enable'] === 'true',
    autoLeaderRebalance: (props['auto.leader.rebalance.enable'] ?? 'true') === 'true',
    leaderImbalanceCheckIntervalMs: int(props, 'leader.imbalance.check.interval.seconds', 300) * 1000,
    logRetentionCheckIntervalMs: int(props, 'log.retention.check.interval.ms', 30_000),
    offsetsTopicPartitions: int(props, 'offsets.topic.num.partitions', 16),
    offsetsTopicReplicationFactor: int(props, 'offsets.topic.replication.factor', -1),
    groupSessionTimeoutMs: int(props, 'group.consumer.session.timeout.ms', 45_000),
    groupHeartbeatIntervalMs: int(props, 'group.consumer.heartbeat.interval.ms', 5_000),
    transactionTopicPartitions: int(props, 'transaction.state.log.num.partitions', 16),
    transactionTopicReplicationFactor: int(props, 'transaction.state.log.replication.factor', -1),
    transactionMaxTimeoutMs: int(props, 'transaction.max.timeout.ms', 900_000),
    transactionAbortCheckIntervalMs: int(props, 'transaction.abort.timed.out.transaction.cleanup.interval.ms', 1_000),
  };
}

/** The address this node uses to reach `id`: an override if configured, else what the node advertises. */
export function peerAddress(config: NodeConfig, id: number, advertised: Endpoint | undefined): Endpoint | undefined {
  return config.peerOverrides.get(id) ?? advertised;
}
