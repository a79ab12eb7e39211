import * as grpc from '@grpc/grpc-js';
import type { Clock, Logger } from '../common';
import type { MetadataImage } from '../metadata';
import { certificatePrincipal, parseMappingRules, principalString } from '../security';
import { peerChannelCredentials, ReloadingTlsFiles, serverCredentials } from '../security/io';
import { AccessControl } from './access';
import type { NodeConfig } from './config';
import { QuotaManager } from './quotas';
import { RequestGate } from './request-gate';
import { ScramAuthenticator } from './sasl';

/**
 * One node's security (docs/security.md), wired from its config in one place: its TLS files
 * (re-read when rotated), how it dials other nodes, who the cluster members are (AccessControl,
 * which guards the node-to-node services), and — for the client listener — the request gate with
 * SCRAM sessions, ACLs and quotas.
 */
export class NodeSecurity {
  /** This node's TLS files, when a listener is SSL. */
  readonly tls: ReloadingTlsFiles | null;
  /** How this node dials other nodes' internal listener: TLS with its own certificate, or plaintext (undefined). */
  readonly peerCredentials: grpc.ChannelCredentials | undefined;
  readonly access: AccessControl;

  constructor(
    private readonly config: NodeConfig,
    private readonly logger: Logger,
  ) {
    this.tls = config.ssl ? new ReloadingTlsFiles(config.ssl, logger) : null;
    this.peerCredentials = config.protocols.internal === 'SSL' && this.tls ? peerChannelCredentials(this.tls, config.ssl!.endpointIdentification) : undefined;
    const rules = parseMappingRules(config.ssl?.principalMappingRules ?? 'DEFAULT');
    // Without cluster.principals the cluster members are those with this node's own identity.
    const members = config.clusterPrincipals.length > 0 || !this.tls ? config.clusterPrincipals : [principalString(certificatePrincipal(this.tls.certificateDer(), rules))];
    this.access = new AccessControl(rules, new Set(members), logger);
    if (this.tls) logger.info({ clusterPrincipals: members, client: config.protocols.client, internal: config.protocols.internal }, 'TLS on');
  }

  /**
   * The client listener's gate (an interceptor on every request) and the SCRAM authenticator the
   * Broker service's SaslAuthenticate uses. Passwords only over TLS: there is no authenticator
   * unless the client listener is SSL. `imageCurrent` says whether this node's metadata is
   * current enough to decide (AUTHORIZER_NOT_READY until it is).
   */
  clientGate(image: () => MetadataImage, clock: Clock, imageCurrent: () => boolean): { gate: RequestGate; sasl: ScramAuthenticator | null } {
    const c = this.config;
    const sasl = c.protocols.client === 'SSL' ? new ScramAuthenticator(image, clock, { sessionLifetimeMs: c.saslSessionLifetimeMs }, this.logger, imageCurrent) : null;
    const quotas = new QuotaManager(image, { samples: c.quotaWindowNum, sampleMs: c.quotaWindowSizeSeconds * 1000 });
    if (c.authorizationEnable)
      this.logger.info({ superUsers: c.superUsers, allowEveryoneIfNoAclFound: c.allowEveryoneIfNoAclFound }, 'authorization on: every client request is checked against the ACLs');
    return { gate: new RequestGate(this.access, image, c, sasl, quotas, clock, this.logger, imageCurrent), sasl };
  }

  /** The credentials a listener binds with: TLS (asking for client certificates as configured) or plaintext. */
  serverCredentials(slot: 'client' | 'internal'): grpc.ServerCredentials {
    return this.config.protocols[slot] === 'SSL' && this.tls ? serverCredentials(this.tls, this.config.ssl!.clientAuth[slot]) : grpc.ServerCredentials.createInsecure();
  }

  close(): void {
    this.tls?.close();
  }
}
