/**
 * The listener and security settings of a node (docs/security.md, docs/configuration.md):
 * Kafka-style named listeners and their security protocols, the TLS files and rules, and the
 * principal lists.
 */

import * as path from 'node:path';
import { parseMappingRules, parsePrincipal, principalString } from '../security';
import { ConfigError, type Endpoint, int, parseEndpoint, splitList } from './config-values';

/** How a listener's connections are secured (Kafka's security.protocol values Cairn serves). */
export type SecurityProtocol = 'PLAINTEXT' | 'SSL';

export type ClientAuth = 'required' | 'requested' | 'none';

/** The TLS material and rules of a node, shared by its SSL listeners and its connections to other nodes. */
export interface SslConfig {
  /** ssl.certificate.location: this node's certificate chain (PEM); also its client certificate toward other nodes. */
  certificateFile: string;
  /** ssl.key.location: its private key (PEM). */
  keyFile: string;
  /** ssl.ca.location: the CA certificates (PEM) that client and peer certificates must chain to. */
  caFile: string;
  /**
   * ssl.client.auth: whether the SSL listeners require, request or ignore client certificates, per
   * listener slot (Kafka's listener.name.<name>.ssl.client.auth overrides it for one listener).
   */
  clientAuth: { client: ClientAuth; internal: ClientAuth };
  /** ssl.principal.mapping.rules (KIP-371): how a certificate's subject becomes a principal name. */
  principalMappingRules: string;
  /** ssl.endpoint.identification.algorithm: 'https' checks a peer's certificate names its address; '' does not. */
  endpointIdentification: boolean;
  /** ssl.reload.interval.ms: how often the three files are re-read (a rotated certificate is used without a restart). */
  reloadIntervalMs: number;
}

/** What parseListeners reads: the client listener, the optional internal one, their names and protocols. */
export interface ListenerSettings {
  /** Where the gRPC server binds. */
  listen: Endpoint;
  /** What clients are told to connect to (defaults to `listen`). */
  advertised: Endpoint;
  /**
   * The listener of node-to-node services (Raft, Controller, Replica), apart from clients (Kafka's
   * `controller.listener.names` / `inter.broker.listener.name`), or null to serve them on `listen`.
   */
  internal: { listen: Endpoint; advertised: Endpoint } | null;
  /** The listeners' names (Kafka's NAME://host:port) and security protocols. */
  listenerNames: { client: string; internal: string | null };
  protocols: { client: SecurityProtocol; internal: SecurityProtocol };
}

/** listener.name.<name>.ssl.client.auth: the one per-listener setting Cairn takes. */
export const PER_LISTENER_KEY = /^listener\.name\.[a-z0-9_]+\.ssl\.client\.auth$/;

const PROTOCOLS: readonly SecurityProtocol[] = ['PLAINTEXT', 'SSL'];

/** `NAME://host:port,...` (Kafka) or a bare `host:port` (one unnamed listener). */
function parseNamedEndpoints(raw: string, key: string, bareName: string): { name: string; at: Endpoint }[] {
  return splitList(raw, ',').map((item) => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*):\/\/(.*)$/.exec(item);
    if (!m) return { name: bareName, at: parseEndpoint(item, key) };
    return { name: m[1]!.toUpperCase(), at: parseEndpoint(m[2]!, key) };
  });
}

/**
 * The client listener and the optional internal one, with their names and security protocols.
 * Either the Kafka form (`listeners=CLIENT://:9092,INTERNAL://:9192` with
 * `inter.broker.listener.name=INTERNAL`) or Cairn's older one (`listeners=host:port` and
 * `internal.listeners=host:port`). Cairn serves at most two listeners: one for clients, one for
 * the node-to-node services (Raft, Controller and Replica together).
 */
