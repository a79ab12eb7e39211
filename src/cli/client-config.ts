import * as fs from 'node:fs';
import type { ClientOptions } from '../client';
import { parseProperties } from '../server';
import { UsageError } from './args';

/** The client properties Cairn's commands read (Kafka's names, as in a `--command-config` file). */
export const CLIENT_KEYS: Record<string, string> = {
  'bootstrap.servers': 'host:port,... to start from (--bootstrap wins)',
  'security.protocol': 'PLAINTEXT (default), SSL, or SASL_SSL (a user name and password over TLS)',
  'ssl.ca.location': "PEM file of the CA that signs the brokers' certificates",
  'ssl.certificate.location': 'PEM file of this client certificate, for mutual TLS',
  'ssl.key.location': "PEM file of the client certificate's key",
  'ssl.endpoint.identification.algorithm': "https (default): check that a broker's certificate names the address dialled; empty: do not",
  'sasl.mechanism': 'SCRAM-SHA-512 (default) or SCRAM-SHA-256, with SASL_SSL',
  'sasl.username': 'the user (cairn users create), with SASL_SSL',
  'sasl.password': 'its password, with SASL_SSL',
};

const envName = (key: string) => 'CAIRN_' + key.replace(/\./g, '_').toUpperCase();

/**
 * Client settings of a command: `--command-config FILE` (or $CAIRN_COMMAND_CONFIG), then
 * CAIRN_SECURITY_PROTOCOL, CAIRN_SSL_CA_LOCATION, ... which win over the file, then `--bootstrap`.
 */
export function clientOptions(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const props: Record<string, string> = {};
  const file = (values['command-config'] as string | undefined) ?? env.CAIRN_COMMAND_CONFIG;
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--command-config: cannot read ${file}: ${(err as Error).message}`);
    }
    Object.assign(props, parseProperties(text));
    for (const key of Object.keys(props)) if (!(key in CLIENT_KEYS)) throw new UsageError(`${file}: unknown client property "${key}"; known: ${Object.keys(CLIENT_KEYS).join(', ')}`);
  }
  for (const key of Object.keys(CLIENT_KEYS)) {
    const v = env[envName(key)];
    if (v !== undefined) props[key] = v;
  }
  const bootstrap = (values.bootstrap as string | undefined) ?? props['bootstrap.servers'];
  const protocol = (props['security.protocol'] ?? 'PLAINTEXT').toUpperCase();
  if (protocol === 'PLAINTEXT') return { bootstrap };
  if (protocol !== 'SSL' && protocol !== 'SASL_SSL') throw new UsageError(`security.protocol: PLAINTEXT, SSL or SASL_SSL, not "${protocol}"`);
  const read = (key: string, required: boolean): Buffer | undefined => {
    const path = props[key];
    if (!path) {
      if (required) throw new UsageError(`security.protocol=SSL needs ${key}`);
      return undefined;
    }
    try {
      return fs.readFileSync(path);
    } catch (err) {
      throw new UsageError(`${key}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const algorithm = props['ssl.endpoint.identification.algorithm'] ?? 'https';
  if (algorithm !== 'https' && algorithm !== '') throw new UsageError(`ssl.endpoint.identification.algorithm: https or empty, not "${algorithm}"`);
  const tls = { ca: read('ssl.ca.location', true)!, cert: read('ssl.certificate.location', false), key: read('ssl.key.location', false), checkServerName: algorithm === 'https' };
  if (protocol === 'SSL') return { bootstrap, tls };
  const username = props['sasl.username'];
  const password = props['sasl.password'];
  if (!username || password === undefined) throw new UsageError('security.protocol=SASL_SSL needs sasl.username and sasl.password');
  return { bootstrap, tls, sasl: { mechanism: props['sasl.mechanism'] ?? 'SCRAM-SHA-512', username, password } };
}
