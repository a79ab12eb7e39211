import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate, writePemFiles, type Pem } from '../../../src/security/io/certificates';
import { tmpDir, waitFor } from '../../helpers/tmp';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** Key pairs are RSA 2048 (100-300 ms each), so the file makes its CAs and leaves once. */
let ca: Pem;
let otherCa: Pem;
let server: Pem;
let client: Pem;

beforeAll(() => {
  ca = createCertificateAuthority({ commonName: 'Cairn test CA' });
  otherCa = createCertificateAuthority({ commonName: 'Someone else' });
  server = issueCertificate(ca, { commonName: 'node-1', organizationalUnit: 'brokers', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
  client = issueCertificate(ca, { commonName: 'client-1', usage: 'client' });
});

const x509 = (pem: Pem) => new crypto.X509Certificate(pem.cert);
const lifetimeMs = (x: crypto.X509Certificate) => Date.parse(x.validTo) - Date.parse(x.validFrom);

describe('createCertificateAuthority / issueCertificate', () => {
  it('makes a self-signed CA and a leaf that Node verifies against it, for the names it was issued for', () => {
    const caX = x509(ca);
    expect(caX.ca).toBe(true);
    expect(caX.checkIssued(caX)).toBe(true);
    expect(caX.verify(caX.publicKey)).toBe(true);
    expect(caX.subject.split('\n')).toEqual(['O=Cairn', 'CN=Cairn test CA']);

    const leaf = x509(server);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(caX.publicKey)).toBe(true);
    expect(leaf.checkIssued(caX)).toBe(true);
    expect(leaf.issuer).toBe(caX.subject);
    expect(leaf.subject.split('\n')).toEqual(['O=Cairn', 'OU=brokers', 'CN=node-1']);
    expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkIP('10.0.0.1')).toBeUndefined();
    expect(leaf.checkHost('example.com')).toBeUndefined();

    const otherX = x509(otherCa);
    expect(leaf.verify(otherX.publicKey)).toBe(false);
    expect(leaf.checkIssued(otherX)).toBe(false);
  });

  it('returns the key as unencrypted PKCS#8 PEM, matching the certificate', () => {
    for (const pem of [ca, server, client]) {
      expect(pem.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(pem.cert).toMatch(/^-----BEGIN CERTIFICATE-----\r?\n/);
      const key = crypto.createPrivateKey(pem.key);
      expect(key.asymmetricKeyType).toBe('rsa');
      expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(x509(pem).checkPrivateKey(key)).toBe(true);
    }
  });

  it('sets extended key usage from usage: server, client or both', () => {
    expect(x509(server).keyUsage).toEqual([SERVER_AUTH]);
    expect(x509(client).keyUsage).toEqual([CLIENT_AUTH]);
    const both = issueCertificate(ca, { commonName: 'node-2', dnsNames: ['localhost'], usage: 'both' });
    expect([...x509(both).keyUsage].sort()).toEqual([SERVER_AUTH, CLIENT_AUTH]);
  });

  it('gives each certificate a random positive 16-byte serial', () => {
    const serials = [ca, otherCa, server, client].map((pem) => x509(pem).serialNumber);
    for (const s of serials) expect(s).toMatch(/^[0-7][0-9A-F]{31}$/i);
    expect(new Set(serials).size).toBe(serials.length);
  });

  it('is valid from an hour before now, for validDays (365 for a leaf, 3650 for a CA by default)', () => {
    expect(lifetimeMs(x509(ca))).toBe(3650 * DAY_MS + HOUR_MS);
    expect(lifetimeMs(x509(server))).toBe(365 * DAY_MS + HOUR_MS);
    // Issued in beforeAll, moments ago (validFrom has whole seconds).
    const skew = Date.now() - HOUR_MS - Date.parse(x509(client).validFrom);
    expect(skew).toBeGreaterThanOrEqual(0);
    expect(skew).toBeLessThan(60_000);

    const now = new Date('2030-01-01T00:00:00Z');
    const leaf = x509(issueCertificate(ca, { commonName: 'later', usage: 'client', validDays: 30, now }));
    expect(new Date(leaf.validFrom).toISOString()).toBe('2029-12-31T23:00:00.000Z');
    expect(new Date(leaf.validTo).toISOString()).toBe('2030-01-31T00:00:00.000Z');
  });

  it('refuses a CA that is not one, a CA key that is not its own, an address that is not an IP, and a validity that is not positive', () => {
    expect(() => issueCertificate(server, { commonName: 'x', usage: 'client' })).toThrow(/not a CA/);
    expect(() => issueCertificate({ cert: ca.cert, key: otherCa.key }, { commonName: 'x', usage: 'client' })).toThrow(/CA key does not match/);
    expect(() => issueCertificate(ca, { commonName: 'x', ipAddresses: ['localhost'], usage: 'server' })).toThrow(/not an IP address/);
    expect(() => createCertificateAuthority({ commonName: 'x', validDays: 0 })).toThrow(/positive number of days/);
  });
});

describe('writePemFiles', () => {
  it('writes <name>.crt and <name>.key (mode 0600) into a directory it creates, and tightens a looser key file it replaces', () => {
    const dir = path.join(tmpDir('cairn-certs-'), 'a', 'b');
    const keyFile = path.join(dir, 'node-1.key');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(keyFile, 'old', { mode: 0o644 });
    fs.chmodSync(keyFile, 0o644);

    const files = writePemFiles(dir, 'node-1', server);
    expect(files).toEqual({ certFile: path.join(dir, 'node-1.crt'), keyFile });
    expect(fs.readFileSync(files.certFile, 'utf8')).toBe(server.cert);
    expect(fs.readFileSync(files.keyFile, 'utf8')).toBe(server.key);
    expect(fs.statSync(files.keyFile).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).sort()).toEqual(['node-1.crt', 'node-1.key']);

    const fresh = path.join(tmpDir('cairn-certs-'), 'new');
    expect(fs.statSync(writePemFiles(fresh, 'ca', ca).keyFile).mode & 0o777).toBe(0o600);
    expect(() => writePemFiles(fresh, '../escape', ca)).toThrow(/plain file name/);
  });
});

