import * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode } from '../../common';
import { CHANNEL_OPTIONS, CLIENT_ID_KEY, ERROR_CODE_KEY, serviceDefinition } from './rpc';

/** Turns a gRPC failure into a CairnError: the server's code when it sent one, else a network error (outcome unknown). */
export function fromServiceError(err: grpc.ServiceError | Error): CairnError {
  const se = err as grpc.ServiceError;
  const raw = se.metadata?.get?.(ERROR_CODE_KEY)?.[0];
  if (raw !== undefined) {
    const details = se.details ?? se.message;
    return new CairnError(Number(raw) as ErrorCode, details.replace(/^[A-Z_]+: /, ''));
  }
  switch (se.code) {
    case grpc.status.INVALID_ARGUMENT:
      return new CairnError(ErrorCode.INVALID_REQUEST, se.details ?? se.message);
    case grpc.status.DEADLINE_EXCEEDED:
      return new CairnError(ErrorCode.REQUEST_TIMED_OUT, se.details || 'deadline exceeded; the outcome is unknown');
    case grpc.status.RESOURCE_EXHAUSTED:
      return new CairnError(ErrorCode.RECORD_LIST_TOO_LARGE, se.details ?? se.message);
    case grpc.status.UNAUTHENTICATED:
      // A refusal before any server code ran (the client's own SCRAM exchange failed).
      return new CairnError(ErrorCode.SASL_AUTHENTICATION_FAILED, (se.details ?? se.message).replace(/^.*?SASL_AUTHENTICATION_FAILED: /, ''));
    case grpc.status.UNIMPLEMENTED:
      return new CairnError(ErrorCode.INVALID_REQUEST, `the node does not serve this call (${se.details ?? se.message}); is it a broker?`);
    default:
      return new CairnError(ErrorCode.NETWORK_EXCEPTION, se.details || se.message || 'connection failed');
  }
}

type GenericClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
const constructors = new Map<string, grpc.ServiceClientConstructor>();

function clientConstructor(service: string): grpc.ServiceClientConstructor {
  let ctor = constructors.get(service);
  if (!ctor) {
    ctor = grpc.makeGenericClientConstructor(serviceDefinition(service), service);
    constructors.set(service, ctor);
  }
  return ctor;
}

/** One gRPC channel to one node, for one service. Channels reconnect by themselves. */
export class RpcClient {
  private readonly client: GenericClient;

  constructor(
    readonly address: string,
    service: string,
    /** TLS for an SSL listener (channelCredentials); plaintext by default. */
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    /** Sent as the `client-id` metadata of every call (Kafka's client.id; client-id quotas). */
    private readonly clientId = '',
    /** Client interceptors (the SCRAM client's, which forgets a session the server no longer knows). */
    interceptors: grpc.Interceptor[] = [],
  ) {
    const Ctor = clientConstructor(service);
    this.client = new Ctor(address, credentials, interceptors.length > 0 ? { ...CHANNEL_OPTIONS, interceptors } : CHANNEL_OPTIONS) as unknown as GenericClient;
  }

  unary<Req, Res>(method: string, req: Req, timeoutMs = 30_000): Promise<Res> {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      this.client[method]!(req, this.metadata(), { deadline }, (err: grpc.ServiceError | null, res: Res) => {
        if (err) reject(fromServiceError(err));
        else resolve(res);
      });
    });
  }

  bidi<Req, Res>(method: string): grpc.ClientDuplexStream<Req, Res> {
    return this.client[method]!(this.metadata()) as grpc.ClientDuplexStream<Req, Res>;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.clientId) md.set(CLIENT_ID_KEY, this.clientId);
    return md;
  }

  close(): void {
    this.client.close();
  }
}

interface Pending<Res> {
  resolve: (r: Res) => void;
  reject: (e: Error) => void;
}

/**
 * Requests over one long-lived bidirectional stream, matched to responses by correlation id
 * (the fast path of proto/cairn.proto). If the stream breaks, every pending request fails with
 * NETWORK_EXCEPTION (its outcome is unknown) and the next request opens a new stream.
 */
export class CorrelatedStream<Req extends { correlationId: number }, Res extends { correlationId: number }> {
  private stream: grpc.ClientDuplexStream<Req, Res> | null = null;
  private readonly pending = new Map<number, Pending<Res>>();
  private nextId = 1;

  constructor(
    private readonly rpc: RpcClient,
    private readonly method: string,
  ) {}

  get inflight(): number {
    return this.pending.size;
  }

  private open(): grpc.ClientDuplexStream<Req, Res> {
    const s = this.rpc.bidi<Req, Res>(this.method);
    s.on('data', (res: Res) => {
      const p = this.pending.get(res.correlationId);
      if (p) {
        this.pending.delete(res.correlationId);
        p.resolve(res);
      }
    });
    const fail = (err: Error) => {
      if (this.stream !== s) return;
      this.stream = null;
      const e = err instanceof CairnError ? err : fromServiceError(err as grpc.ServiceError);
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    s.on('error', fail);
    s.on('end', () => fail(new CairnError(ErrorCode.NETWORK_EXCEPTION, 'stream closed by the server')));
    return s;
  }

  /** Sends `req` (its correlation id is assigned here). With `expectResponse` false (acks=0), resolves once written. */
  send(req: Omit<Req, 'correlationId'>, expectResponse = true): Promise<Res | null> {
    const stream = (this.stream ??= this.open());
    const correlationId = this.nextId++;
    const full = { ...req, correlationId } as Req;
    if (!expectResponse) {
      return new Promise((resolve) => {
        if (stream.write(full)) resolve(null);
        else stream.once('drain', () => resolve(null));
      });
    }
    return new Promise<Res | null>((resolve, reject) => {
      this.pending.set(correlationId, { resolve, reject });
      stream.write(full);
    });
  }

  close(): void {
    const s = this.stream;
    this.stream = null;
    for (const p of this.pending.values()) p.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, 'client closed'));
    this.pending.clear();
    s?.end();
  }
}
