import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { CairnError, ErrorCode, errorName, isRetriable } from '../common';
import type { SaslAuthenticateResponse } from '../protocol';
import { AUTHORIZATION_KEY, fromServiceError, RpcClient } from '../protocol/io';
import { clientProof, escapeUsername, parseAttributes, parseMechanism, saltedPassword, serverCredential, serverSignature } from '../security';

/** A user name and password, for brokers' SSL listeners (SASL/SCRAM; docs/security.md). */
export interface SaslOptions {
  /** SCRAM-SHA-512 (default) or SCRAM-SHA-256. */
  mechanism?: string;
  username: string;
  password: string;
}

interface Session {
  token: string;
  /** Re-authenticate from here on: before the session runs out. */
  renewAtMs: number;
}

/**
 * The client side of SCRAM over gRPC: one session per broker address, made with the two-step
 * SaslAuthenticate exchange the first time a call goes there and again before it expires, and
 * sent as `authorization: Bearer <token>` on every call (gRPC call credentials). The server's
 * final message is checked too, so a node that does not know the user's credential cannot pose
 * as the cluster. A refused password fails the call with SASL_AUTHENTICATION_FAILED.
 */
export class ScramClient {
  private readonly sessions = new Map<string, Session>();
  private readonly pending = new Map<string, Promise<Session>>();
  private readonly mechanism;

  constructor(
    private readonly options: SaslOptions,
    /** TLS without call credentials: what the exchange itself runs over. */
    private readonly transport: grpc.ChannelCredentials,
    private readonly timeoutMs: number,
  ) {
    this.mechanism = parseMechanism(options.mechanism ?? 'SCRAM-SHA-512');
  }

  /** Call credentials for the channel to `address` (gRPC's service URL names the host without its port). */
  callCredentials(address: string): grpc.CallCredentials {
    return grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      this.token(address).then(
        (token) => {
          const md = new grpc.Metadata();
          md.set(AUTHORIZATION_KEY, `Bearer ${token}`);
          callback(null, md);
        },
        (err: unknown) => {
          const e = err instanceof CairnError ? err : new CairnError(ErrorCode.NETWORK_EXCEPTION, (err as Error).message);
          // A network failure is retried like any; a refused password is not.
          callback(Object.assign(new Error(`${errorName(e.code)}: ${e.message}`), { code: isRetriable(e.code) ? grpc.status.UNAVAILABLE : grpc.status.UNAUTHENTICATED }));
        },
      );
    });
  }

  /**
   * A client interceptor for the channel to `address`: a call the server refused with
   * REAUTHENTICATION_REQUIRED (it restarted and lost its sessions, the token expired, or the
   * password changed) drops the session, so the retry authenticates again — and fails with
   * SASL_AUTHENTICATION_FAILED if the password is no longer good.
   */
  interceptor(address: string): grpc.Interceptor {
    return (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start: (metadata, listener, next) => {
          // `listener` is grpc-js's full listener: its callbacks take the event alone.
          next(metadata, {
            onReceiveMetadata: (md: grpc.Metadata) => listener.onReceiveMetadata(md),
            onReceiveMessage: (message: unknown) => listener.onReceiveMessage(message),
            onReceiveStatus: (status: grpc.StatusObject) => {
              if (status.code !== grpc.status.OK && fromServiceError(status as grpc.ServiceError).code === ErrorCode.REAUTHENTICATION_REQUIRED) this.forget(address);
              listener.onReceiveStatus(status);
            },
          });
        },
      });
  }

  /** Forgets the session with `address` (the server refused its token): the next call authenticates again. */
  forget(address: string): void {
    this.sessions.delete(address);
  }

  private async token(address: string): Promise<string> {
    const s = this.sessions.get(address);
    if (s && Date.now() < s.renewAtMs) return s.token;
    let p = this.pending.get(address);
    if (!p) {
      p = this.exchange(address).finally(() => this.pending.delete(address));
      this.pending.set(address, p);
    }
    return (await p).token;
  }

  private async exchange(address: string): Promise<Session> {
    const rpc = new RpcClient(address, 'cairn.v1.Broker', this.transport);
    try {
      const m = this.mechanism;
      const clientNonce = randomBytes(24).toString('base64');
      const clientFirstBare = `n=${escapeUsername(this.options.username)},r=${clientNonce}`;
      const first = await this.step(rpc, { mechanism: m, authBytes: Buffer.from(`n,,${clientFirstBare}`) });
      const serverFirst = Buffer.from(first.authBytes).toString('utf8');
      const a = parseAttributes(serverFirst);
      const iterations = Number(a.i);
      if (!a.r?.startsWith(clientNonce) || !a.s || !Number.isInteger(iterations) || iterations < 1)
        throw new CairnError(ErrorCode.SASL_AUTHENTICATION_FAILED, 'the server answered SCRAM with a malformed message');
      const salted = saltedPassword(m, this.options.password, Buffer.from(a.s, 'base64'), iterations);
      const withoutProof = `c=biws,r=${a.r}`;
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const proof = clientProof(m, salted, authMessage).toString('base64');
      const final = await this.step(rpc, { mechanism: m, sessionId: first.sessionId, authBytes: Buffer.from(`${withoutProof},p=${proof}`) });
      const expected = serverSignature(m, serverCredential(m, salted).serverKey, authMessage).toString('base64');
      if (Buffer.from(final.authBytes).toString('utf8') !== `v=${expected}`)
        throw new CairnError(ErrorCode.SASL_AUTHENTICATION_FAILED, 'the server could not prove it knows this user (wrong server signature)');
      const session = { token: final.token, renewAtMs: Date.now() + Math.max(1_000, final.sessionLifetimeMs * 0.8) };
      this.sessions.set(address, session);
      return session;
    } finally {
      rpc.close();
    }
  }

  private async step(rpc: RpcClient, req: object): Promise<SaslAuthenticateResponse> {
    const res = await rpc.unary<object, SaslAuthenticateResponse>('SaslAuthenticate', req, this.timeoutMs);
    if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage);
    return res;
  }
}
