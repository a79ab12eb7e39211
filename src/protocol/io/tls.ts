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

/**
 * grpc-js names the host it dials as the TLS server name, and Node warns (DEP0123) once per process
 * when that is an IP address (`127.0.0.1:9092`). The certificate is still checked against the IP
 * (its subjectAltName), so the warning says nothing a user can act on: processes that want quiet stderr (the CLI, the servers, the chaos workers) call this once.
 */
export function silenceIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
