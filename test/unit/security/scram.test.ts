import { describe, expect, it } from 'vitest';
import { clientProof, escapeUsername, parseAttributes, saltedPassword, serverCredential, serverSignature, unescapeUsername, verifyClientProof } from '../../../src/security/scram';

// RFC 7677 section 3: the SCRAM-SHA-256 exchange of user "user" with password "pencil".
const RFC = {
  clientFirstBare: 'n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  withoutProof: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  proof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  verifier: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

describe('SCRAM', () => {
  const salted = saltedPassword('SCRAM-SHA-256', 'pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  const authMessage = `${RFC.clientFirstBare},${RFC.serverFirst},${RFC.withoutProof}`;

  it("computes RFC 7677's client proof and server signature", () => {
    expect(clientProof('SCRAM-SHA-256', salted, authMessage).toString('base64')).toBe(RFC.proof);
    expect(serverSignature('SCRAM-SHA-256', serverCredential('SCRAM-SHA-256', salted).serverKey, authMessage).toString('base64')).toBe(RFC.verifier);
  });

  it('verifies a proof against the stored key only, and refuses a wrong one', () => {
    const { storedKey } = serverCredential('SCRAM-SHA-256', salted);
    expect(verifyClientProof('SCRAM-SHA-256', storedKey, authMessage, Buffer.from(RFC.proof, 'base64'))).toBe(true);
    const wrong = clientProof('SCRAM-SHA-256', saltedPassword('SCRAM-SHA-256', 'pencil2', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096), authMessage);
    expect(verifyClientProof('SCRAM-SHA-256', storedKey, authMessage, wrong)).toBe(false);
    expect(verifyClientProof('SCRAM-SHA-256', storedKey, authMessage, Buffer.alloc(3))).toBe(false);
    // The proof is bound to the exchange: replayed in another one, it fails.
    expect(verifyClientProof('SCRAM-SHA-256', storedKey, authMessage.replace('rOpr', 'xOpr'), Buffer.from(RFC.proof, 'base64'))).toBe(false);
  });

  it('SCRAM-SHA-512 keys are 64 bytes and round-trip the same way', () => {
    const s = saltedPassword('SCRAM-SHA-512', 'secret', Buffer.alloc(32, 7), 4096);
    expect(s.length).toBe(64);
    const { storedKey } = serverCredential('SCRAM-SHA-512', s);
    expect(verifyClientProof('SCRAM-SHA-512', storedKey, 'm', clientProof('SCRAM-SHA-512', s, 'm'))).toBe(true);
  });

  it('parses attributes and escapes user names as RFC 5802 says', () => {
    expect(parseAttributes('r=abc,s=Zm9v,i=4096')).toEqual({ r: 'abc', s: 'Zm9v', i: '4096' });
    expect(() => parseAttributes('garbage')).toThrow(/malformed/);
    expect(escapeUsername('a,b=c')).toBe('a=2Cb=3Dc');
    expect(unescapeUsername('a=2Cb=3Dc')).toBe('a,b=c');
    expect(() => unescapeUsername('a=4')).toThrow(/escape/);
  });
});
