import type * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode, type Logger } from '../common';
import { ANONYMOUS, certificatePrincipal, type MappingRule, type Principal, principalString } from '../security';
import { peerHost, toServiceError } from './grpc-util';

type Call = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;
type AnyHandler = (call: Call, callback?: grpc.sendUnaryData<unknown>) => void;

/** Who may call a service on a listener. */
export type ServicePolicy =
  /** Any client (its principal is still worked out, for the log and for authorization). */
  | 'clients'
  /** Only cluster members (cluster.principals): Raft, Controller, Replica, and the internal listener. */
  | 'cluster';

/**
 * Who is calling, and whether they may: the principal of a call (from its verified client
 * certificate on an SSL listener, else ANONYMOUS), and the gate in front of the node-to-node
 * services, which answer only cluster principals once a listener is SSL. A refused call gets
 * CLUSTER_AUTHORIZATION_FAILED (gRPC PERMISSION_DENIED) and one audit line in the log.
 */
export class AccessControl {
  constructor(
    private readonly rules: MappingRule[],
    private readonly clusterPrincipals: ReadonlySet<string>,
    private readonly logger: Logger,
  ) {}

  /** The cluster.principals, as `User:NAME` strings. */
  get clusterPrincipalNames(): readonly string[] {
    return [...this.clusterPrincipals];
  }

  principalOf(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } }): Principal {
    const cert = call.getAuthContext?.().sslPeerCertificate;
    if (!cert?.raw) return ANONYMOUS;
    try {
      return certificatePrincipal(cert.raw, this.rules);
    } catch {
      // No mapping rule matches this subject: it authenticates as nobody in particular.
      return ANONYMOUS;
    }
  }

  principalString(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } }): string {
    return principalString(this.principalOf(call));
  }

  isClusterMember(p: Principal): boolean {
    return this.clusterPrincipals.has(principalString(p));
  }

  /**
   * `impl` with every handler behind the policy. `secured` is false on a PLAINTEXT listener,
   * where nothing can be authenticated and the network is the boundary (docs/security.md).
   */
  guard<T extends grpc.UntypedServiceImplementation>(service: string, definition: grpc.ServiceDefinition, impl: T, policy: ServicePolicy, secured: boolean): T {
    if (!secured || policy === 'clients') return impl;
    const out: grpc.UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(impl)) {
      const def = definition[method];
      const unaryResponse = def !== undefined && !def.responseStream;
      const h = handler as unknown as AnyHandler;
      out[method] = ((call: Call, callback?: grpc.sendUnaryData<unknown>) => {
        const principal = this.principalOf(call);
        if (this.isClusterMember(principal)) {
          h(call, callback);
          return;
        }
        this.logger.warn({ principal: principalString(principal), operation: `${service}/${method}`, resource: 'cluster', host: peerHost(call.getPeer()) }, 'authorization denied');
        const err = toServiceError(
          new CairnError(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, `${principalString(principal)} is not a cluster member: ${service} serves only the nodes of the cluster`),
          this.logger,
        );
        if (unaryResponse && callback) callback(err);
        else (call as grpc.ServerWritableStream<unknown, unknown>).emit('error', err);
      }) as unknown as grpc.UntypedHandleCall;
    }
    return out as T;
  }
}
