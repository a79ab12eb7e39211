import * as grpc from '@grpc/grpc-js';
import { CairnError, type Clock, ErrorCode, type Logger } from '../common';
import type { MetadataImage } from '../metadata';
import { AUTHORIZATION_KEY, CLIENT_ID_KEY, isMalformed } from '../protocol/io';
import { authorize, type Requirement } from '../security';
import type { AccessControl } from './access';
import { peerHost, toServiceError } from './grpc-util';
import type { QuotaManager } from './quotas';
import { deniedCode, type Need, REQUEST_RULES } from './request-acls';
import type { ScramAuthenticator } from './sasl';

const NODE_TO_NODE = ['cairn.v1.Raft/', 'cairn.v1.Controller/', 'cairn.v1.Replica/'];
const PRODUCE = new Set(['cairn.v1.Broker/Produce', 'cairn.v1.Broker/ProduceStream']);
const FETCH = new Set(['cairn.v1.Broker/Fetch', 'cairn.v1.Broker/FetchStream']);

export interface AuthorizationConfig {
  /** authorization.enable: without it requests are authenticated (a bad token is refused) but not checked against ACLs. */
  authorizationEnable: boolean;
  /** super.users; cluster members are super users too. */
  superUsers: readonly string[];
  /** allow.everyone.if.no.acl.found */
  allowEveryoneIfNoAclFound: boolean;
}

const batchBytes = (partitions: unknown): number => ((partitions as { batches?: Uint8Array }[] | undefined) ?? []).reduce((n, p) => n + (p.batches?.length ?? 0), 0);

/**
 * What every request to the client listener passes before its handler runs, as a gRPC server
 * interceptor that sees the call's metadata and each message:
 *
 * - **Who**: the SCRAM user of a bearer token (SaslAuthenticate; an unknown, expired or revoked
 *   token is refused with SASL_AUTHENTICATION_FAILED, and checked again at every message of a
 *   stream), else the verified client certificate's principal, else ANONYMOUS.
 * - **May they** (authorization.enable=true): the request's needs in Kafka's operation table
 *   (request-acls.ts) against the ACLs of the current metadata image, so an ACL change applies at
 *   once. A refusal gets Kafka's typed error (TOPIC_, GROUP_, TRANSACTIONAL_ID_ or
 *   CLUSTER_AUTHORIZATION_FAILED, gRPC PERMISSION_DENIED) and an audit line; list answers are
 *   trimmed to what the principal may Describe; a method without a rule is for super users only.
 * - **How fast** (client quotas): request_rate on every request, producer_byte_rate on produce
 *   batches, consumer_byte_rate on fetched batches. Over a quota, the answer is held back by the
 *   throttle time and says so (throttle_time_ms).
 */
export class RequestGate {
  private readonly superUsers: ReadonlySet<string>;

  constructor(
    private readonly access: AccessControl,
    private readonly image: () => MetadataImage,
    private readonly config: AuthorizationConfig,
    private readonly sasl: ScramAuthenticator | null,
    private readonly quotas: QuotaManager,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /**
     * Whether this node's metadata image is current (its own registration is in it, unfenced). A
     * restarted node replays the metadata log first; until then its ACLs may be old, and a
     * refusal on their word would be wrong (the chaos suite saw a write refused, and reported as
     * failed, while an earlier attempt of it had been written): it answers AUTHORIZER_NOT_READY,
     * which clients retry, instead.
     */
    private readonly imageCurrent: () => boolean = () => true,
  ) {
    this.superUsers = new Set([...config.superUsers, ...access.clusterPrincipalNames]);
  }

  may(principal: string, host: string, r: Requirement): boolean {
    if (!this.config.authorizationEnable) return true;
    return authorize({ acls: this.image().acls.values(), superUsers: this.superUsers, allowEveryoneIfNoAclFound: this.config.allowEveryoneIfNoAclFound }, principal, host, r);
  }

  /** The first requirement of `needs` the principal fails, or null. */
  private refused(needs: readonly Need[], principal: string, host: string): Requirement | null {
    for (const n of needs) {
      if ('anyOf' in n) {
        if (!n.anyOf.some((r) => this.may(principal, host, r))) return n.anyOf[n.anyOf.length - 1]!;
      } else if (!this.may(principal, host, n)) {
        return n;
      }
    }
    return null;
  }

