/**
 * A small certificate authority for `cairn dev --secure` and the tests: a self-signed CA, and server
 * and client certificates it signs, for mutual TLS between nodes and clients. Keys are RSA 2048 made
 * by Node's crypto (native, fast); node-forge builds and signs the X.509 v3 certificates (SHA-256),
 * which Node's crypto cannot do. Everything is PEM, as `node:tls` and gRPC take it.
 *
 * Not a production PKI: no revocation, no key protection beyond the key file's mode.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import forge from 'node-forge';

/** A certificate and its private key, as PEM: the key is unencrypted PKCS#8 (`-----BEGIN PRIVATE KEY-----`). */
export interface Pem {
  cert: string;
  key: string;
}

/** Options of {@link createCertificateAuthority}. */
export interface CertificateAuthorityOptions {
  /** The CA's subject CN (its subject is `O=Cairn, CN=<commonName>`). */
  commonName: string;
  /** Days the CA is valid from `now` (default 3650). */
  validDays?: number;
  /** The issue time (default the current time); the certificate is valid from an hour before it. */
  now?: Date;
}

/** What a leaf certificate is for: its extended key usage (serverAuth, clientAuth or both). */
export type CertificateUsage = 'server' | 'client' | 'both';

/** Options of {@link issueCertificate}. */
export interface IssueCertificateOptions {
  /** The subject CN: for a client, the name the server sees (`getPeerCertificate().subject.CN`). */
  commonName: string;
  /** An optional OU in the subject (`O=Cairn, OU=<organizationalUnit>, CN=<commonName>`). */
  organizationalUnit?: string;
  /** DNS names for subjectAltName (what a client checks the server's name against). */
  dnsNames?: string[];
  /** IPv4 or IPv6 addresses for subjectAltName. */
  ipAddresses?: string[];
  usage: CertificateUsage;
  /** Days the certificate is valid from `now` (default 365). */
  validDays?: number;
  /** The issue time (default the current time); the certificate is valid from an hour before it. */
  now?: Date;
}

/** Files written by {@link writePemFiles}. */
export interface PemFiles {
  certFile: string;
  keyFile: string;
}

const CA_VALID_DAYS = 3650;
const LEAF_VALID_DAYS = 365;
const DAY_MS = 24 * 60 * 60 * 1000;
/** notBefore is this far before the issue time, so that a peer whose clock is a little behind accepts a fresh certificate. */
const CLOCK_SKEW_MS = 60 * 60 * 1000;
const ORGANIZATION = 'Cairn';

/** forge's GeneralName tags in subjectAltName. */
const SAN_DNS = 2;
const SAN_IP = 7;

/** A self-signed certificate authority: basicConstraints cA (critical), keyUsage keyCertSign and cRLSign, a subjectKeyIdentifier. */
export function createCertificateAuthority(opts: CertificateAuthorityOptions): Pem {
  const keys = generateKeyPair();
  const cert = newCertificate(keys.publicKey, opts.now, opts.validDays ?? CA_VALID_DAYS);
  const subject = distinguishedName(opts.commonName);
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }, { name: 'subjectKeyIdentifier' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privateKeyPem };
}

/**
 * A leaf certificate signed by `ca`: basicConstraints not a CA, keyUsage digitalSignature and
 * keyEncipherment, extKeyUsage per `usage`, subjectAltName from `dnsNames` and `ipAddresses`, and an
 * authorityKeyIdentifier naming the CA's key. Throws if `ca` is not a CA or its key does not match
 * its certificate, or if an address is not an IP address.
 */
export function issueCertificate(ca: Pem, opts: IssueCertificateOptions): Pem {
  const caX509 = new crypto.X509Certificate(ca.cert);
  if (!caX509.ca) throw new Error(`issueCertificate: ${caX509.subject.replace(/\n/g, ', ')} is not a CA certificate`);
  if (!caX509.checkPrivateKey(crypto.createPrivateKey(ca.key))) throw new Error('issueCertificate: the CA key does not match the CA certificate');
  const altNames = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: SAN_DNS, value })),
    ...(opts.ipAddresses ?? []).map((ip) => {
      if (net.isIP(ip) === 0) throw new Error(`issueCertificate: ${JSON.stringify(ip)} is not an IP address`);
      return { type: SAN_IP, ip };
    }),
  ];
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);

  const keys = generateKeyPair();
  const cert = newCertificate(keys.publicKey, opts.now, opts.validDays ?? LEAF_VALID_DAYS);
  cert.setSubject(distinguishedName(opts.commonName, opts.organizationalUnit));
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: opts.usage !== 'client', clientAuth: opts.usage !== 'server' },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: keyIdentifierOf(caCert) },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privateKeyPem };
}

/**
 * Writes `<dir>/<name>.crt` and `<dir>/<name>.key` (mode 0o600), creating `dir` if needed. Each file
 * is written beside its final name and renamed over it, so the key is never readable by others, not
 * even when it replaces an older file with a looser mode.
 */
export function writePemFiles(dir: string, name: string, pem: Pem): PemFiles {
  if (name === '' || name !== path.basename(name)) throw new Error(`writePemFiles: ${JSON.stringify(name)} is not a plain file name`);
  fs.mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  writeReplacing(certFile, pem.cert, 0o644);
  writeReplacing(keyFile, pem.key, 0o600);
  return { certFile, keyFile };
}

// ---------------------------------------------------------------------------------------------

interface KeyPair {
  publicKey: forge.pki.rsa.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  privateKeyPem: string;
}

/** An RSA 2048 key pair from Node's crypto, also as forge keys (through PEM) for building and signing certificates. */
function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
    privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    privateKeyPem: privateKey,
  };
}

/** An unsigned v3 certificate for `publicKey` with a random serial, valid from an hour before `now` to `validDays` after it. */
function newCertificate(publicKey: forge.pki.rsa.PublicKey, now: Date | undefined, validDays: number): forge.pki.Certificate {
  if (!(Number.isFinite(validDays) && validDays > 0)) throw new Error(`certificate validity must be a positive number of days, not ${validDays}`);
  const issuedAt = (now ?? new Date()).getTime();
  const cert = forge.pki.createCertificate();
  cert.version = 2; // v3
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerialNumber();
  cert.validity.notBefore = new Date(issuedAt - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(issuedAt + validDays * DAY_MS);
  return cert;
}

/**
 * 16 random bytes as hex, a positive DER INTEGER (RFC 5280 §4.1.2.2: positive, at most 20 bytes): the
 * first bit is cleared, and the first byte is never zero, since forge writes the bytes as they are and
 * DER forbids a needless leading zero byte (X.690 §8.3.2), which strict parsers refuse.
 */
function randomSerialNumber(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes.toString('hex');
}

function distinguishedName(commonName: string, organizationalUnit?: string): forge.pki.CertificateField[] {
  return [{ shortName: 'O', value: ORGANIZATION }, ...(organizationalUnit !== undefined ? [{ shortName: 'OU', value: organizationalUnit }] : []), { shortName: 'CN', value: commonName }];
}

/** The CA's subjectKeyIdentifier as bytes (forge keeps it as hex), or, if it has none, the one forge would derive from its key. */
function keyIdentifierOf(caCert: forge.pki.Certificate): string {
  const ski = caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null | undefined; // forge returns null, its types say undefined
  return ski?.subjectKeyIdentifier ? forge.util.hexToBytes(ski.subjectKeyIdentifier) : caCert.generateSubjectKeyIdentifier().getBytes();
}

/** Writes `file` with `mode` through a temporary file in the same directory and a rename. */
function writeReplacing(file: string, data: string, mode: number): void {
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(tmp, data, { mode, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
