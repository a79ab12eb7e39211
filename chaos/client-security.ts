import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClientOptions } from '../src/client';
import { clientOptions } from '../src/cli/client-config';
import type { ClientTls } from '../src/protocol/io/tls';
import type { PemFiles } from '../src/security/io/certificates';
import type { DevCertificates } from '../src/security/io/dev-certificates';

/**
 * How the chaos suite's clients connect (`--secure`, docs/chaos.md): plaintext by default; on a
 * secure cluster over TLS, the workload (producers, readers, transactional clients, group
 * members, the copy job) as User:chaos with a SCRAM-SHA-512 password — so every restarted node
 * makes its clients authenticate again — holding ACLs for what it does and nothing else, and the
 * harness's own admin calls as User:admin with its client certificate (a super user). Worker
 * processes get theirs through a client properties file named by CAIRN_COMMAND_CONFIG.
 */
export const CHAOS_USER = { username: 'chaos', password: 'chaos-password' };
let workload: { tls?: ClientTls; sasl?: typeof CHAOS_USER } = {};
let admin: { tls?: ClientTls } = {};
let workerConfigFile: string | null = null;

export const workloadClient = (bootstrap: string): ClientOptions => ({ bootstrap, ...workload });
export const adminClient = (bootstrap: string): ClientOptions => ({ bootstrap, ...admin });

/** The environment of a worker process (its CAIRN_COMMAND_CONFIG on a secure cluster). */
export function workerEnv(): Record<string, string> {
  return workerConfigFile ? { CAIRN_COMMAND_CONFIG: workerConfigFile } : {};
}

/** In a worker process: its client settings, from CAIRN_COMMAND_CONFIG when the cluster is secure. */
export function workerClient(bootstrap: string): ClientOptions {
  return clientOptions({ bootstrap }, process.env);
}

const tlsOf = (caFile: string, files: PemFiles): ClientTls => ({ ca: fs.readFileSync(caFile), cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile) });

/** Sets the suite's clients up for a secure cluster (its CA and admin certificate), or back to plaintext with null. */
export function configureChaosClients(certs: DevCertificates | null, bootstrap = ''): void {
  if (!certs) {
    workload = {};
    admin = {};
    workerConfigFile = null;
    return;
  }
  workload = { tls: { ca: fs.readFileSync(certs.caFile) }, sasl: CHAOS_USER };
  admin = { tls: tlsOf(certs.caFile, certs.admin) };
  workerConfigFile = path.join(certs.dir, 'chaos.properties');
  fs.writeFileSync(
    workerConfigFile,
    [
      `bootstrap.servers=${bootstrap}`,
      'security.protocol=SASL_SSL',
      `ssl.ca.location=${certs.caFile}`,
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.username=${CHAOS_USER.username}`,
      `sasl.password=${CHAOS_USER.password}`,
      '',
    ].join('\n'),
  );
}

/** What User:chaos may do: everything the workload does to topics, groups and transactional ids — no cluster operation. */
export const CHAOS_ACLS = (['topic', 'group', 'transactional-id'] as const).map((resourceType) => ({
  principal: 'User:chaos',
  operation: 'All',
  resourceType,
  resourceName: '*',
  patternType: 'literal',
  host: '*',
  permission: 'allow',
}));
