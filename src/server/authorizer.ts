import * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode, type Logger } from '../common';
import type { MetadataImage } from '../metadata';
import { isMalformed } from '../protocol/io';
import { authorize, type Requirement } from '../security';
import type { AccessControl } from './access';
import { peerHost, toServiceError } from './grpc-util';
import { deniedCode, type Need, REQUEST_RULES } from './request-acls';
import type { ScramAuthenticator } from './sasl';

const NODE_TO_NODE = ['cairn.v1.Raft/', 'cairn.v1.Controller/', 'cairn.v1.Replica/'];

export interface AuthorizationConfig {
  /** authorization.enable: without it requests are authenticated (a bad token is refused) but not checked against ACLs. */
  authorizationEnable: boolean;
  /** super.users; cluster members are super users too. */
  superUsers: readonly string[];
  /** allow.everyone.if.no.acl.found */
  allowEveryoneIfNoAclFound: boolean;
}

/** The metadata key of a SCRAM session token: `authorization: Bearer <token>`. */
export const AUTHORIZATION_KEY = 'authorization';

/**
 * Who calls, and whether they may, for every request of an SSL client listener, as a gRPC server
 * interceptor. The principal is the SCRAM user of a bearer token (SaslAuthenticate; an unknown,
 * expired or revoked token is refused with SASL_AUTHENTICATION_FAILED), else the verified client
 * certificate's, else ANONYMOUS. With authorization.enable=true it then sees each request message
 * before the handler does, refuses one that needs
 * something the caller's principal may not do with Kafka's typed error (TOPIC_, GROUP_,
 * TRANSACTIONAL_ID_ or CLUSTER_AUTHORIZATION_FAILED, gRPC PERMISSION_DENIED) and an audit line,
 * and trims list answers to what the principal may Describe. The ACLs are read from the metadata
 * image at each request, so an ACL added or removed applies without a restart. A request of a
 * service or method it has no rule for is refused unless the caller is a super user.
 */
export class RequestAuthorizer {
  private readonly superUsers: ReadonlySet<string>;

  constructor(
    private readonly access: AccessControl,
    private readonly image: () => MetadataImage,
    private readonly config: AuthorizationConfig,
    private readonly sasl: ScramAuthenticator | null,
    private readonly logger: Logger,
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
      /** The session token the call came with: checked again at every message of a stream, so a revoked password ends it. */
      let token: string | null = null;
      let request: Record<string, unknown> = {};
      let denied = false;
      const refuse = (code: ErrorCode, why: string) => {
        denied = true;
        const err = toServiceError(new CairnError(code, why), this.logger);
        call.sendStatus({ code: err.code, details: err.details, metadata: err.metadata });
      };
      const deny = (r: Requirement | null, why: string) => {
        this.logger.warn({ principal, operation: r?.operation ?? path, resource: r ? `${r.resource.type}:${r.resource.name}` : path, host, request: path }, 'authorization denied');
        refuse(r ? deniedCode(r.resource.type) : deniedCode('cluster'), why);
      };
      return new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (metadata, nextMetadata) => {
              const bearer = /^Bearer (.+)$/.exec(String(metadata.get(AUTHORIZATION_KEY)[0] ?? ''));
              if (bearer) {
                const user = this.sasl?.userOf(bearer[1]!) ?? null;
                if (user === null) {
                  this.logger.warn({ host, request: path, reason: 'unknown, expired or revoked session token' }, 'authentication failed');
                  refuse(ErrorCode.SASL_AUTHENTICATION_FAILED, 'the session token is unknown, expired, or its credential changed: authenticate again');
                  return;
                }
                principal = `User:${user}`;
                token = bearer[1]!;
              } else {
                principal = this.access.principalString(call);
              }
              nextMetadata(metadata);
            },
            onReceiveMessage: (message, nextMessage) => {
              if (denied) return;
              if (token !== null && this.sasl?.userOf(token) !== principal.slice('User:'.length)) {
                this.logger.warn({ principal, host, request: path, reason: 'session token expired or revoked during a stream' }, 'authentication failed');
                return refuse(ErrorCode.SASL_AUTHENTICATION_FAILED, 'the session ended (its password changed, the user was deleted, or it expired): authenticate again');
              }
              if (!this.config.authorizationEnable) return nextMessage(message);
              if (isMalformed(message)) return nextMessage(message);
              request = message as Record<string, unknown>;
              if (!rule) {
                if (!this.superUsers.has(principal)) return deny(null, `${principal} may not call ${path}`);
              } else if (rule.needs) {
                const r = this.refused(rule.needs(request), principal, host);
                if (r) return deny(r, `${principal} may not ${r.operation} ${r.resource.type} "${r.resource.name}"`);
              }
              nextMessage(message);
            },
            onReceiveHalfClose: (nextHalfClose) => {
              if (!denied) nextHalfClose();
            },
          }),
        sendMessage: (message, nextMessage) => {
          const may = (r: Requirement, audit: boolean) => {
            const ok = this.may(principal, host, r);
            if (!ok && audit) this.logger.warn({ principal, operation: r.operation, resource: `${r.resource.type}:${r.resource.name}`, host, request: path }, 'authorization denied');
            return ok;
          };
          nextMessage(rule?.filter && this.config.authorizationEnable ? rule.filter(message as Record<string, unknown>, may, request) : message);
        },
      });
    };
  }
}