export function parseListeners(props: Record<string, string>): ListenerSettings {
  const listeners = parseNamedEndpoints(props.listeners ?? '127.0.0.1:9092', 'listeners', 'CLIENT');
  if (props['internal.listeners']) {
    if (listeners.length > 1) throw new ConfigError('internal.listeners: name the internal listener in listeners instead (NAME://host:port and inter.broker.listener.name)');
    const at = parseEndpoint(props['internal.listeners'], 'internal.listeners');
    listeners.push({ name: 'INTERNAL', at });
  } else if (props['advertised.internal.listeners']) {
    throw new ConfigError('advertised.internal.listeners needs internal.listeners');
  }
  if (listeners.length === 0) throw new ConfigError('listeners is empty');
  if (listeners.length > 2) throw new ConfigError(`listeners: Cairn serves at most two listeners (clients, and node-to-node), got ${listeners.length}`);
  const names = listeners.map((l) => l.name);
  if (new Set(names).size !== names.length) throw new ConfigError(`listeners: each listener needs its own name, got ${names.join(',')}`);
  const interBroker = props['inter.broker.listener.name']?.toUpperCase();
  const controller = props['controller.listener.names']?.toUpperCase();
  if (interBroker && controller && interBroker !== controller) {
    throw new ConfigError('controller.listener.names must name the inter.broker.listener.name listener: Cairn serves Raft, Controller and Replica on one listener');
  }
  let internalName: string | null = interBroker ?? controller ?? (props['internal.listeners'] ? 'INTERNAL' : null);
  if (internalName === null && listeners.length === 2) throw new ConfigError('with two listeners, inter.broker.listener.name must say which one serves node-to-node services');
  if (internalName !== null && !names.includes(internalName)) throw new ConfigError(`inter.broker.listener.name: no listener named ${internalName} in listeners (${names.join(',')})`);
  if (listeners.length === 1) internalName = null;
  const client = listeners.find((l) => l.name !== internalName)!;
  const inner = listeners.find((l) => l.name === internalName) ?? null;

  const advertisedList = parseNamedEndpoints(props['advertised.listeners'] ?? '', 'advertised.listeners', client.name);
  const advertisedOf = (name: string, fallback: Endpoint): Endpoint => {
    const a = advertisedList.find((x) => x.name === name)?.at ?? { ...fallback };
    if (a.host === '0.0.0.0') a.host = '127.0.0.1';
    return a;
  };
  for (const a of advertisedList) if (!names.includes(a.name)) throw new ConfigError(`advertised.listeners: no listener named ${a.name} in listeners`);
  const advertised = advertisedOf(client.name, client.at);
  let internal: ListenerSettings['internal'] = null;
  if (inner) {
    const legacy = props['advertised.internal.listeners'] ? parseEndpoint(props['advertised.internal.listeners'], 'advertised.internal.listeners') : null;
    internal = { listen: inner.at, advertised: legacy ?? advertisedOf(inner.name, inner.at) };
    if (internal.advertised.host === '0.0.0.0') internal.advertised.host = '127.0.0.1';
  }

  const map = new Map<string, SecurityProtocol>([
    ['PLAINTEXT', 'PLAINTEXT'],
    ['SSL', 'SSL'],
  ]);
  for (const entry of splitList(props['listener.security.protocol.map'] ?? '', ',')) {
    const [name, protocol] = entry.split(':').map((x) => x.trim().toUpperCase());
    if (!name || !protocol || !PROTOCOLS.includes(protocol as SecurityProtocol)) {
      throw new ConfigError(
        `listener.security.protocol.map: expected NAME:PLAINTEXT or NAME:SSL, got "${entry}"${protocol?.startsWith('SASL') ? ' (passwords come over SSL listeners; see docs/security.md)' : ''}`,
      );
    }
    map.set(name, protocol as SecurityProtocol);
  }
  const protocolOf = (name: string) => map.get(name) ?? 'PLAINTEXT';
  return {
    listen: client.at,
    advertised,
    internal,
    listenerNames: { client: client.name, internal: inner?.name ?? null },
    protocols: { client: protocolOf(client.name), internal: protocolOf(inner?.name ?? client.name) },
  };
}

export function parseSsl(props: Record<string, string>, protocols: ListenerSettings['protocols'], names: ListenerSettings['listenerNames']): SslConfig | null {
  const sslKeys = Object.keys(props).filter((k) => k.startsWith('ssl.'));
  if (protocols.client !== 'SSL' && protocols.internal !== 'SSL') {
    if (sslKeys.length > 0) throw new ConfigError(`${sslKeys[0]} is set but no listener is SSL (listener.security.protocol.map)`);
    return null;
  }
  const file = (key: string) => {
    const v = props[key];
    if (!v) throw new ConfigError(`${key} is required when a listener is SSL`);
    return path.resolve(v);
  };
  const authOf = (key: string, fallback: string): ClientAuth => {
    const v = props[key] ?? fallback;
    if (v !== 'required' && v !== 'requested' && v !== 'none') throw new ConfigError(`${key}: required, requested or none, not "${v}"`);
    return v;
  };
  const all = authOf('ssl.client.auth', 'required');
  const perListener = (name: string | null) => (name === null ? all : authOf(`listener.name.${name.toLowerCase()}.ssl.client.auth`, all));
  const clientAuth = { client: perListener(names.client), internal: perListener(names.internal ?? names.client) };
  const algorithm = props['ssl.endpoint.identification.algorithm'] ?? 'https';
  if (algorithm !== 'https' && algorithm !== '') throw new ConfigError(`ssl.endpoint.identification.algorithm: https or empty, not "${algorithm}"`);
  const reloadIntervalMs = int(props, 'ssl.reload.interval.ms', 30_000);
  if (reloadIntervalMs < 100) throw new ConfigError('ssl.reload.interval.ms: expected at least 100');
  const rules = props['ssl.principal.mapping.rules'] ?? 'DEFAULT';
  try {
    parseMappingRules(rules);
  } catch (err) {
    throw new ConfigError(`ssl.principal.mapping.rules: ${(err as Error).message}`);
  }
  return {
    certificateFile: file('ssl.certificate.location'),
    keyFile: file('ssl.key.location'),
    caFile: file('ssl.ca.location'),
    clientAuth,
    principalMappingRules: rules,
    endpointIdentification: algorithm === 'https',
    reloadIntervalMs,
  };
}

/** A list of `Type:name` principals, normalized. */
export function principals(props: Record<string, string>, key: string, separator: string): string[] {
  return splitList(props[key] ?? '', separator).map((p) => {
    try {
      return principalString(parsePrincipal(p));
    } catch (err) {
      throw new ConfigError(`${key}: ${(err as Error).message}`);
    }
  });
}
