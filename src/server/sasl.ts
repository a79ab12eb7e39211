import { randomBytes } from 'node:crypto';
import { type Clock, ErrorCode, type Logger } from '../common';
import type { MetadataImage, ScramMechanism, UserScramCredentialRecord } from '../metadata';
import type { SaslAuthenticateRequest, SaslAuthenticateResponse } from '../protocol';
import { MECHANISMS, parseAttributes, ScramError, serverSignature, unescapeUsername, verifyClientProof } from '../security';

/** How long a SCRAM exchange may sit between its two steps. */
const EXCHANGE_TIMEOUT_MS = 30_000;
/** Bounds on the state a flood of half-done exchanges or sessions can make a node keep (style §9). */
const MAX_PENDING_EXCHANGES = 10_000;
const MAX_SESSIONS = 100_000;

interface Exchange {
  user: string;
  mechanism: ScramMechanism;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  /** null: an unknown user, answered like a known one so names cannot be probed; it always fails. */
  credential: UserScramCredentialRecord | null;
  expiresAtMs: number;
}

interface Session {
  user: string;
  mechanism: ScramMechanism;
  /** The stored key it authenticated against: a changed or deleted password ends the session. */
  storedKey: string;
  expiresAtMs: number;
}

export interface SaslConfig {
  /** How long a session token is good for (the client authenticates again before it runs out). */
  sessionLifetimeMs: number;
}

/**
 * SASL/SCRAM over gRPC (docs/security.md): the two-step exchange of RFC 5802 through the
 * SaslAuthenticate call, after which the client sends `authorization: Bearer <token>` on its
 * calls and is the principal User:<name>. Credentials are read from the metadata image at each
 * use, so a deleted user or a new password ends every session of that user at its next request.
 * Failures are logged (user, host, reason) without any secret.
 */
