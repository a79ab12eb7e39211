import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type { Logger } from '../../common';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/** The TLS files of a node (the ssl.* settings of docs/security.md). */
export interface TlsFiles {
  certificateFile: string;
  keyFile: string;
  caFile: string;
  /** How often the files are re-read. */
  reloadIntervalMs: number;
}

export class TlsMaterialError extends Error {}

interface Material {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** The leaf certificate's serial and expiry, for the log. */
  serial: string;
  validTo: string;
}

/**
 * Reads and checks the three files: each parses, the key belongs to the certificate, and the
 * certificate chains to one of the CA certificates. A half-written or mismatched set is an error,
 * never a secure context that would drop every connection.
 */
export function readTlsMaterial(files: Pick<TlsFiles, 'certificateFile' | 'keyFile' | 'caFile'>): Material {
  const read = (file: string, what: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new TlsMaterialError(`cannot read the ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read(files.certificateFile, 'certificate');
  const key = read(files.keyFile, 'private key');
  const ca = read(files.caFile, 'CA file');
  let leaf: X509Certificate;
  let cas: X509Certificate[];
  try {
    leaf = new X509Certificate(cert);
    cas = splitPem(ca).map((pem) => new X509Certificate(pem));
  } catch (err) {
    throw new TlsMaterialError(`a certificate does not parse (${(err as Error).message})`);
  }
  if (cas.length === 0) throw new TlsMaterialError(`${files.caFile} holds no certificate`);
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new TlsMaterialError(`${files.keyFile} is not the key of ${files.certificateFile}`);
  } catch (err) {
    if (err instanceof TlsMaterialError) throw err;
    throw new TlsMaterialError(`${files.keyFile} is not a usable private key (${(err as Error).message})`);
  }
  const chained = splitPem(cert)
    .map((pem) => new X509Certificate(pem))
    .some((c) => cas.some((authority) => c.checkIssued(authority) && c.verify(authority.publicKey)));
  if (!chained) throw new TlsMaterialError(`${files.certificateFile} is not issued by a CA in ${files.caFile}`);
  return { cert, key, ca, serial: leaf.serialNumber, validTo: leaf.validTo };
}

function splitPem(buf: Buffer): string[] {
  return buf.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * A gRPC certificate provider over a node's TLS files that picks up rotated files without a
 * restart. It re-reads them every `reloadIntervalMs`; a set that changed and passes
 * readTlsMaterial replaces the old one for new connections (existing ones keep theirs), one that
 * does not is logged and ignored, so a rotation caught half-written is retried at the next
 * interval. The first read happens in the constructor and throws, so a node with bad files does
 * not start.
 */
export class ReloadingTlsFiles implements CertificateProvider {
  private material: Material;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly files: TlsFiles,
    private readonly logger: Logger,
  ) {
    this.material = readTlsMaterial(files);
    logger.info({ certificate: files.certificateFile, serial: this.material.serial, validTo: this.material.validTo }, 'TLS certificate loaded');
    this.timer = setInterval(() => this.reload(), files.reloadIntervalMs);
    this.timer.unref();
  }

  /** The serial number of the certificate in use. */
  get serial(): string {
    return this.material.serial;
  }

  /** Re-reads the files now; true when a new certificate, key or CA was taken. */
  reload(): boolean {
    let next: Material;
    try {
      next = readTlsMaterial(this.files);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'TLS files not reloaded; still using the previous ones');
      return false;
    }
    const m = this.material;
    if (next.cert.equals(m.cert) && next.key.equals(m.key) && next.ca.equals(m.ca)) return false;
    this.material = next;
    this.logger.info({ certificate: this.files.certificateFile, serial: next.serial, validTo: next.validTo, previousSerial: m.serial }, 'TLS certificate reloaded');
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    return true;
  }

  // grpc-js registers its own watcher only after adding these listeners: the current material is
  // handed over on the next microtask, when that watcher is there to receive it.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: this.material.ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener({ certificate: this.material.cert, privateKey: this.material.key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  /** The leaf certificate in use (DER), for this node's own principal. */
  certificateDer(): Buffer {
    return new X509Certificate(this.material.cert).raw;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/**
 * Server credentials of an SSL listener: this node's certificate, and with client authentication
 * `required` (mutual TLS) or `requested` the CA that client certificates must chain to. With
 * `requested` a client without a certificate still connects (as the ANONYMOUS principal); one
 * whose certificate does not verify connects without one either — grpc-js reports a peer
 * certificate only for a verified chain.
 */
export function serverCredentials(tls: ReloadingTlsFiles, clientAuth: 'required' | 'requested' | 'none'): grpc.ServerCredentials {
  return grpc.experimental.createCertificateProviderServerCredentials(tls, clientAuth === 'none' ? null : tls, clientAuth === 'required');
}

/**
 * Channel credentials for this node's connections to other nodes: it checks their certificates
 * against the CA (and, with `endpointIdentification`, that they name the address dialled), and
 * presents its own certificate as its client certificate.
 */
export function peerChannelCredentials(tls: ReloadingTlsFiles, endpointIdentification: boolean): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(tls, tls, endpointIdentification ? {} : { checkServerIdentity: () => undefined });
}
