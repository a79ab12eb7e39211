import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import type { ScramMechanism } from '../metadata';

/**
 * SCRAM (RFC 5802, RFC 7677) as Kafka uses it for SASL/SCRAM-SHA-512 and -256: the arithmetic and
 * the message syntax, with no I/O. The server keeps StoredKey and ServerKey, never the password.
 */

export const MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-512', 'SCRAM-SHA-256'];
/** Kafka's minimum and default iteration counts. */
export const MIN_ITERATIONS = 4096;
export const MAX_ITERATIONS = 16384;

export class ScramError extends Error {}

const hashOf = (m: ScramMechanism) => (m === 'SCRAM-SHA-512' ? 'sha512' : 'sha256');

export function parseMechanism(raw: string): ScramMechanism {
  const m = MECHANISMS.find((x) => x === raw.toUpperCase());
  if (!m) throw new ScramError(`mechanism must be ${MECHANISMS.join(' or ')}, not "${raw}"`);
  return m;
}

/** Hi(password, salt, i) of RFC 5802: PBKDF2 with the mechanism's HMAC. */
export function saltedPassword(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  const h = hashOf(mechanism);
  return pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, h === 'sha512' ? 64 : 32, h);
}

const hmac = (m: ScramMechanism, key: Buffer, data: string | Buffer) => createHmac(hashOf(m), key).update(data).digest();
const hash = (m: ScramMechanism, data: Buffer) => createHash(hashOf(m)).update(data).digest();

export function clientKey(m: ScramMechanism, salted: Buffer): Buffer {
  return hmac(m, salted, 'Client Key');
}

/** What the server stores: StoredKey = H(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key"). */
export function serverCredential(m: ScramMechanism, salted: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  return { storedKey: hash(m, clientKey(m, salted)), serverKey: hmac(m, salted, 'Server Key') };
}

const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ b[i]!));

/** RFC 5802's attribute syntax: `n=user,r=nonce` → { n: 'user', r: 'nonce' }. */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const m = /^([a-zA-Z])=(.*)$/s.exec(part);
    if (!m) throw new ScramError(`malformed SCRAM message part "${part.slice(0, 40)}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** saslname escaping: "=" → "=3D", "," → "=2C". */
export const escapeUsername = (name: string) => name.replace(/=/g, '=3D').replace(/,/g, '=2C');
export function unescapeUsername(raw: string): string {
  if (/=(?!2C|3D)/.test(raw)) throw new ScramError('malformed user name escape');
  return raw.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** The client's proof: ClientKey XOR HMAC(StoredKey, AuthMessage). */
export function clientProof(m: ScramMechanism, salted: Buffer, authMessage: string): Buffer {
  const key = clientKey(m, salted);
  return xor(key, hmac(m, hash(m, key), authMessage));
}

/** The server's check of a client proof against the stored credential (constant time). */
export function verifyClientProof(m: ScramMechanism, storedKey: Buffer, authMessage: string, proof: Buffer): boolean {
  const signature = hmac(m, storedKey, authMessage);
  if (proof.length !== signature.length) return false;
  const recovered = xor(proof, signature);
  return timingSafeEqual(hash(m, recovered), storedKey);
}

/** ServerSignature = HMAC(ServerKey, AuthMessage): proves to the client that the server knows its credential. */
export function serverSignature(m: ScramMechanism, serverKey: Buffer, authMessage: string): Buffer {
  return hmac(m, serverKey, authMessage);
}