// ---------------------------------------------------------------------------------------------
// Mutual TLS over loopback with node:tls.

interface MtlsServer {
  port: number;
  /** The authenticated peers the server accepted: whether tls says so, and their CN. */
  accepted: { authorized: boolean; cn: string }[];
  /** Handshakes the server refused. */
  refused: Error[];
  close(): Promise<void>;
}

/** A TLS server on 127.0.0.1 that requires a client certificate issued by `trusted`, and greets each peer by its CN. */
async function startServer(pem: Pem, trusted: Pem): Promise<MtlsServer> {
  const accepted: MtlsServer['accepted'] = [];
  const refused: Error[] = [];
  const connections = new Set<net.Socket>();
  const srv = tls.createServer({ key: pem.key, cert: pem.cert, ca: [trusted.cert], requestCert: true, rejectUnauthorized: true }, (socket) => {
    const cn = String(socket.getPeerCertificate().subject?.CN ?? '');
    accepted.push({ authorized: socket.authorized, cn });
    socket.end(`hello ${cn}`);
  });
  srv.on('connection', (s: net.Socket) => {
    connections.add(s);
    s.on('close', () => connections.delete(s));
  });
  srv.on('tlsClientError', (err) => refused.push(err));
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of connections) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

interface Exchange {
  /** Whether the client's handshake completed with the server authenticated. */
  authorized: boolean;
  /** What the server sent before the connection closed. */
  received: string;
  error?: Error;
}

/** Connects as `pem` (no client certificate if undefined), trusting `trusted`, and reads until the connection closes (or fails) — within a deadline, no fixed sleeps. */
function exchange(port: number, pem: Pem | undefined, trusted: Pem, deadlineMs = 10_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const result: Exchange = { authorized: false, received: '' };
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...(pem && { key: pem.key, cert: pem.cert }), ca: [trusted.cert] });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${deadlineMs} ms: ${JSON.stringify(result)}`));
    }, deadlineMs);
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => (result.authorized = socket.authorized));
    socket.on('data', (chunk: string) => (result.received += chunk));
    socket.on('error', (err) => (result.error = err));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(result);
    });
  });
}

describe('mutual TLS with the issued certificates', () => {
  it('a client with a certificate from the same CA connects; both sides are authorized and the server sees its CN', async () => {
    const srv = await startServer(server, ca);
    try {
      const r = await exchange(srv.port, client, ca);
      expect(r.error).toBeUndefined();
      expect(r.authorized).toBe(true);
      expect(r.received).toBe('hello client-1');
      expect(srv.accepted).toEqual([{ authorized: true, cn: 'client-1' }]);
      expect(srv.refused).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('the server refuses a client certificate from a different CA, and a client without one', async () => {
    const stranger = issueCertificate(otherCa, { commonName: 'stranger', usage: 'client' });
    const srv = await startServer(server, ca);
    try {
      for (const [i, pem] of [stranger, undefined].entries()) {
        const r = await exchange(srv.port, pem, ca);
        // Under TLS 1.3 the client's half of the handshake finishes before the server checks its
        // certificate, and the server then just closes: the client gets no greeting, and an error or a
        // bare close. The server reports the handshake as failed (tls says only "socket hang up").
        expect(r.received).toBe('');
        await waitFor(() => srv.refused.length > i, 'the server to refuse the handshake', 10_000);
      }
      expect(srv.accepted).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a client refuses a server whose certificate is for clients only', async () => {
    const srv = await startServer(issueCertificate(ca, { commonName: 'imposter', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'client' }), ca);
    try {
      const r = await exchange(srv.port, client, ca);
      expect(r.authorized).toBe(false);
      expect(r.error?.message).toMatch(/purpose/i);
      expect(srv.accepted).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});