export class ScramAuthenticator {
  private readonly exchanges = new Map<string, Exchange>();
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly image: () => MetadataImage,
    private readonly clock: Clock,
    private readonly config: SaslConfig,
    private readonly logger: Logger,
    /** Whether the image is current: a restarting node may not know a user yet, and must not say "unknown user" (RequestGate's rule). */
    private readonly imageCurrent: () => boolean = () => true,
  ) {}

  authenticate(req: SaslAuthenticateRequest, host: string): SaslAuthenticateResponse {
    this.expire();
    const fail = (code: ErrorCode, message: string, user = ''): SaslAuthenticateResponse => {
      this.logger.warn({ user, host, mechanism: req.mechanism, reason: message }, 'authentication failed');
      return { errorCode: code, errorMessage: message, authBytes: Buffer.alloc(0), sessionId: '', token: '', sessionLifetimeMs: 0 };
    };
    if (!this.imageCurrent()) {
      // Not a failure of the client's: its answer is not known here yet. Retried, not logged as a refusal.
      return {
        errorCode: ErrorCode.AUTHORIZER_NOT_READY,
        errorMessage: 'this broker is still catching up with the metadata log; retry',
        authBytes: Buffer.alloc(0),
        sessionId: '',
        token: '',
        sessionLifetimeMs: 0,
      };
    }
    const mechanism = MECHANISMS.find((m) => m === req.mechanism);
    if (!mechanism) return fail(ErrorCode.UNSUPPORTED_SASL_MECHANISM, `mechanism "${req.mechanism}" is not offered; use ${MECHANISMS.join(' or ')}`);
    const text = Buffer.from(req.authBytes ?? []).toString('utf8');
    try {
      if (!req.sessionId) return this.first(mechanism, text);
      const ex = this.exchanges.get(req.sessionId);
      this.exchanges.delete(req.sessionId);
      if (!ex || ex.mechanism !== mechanism) return fail(ErrorCode.ILLEGAL_SASL_STATE, 'no SCRAM exchange is waiting under this session id (it expired or was used)');
      const r = this.final(ex, text);
      if (typeof r === 'string') return fail(ErrorCode.SASL_AUTHENTICATION_FAILED, 'authentication failed: unknown user or wrong password', ex.user);
      this.logger.info({ user: ex.user, host, mechanism }, 'authenticated');
      return r;
    } catch (err) {
      if (!(err instanceof ScramError)) throw err;
      return fail(ErrorCode.SASL_AUTHENTICATION_FAILED, err.message);
    }
  }

  private first(mechanism: ScramMechanism, text: string): SaslAuthenticateResponse {
    // client-first-message: gs2-header "n,," (no channel binding, no authzid) then n=user,r=nonce.
    if (!text.startsWith('n,,')) throw new ScramError('client-first-message must start with "n,," (no channel binding, no authorization id)');
    const clientFirstBare = text.slice(3);
    const a = parseAttributes(clientFirstBare);
    if (a.n === undefined || !a.r) throw new ScramError('client-first-message needs n= and r=');
    const user = unescapeUsername(a.n);
    if (this.exchanges.size >= MAX_PENDING_EXCHANGES) throw new ScramError('too many SCRAM exchanges in progress; retry shortly');
    const credential = this.image().scramCredentials.get(user)?.get(mechanism) ?? null;
    const nonce = a.r + randomBytes(18).toString('base64');
    const salt = credential?.salt ?? randomBytes(32).toString('base64');
    const serverFirst = `r=${nonce},s=${salt},i=${credential?.iterations ?? 4096}`;
    const sessionId = randomBytes(18).toString('base64url');
    this.exchanges.set(sessionId, { user, mechanism, clientFirstBare, serverFirst, nonce, credential, expiresAtMs: this.clock.nowMs() + EXCHANGE_TIMEOUT_MS });
    return { errorCode: ErrorCode.NONE, errorMessage: '', authBytes: Buffer.from(serverFirst), sessionId, token: '', sessionLifetimeMs: 0 };
  }

  /** The answer to client-final-message, or the reason it fails (never told to the client). */
  private final(ex: Exchange, text: string): SaslAuthenticateResponse | string {
    const i = text.lastIndexOf(',p=');
    if (i < 0) return 'no proof';
    const withoutProof = text.slice(0, i);
    const a = parseAttributes(withoutProof);
    if (a.c !== 'biws') return 'channel binding must be "biws" (n,,)';
    if (a.r !== ex.nonce) return 'nonce mismatch';
    if (!ex.credential) return 'unknown user';
    const proof = Buffer.from(text.slice(i + 3), 'base64');
    const authMessage = `${ex.clientFirstBare},${ex.serverFirst},${withoutProof}`;
    if (!verifyClientProof(ex.mechanism, Buffer.from(ex.credential.storedKey, 'base64'), authMessage, proof)) return 'wrong password';
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    this.sessions.set(token, { user: ex.user, mechanism: ex.mechanism, storedKey: ex.credential.storedKey, expiresAtMs: this.clock.nowMs() + this.config.sessionLifetimeMs });
    const verifier = serverSignature(ex.mechanism, Buffer.from(ex.credential.serverKey, 'base64'), authMessage);
    return { errorCode: ErrorCode.NONE, errorMessage: '', authBytes: Buffer.from(`v=${verifier.toString('base64')}`), sessionId: '', token, sessionLifetimeMs: this.config.sessionLifetimeMs };
  }

  /** The user a bearer token stands for, or null when it is unknown, expired, or its credential changed since. */
  userOf(token: string): string | null {
    const s = this.sessions.get(token);
    if (!s) return null;
    const current = this.image().scramCredentials.get(s.user)?.get(s.mechanism);
    // Both keys are the server's own (the secret is the token, looked up above): a plain comparison is enough.
    if (current?.storedKey !== s.storedKey || s.expiresAtMs <= this.clock.nowMs()) {
      this.sessions.delete(token);
      return null;
    }
    return s.user;
  }

  private expire(): void {
    const now = this.clock.nowMs();
    for (const [id, ex] of this.exchanges) if (ex.expiresAtMs <= now) this.exchanges.delete(id);
    for (const [token, s] of this.sessions) if (s.expiresAtMs <= now) this.sessions.delete(token);
  }
}