  interceptor(): grpc.ServerInterceptor {
    return (method, call) => {
      const path = method.path.slice(1);
      // Health and reflection are open; the node-to-node services have their own gate (AccessControl.guard).
      if (!path.startsWith('cairn.v1.') || NODE_TO_NODE.some((s) => path.startsWith(s))) return new grpc.ServerInterceptingCall(call);
      const rule = REQUEST_RULES[path];
      const host = peerHost(call.getPeer());
      let principal = '';
      /** The principal's name, what user quotas are kept by. */
      let user = '';
      let clientId = '';
      /** The session token the call came with: checked again at every message of a stream, so a revoked password ends it. */
      let token: string | null = null;
      let request: Record<string, unknown> = {};
      let denied = false;
      /** Throttle earned by requests since the last answer, served on the next one. */
      let owedMs = 0;
      const refuse = (code: ErrorCode, why: string) => {
        denied = true;
        const err = toServiceError(new CairnError(code, why), this.logger);
        call.sendStatus({ code: err.code, details: err.details, metadata: err.metadata });
      };
      const audit = (r: Requirement | null) =>
        this.logger.warn({ principal, operation: r?.operation ?? path, resource: r ? `${r.resource.type}:${r.resource.name}` : path, host, request: path }, 'authorization denied');
      const deny = (r: Requirement | null, why: string) => {
        if (!this.imageCurrent()) return refuse(ErrorCode.AUTHORIZER_NOT_READY, `this broker is still catching up with the metadata log; ${why} is not decided yet`);
        audit(r);
        refuse(r ? deniedCode(r.resource.type) : deniedCode('cluster'), why);
      };
      return new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (metadata, nextMetadata) => {
              clientId = String(metadata.get(CLIENT_ID_KEY)[0] ?? '');
              const bearer = /^Bearer (.+)$/.exec(String(metadata.get(AUTHORIZATION_KEY)[0] ?? ''));
              if (bearer) {
                const name = this.sasl?.userOf(bearer[1]!) ?? null;
                if (name === null) {
                  this.logger.info({ host, request: path, reason: 'unknown, expired or revoked session token' }, 'reauthentication required');
                  refuse(ErrorCode.REAUTHENTICATION_REQUIRED, 'the session token is unknown here, expired, or its credential changed: authenticate again');
                  return;
                }
                principal = `User:${name}`;
                token = bearer[1]!;
              } else {
                principal = this.access.principalString(call);
              }
              user = principal.slice(principal.indexOf(':') + 1);
              nextMetadata(metadata);
            },
            onReceiveMessage: (message, nextMessage) => {
              if (denied) return;
              if (isMalformed(message)) return nextMessage(message);
              if (token !== null && this.sasl?.userOf(token) !== user) {
                this.logger.info({ principal, host, request: path, reason: 'session token expired or revoked during a stream' }, 'reauthentication required');
                return refuse(ErrorCode.REAUTHENTICATION_REQUIRED, 'the session ended (its password changed, the user was deleted, or it expired): authenticate again');
              }
              request = message as Record<string, unknown>;
              if (this.config.authorizationEnable) {
                if (!rule) {
                  if (!this.superUsers.has(principal)) return deny(null, `${principal} may not call ${path}`);
                } else if (rule.needs) {
                  const r = this.refused(rule.needs(request), principal, host);
                  if (r) return deny(r, `${principal} may not ${r.operation} ${r.resource.type} "${r.resource.name}"`);
                }
              }
              const now = this.clock.nowMs();
              owedMs = Math.max(owedMs, this.quotas.record('request_rate', user, clientId, 1, now));
              if (PRODUCE.has(path)) owedMs = Math.max(owedMs, this.quotas.record('producer_byte_rate', user, clientId, batchBytes(request.partitions), now));
              nextMessage(message);
            },
            onReceiveHalfClose: (nextHalfClose) => {
              if (!denied) nextHalfClose();
            },
          }),
        sendMessage: (message, nextMessage) => {
          const may = (r: Requirement, logRefusal: boolean) => {
            const ok = this.may(principal, host, r);
            if (!ok && logRefusal) audit(r);
            return ok;
          };
          let out = (rule?.filter && this.config.authorizationEnable ? rule.filter(message as Record<string, unknown>, may, request) : message) as Record<string, unknown>;
          let throttleMs = owedMs;
          owedMs = 0;
          if (FETCH.has(path)) throttleMs = Math.max(throttleMs, this.quotas.record('consumer_byte_rate', user, clientId, batchBytes(out.results), this.clock.nowMs()));
          if (throttleMs <= 0) return nextMessage(out);
          if (PRODUCE.has(path) || FETCH.has(path)) out = { ...out, throttleTimeMs: throttleMs };
          setTimeout(() => nextMessage(out), throttleMs);
        },
      });
    };
  }
}
