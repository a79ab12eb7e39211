import * as grpc from '@grpc/grpc-js';

/** TLS toward an SSL listener, as a client sees it (docs/security.md). */
export interface ClientTls {
  /** The CA certificate(s), PEM, that the brokers' certificates must chain to. */
  ca: string | Buffer;
  /** A client certificate and its key (PEM), for listeners that require mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Check that a broker's certificate names the address dialled (Kafka's ssl.endpoint.identification.algorithm=https; default true). */
  checkServerName?: boolean;
}

const buf = (v: string | Buffer | undefined) => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));

/** Channel credentials: TLS with `tls`, plaintext without. */
export function channelCredentials(tls: ClientTls | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error('a client certificate needs its key, and a key its certificate');
  return grpc.credentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert), tls.checkServerName === false ? { checkServerIdentity: () => undefined } : {});
}
