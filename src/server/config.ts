import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_MAX_PARTITIONS } from '../controller';
import type { FlushPolicy } from '../storage';

export type Role = 'broker' | 'controller';

export interface Endpoint {
  host: string;
  port: number;
}

export interface Voter extends Endpoint {
  id: number;
}

/** Everything one `cairn server` process is configured with (design brief §1). */
export interface NodeConfig {
  nodeId: number;
  roles: Role[];
  /** Where the gRPC server binds. */
  listen: Endpoint;
  /** What clients are told to connect to (defaults to `listen`). */
  advertised: Endpoint;
  /**
   * The listener of node-to-node services (Raft, Controller, Replica), apart from clients (Kafka's
   * `controller.listener.names` / `inter.broker.listener.name`), or null to serve them on `listen`.
   */
  internal: { listen: Endpoint; advertised: Endpoint } | null;
  dataDir: string;
  /** The controller quorum: every voter's id and address. */
  voters: Voter[];
  /** How this node reaches another node, when that differs from what the node advertises (proxies in the chaos suite). */
  peerOverrides: Map<number, Endpoint>;
  rack: string | null;
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

export class ConfigError extends Error {}

export function parseEndpoint(raw: string, what: string): Endpoint {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(raw.trim());
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`${what}: expected host:port, got "${raw}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
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
  'log.dir': 'data directory',
  'controller.quorum.voters': 'id@host:port,... of every controller',
  'peer.addresses': 'id@host:port,... how this node reaches other nodes when it differs from what they advertise',
  'broker.rack': 'rack of this broker, for rack-aware placement',
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

function int(props: Record<string, string>, key: string, fallback: number): number {
  const raw = props[key];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new ConfigError(`${key}: expected an integer, got "${raw}"`);
  return n;
}

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
  for (const key of Object.keys(props)) {
    if (!(key in KEYS) && !(key in LOG_DEFAULT_KEYS)) throw new ConfigError(`unknown config "${key}"; known: ${[...Object.keys(KEYS), ...Object.keys(LOG_DEFAULT_KEYS)].join(', ')}`);
  }
  const nodeId = int(props, 'node.id', 1);
  const roles = (props['process.roles'] ?? 'broker,controller').split(',').map((r) => r.trim()) as Role[];
  for (const r of roles) if (r !== 'broker' && r !== 'controller') throw new ConfigError(`process.roles: unknown role "${r}"`);
  const listen = parseEndpoint(props.listeners ?? '127.0.0.1:9092', 'listeners');
  const advertised = props['advertised.listeners'] ? parseEndpoint(props['advertised.listeners'], 'advertised.listeners') : listen;
  if (advertised.host === '0.0.0.0') advertised.host = '127.0.0.1';
  let internal: NodeConfig['internal'] = null;
  if (props['internal.listeners']) {
    const listen = parseEndpoint(props['internal.listeners'], 'internal.listeners');
    const adv = props['advertised.internal.listeners'] ? parseEndpoint(props['advertised.internal.listeners'], 'advertised.internal.listeners') : { ...listen };
    if (adv.host === '0.0.0.0') adv.host = '127.0.0.1';
    internal = { listen, advertised: adv };
  } else if (props['advertised.internal.listeners']) {
    throw new ConfigError('advertised.internal.listeners needs internal.listeners');
  }
  // Voters are reached where the Raft and Controller services are: the internal listener if any.
  const selfVoter = internal?.advertised ?? advertised;
  const voters = parseVoters(props['controller.quorum.voters'] ?? (roles.includes('controller') ? `${nodeId}@${selfVoter.host}:${selfVoter.port}` : ''));
  if (voters.length === 0) throw new ConfigError('controller.quorum.voters is empty: a broker needs to know the controllers');
  if (roles.includes('controller') && !voters.some((v) => v.id === nodeId)) throw new ConfigError(`node ${nodeId} has the controller role but is not in controller.quorum.voters`);
  const peerOverrides = new Map(parseVoters(props['peer.addresses'] ?? '').map((v) => [v.id, { host: v.host, port: v.port }]));
  const policy = props['log.flush.policy'] ?? 'fsync';
  if (policy !== 'fsync' && policy !== 'interval') throw new ConfigError(`log.flush.policy: fsync or interval, not "${policy}"`);
  const maxPartitions = int(props, 'max.partitions', DEFAULT_MAX_PARTITIONS);
  if (maxPartitions < 1) throw new ConfigError(`max.partitions: expected at least 1, got ${maxPartitions}`);
  for (const key of [
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
    dataDir: path.resolve(props['log.dir'] ?? `./data/node-${nodeId}`),
    voters,
    peerOverrides,
    rack: props['broker.rack'] ?? null,
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
