import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCertificateAuthority, issueCertificate, type Pem, type PemFiles, writePemFiles } from './certificates';

/** Where `cairn dev --secure` (and the secure test clusters) keep their CA and certificates. */
export interface DevCertificates {
  dir: string;
  caFile: string;
  /** Each node's certificate (server and client use: it dials other nodes with it), CN=node-<id>. */
  nodes: Map<number, PemFiles>;
  /** The `admin` client certificate (a super user of the dev cluster). */
  admin: PemFiles;
}

/** Certificate subjects map to principals by their CN: `CN=node-1,O=Cairn` is `User:node-1`. */
export const DEV_PRINCIPAL_MAPPING_RULES = 'RULE:^CN=([^,]+),.*$/$1/,DEFAULT';

const loadPem = (files: PemFiles): Pem | null => {
  try {
    return { cert: fs.readFileSync(files.certFile, 'utf8'), key: fs.readFileSync(files.keyFile, 'utf8') };
  } catch {
    return null;
  }
};

const filesOf = (dir: string, name: string): PemFiles => ({ certFile: path.join(dir, `${name}.crt`), keyFile: path.join(dir, `${name}.key`) });

/**
 * A CA under `dir` (made once and then reused, so a restarted dev cluster keeps trusting its
 * clients), a certificate per node for `hosts` (loopback by default), and an `admin` client
 * certificate. Certificates already there are kept; missing ones are issued by the CA.
 */
export function ensureDevCertificates(dir: string, nodeIds: number[], hosts: { ips: string[]; dns: string[] } = { ips: ['127.0.0.1', '::1'], dns: ['localhost'] }): DevCertificates {
  fs.mkdirSync(dir, { recursive: true });
  const caFiles = filesOf(dir, 'ca');
  let ca = loadPem(caFiles);
  if (!ca) {
    ca = createCertificateAuthority({ commonName: 'Cairn dev CA' });
    writePemFiles(dir, 'ca', ca);
  }
  const issue = (name: string, make: () => Pem): PemFiles => {
    const files = filesOf(dir, name);
    if (!loadPem(files)) writePemFiles(dir, name, make());
    return files;
  };
  const nodes = new Map<number, PemFiles>();
  for (const id of nodeIds)
    nodes.set(
      id,
      issue(`node-${id}`, () => issueCertificate(ca, { commonName: `node-${id}`, ipAddresses: hosts.ips, dnsNames: hosts.dns, usage: 'both' })),
    );
  const admin = issue('admin', () => issueCertificate(ca, { commonName: 'admin', usage: 'client' }));
  return { dir, caFile: caFiles.certFile, nodes, admin };
}
