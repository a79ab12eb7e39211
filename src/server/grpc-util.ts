import * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode, errorName, type Logger } from '../common';
import { ERROR_CODE_KEY, FLOW_CONTROL_WINDOW_BYTES, isMalformed, MALFORMED } from '../protocol/io';

function grpcStatusFor(code: ErrorCode): grpc.status {
  switch (code) {
    case ErrorCode.INVALID_REQUEST:
    case ErrorCode.INVALID_TOPIC_EXCEPTION:
    case ErrorCode.INVALID_CONFIG:
      return grpc.status.INVALID_ARGUMENT;
    case ErrorCode.NOT_CONTROLLER:
    case ErrorCode.SHUTTING_DOWN:
    case ErrorCode.LEADER_NOT_AVAILABLE:
      return grpc.status.UNAVAILABLE;
    case ErrorCode.REQUEST_TIMED_OUT:
      return grpc.status.DEADLINE_EXCEEDED;
    case ErrorCode.THROTTLING_QUOTA_EXCEEDED:
      return grpc.status.RESOURCE_EXHAUSTED;
    case ErrorCode.TOPIC_AUTHORIZATION_FAILED:
    case ErrorCode.GROUP_AUTHORIZATION_FAILED:
    case ErrorCode.CLUSTER_AUTHORIZATION_FAILED:
    case ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return grpc.status.PERMISSION_DENIED;
    case ErrorCode.SASL_AUTHENTICATION_FAILED:
    case ErrorCode.REAUTHENTICATION_REQUIRED:
      return grpc.status.UNAUTHENTICATED;
    case ErrorCode.AUTHORIZER_NOT_READY:
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.FAILED_PRECONDITION;
  }
}

export function toServiceError(err: unknown, logger: Logger): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (err instanceof CairnError) {
    metadata.set(ERROR_CODE_KEY, String(err.code));
    return Object.assign(new Error(err.message), { code: grpcStatusFor(err.code), details: `${errorName(err.code)}: ${err.message}`, metadata }) as grpc.ServiceError;
  }
  logger.error({ err: (err as Error)?.stack ?? String(err) }, 'request handler failed');
  metadata.set(ERROR_CODE_KEY, String(ErrorCode.UNKNOWN_SERVER_ERROR));
  return Object.assign(new Error('internal error'), { code: grpc.status.INTERNAL, details: 'UNKNOWN_SERVER_ERROR: see the server log', metadata }) as grpc.ServiceError;
}

export function invalidArgument(message: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_KEY, String(ErrorCode.INVALID_REQUEST));
  return Object.assign(new Error(message), { code: grpc.status.INVALID_ARGUMENT, details: message, metadata }) as grpc.ServiceError;
}

/**
 * A unary handler from an async function: malformed requests get INVALID_ARGUMENT, thrown
 * CairnErrors their mapped status, anything else INTERNAL (and a log line). Nothing a client sends
 * can throw past this.
 */
export function unary<Req, Res>(logger: Logger, fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const req = call.request;
    if (isMalformed(req)) {
      callback(invalidArgument((req as unknown as { [MALFORMED]: string })[MALFORMED]));
      return;
    }
    let result: Promise<Res>;
    try {
      result = Promise.resolve(fn(req, call));
    } catch (err) {
      callback(toServiceError(err, logger));
      return;
    }
    result.then(
      (res) => callback(null, res),
      (err) => callback(toServiceError(err, logger)),
    );
  };
}

/** Bound on requests a stream may have in flight before the server stops reading from it (style §9). */
export const MAX_INFLIGHT_PER_STREAM = 256;

/**
 * A bidirectional stream of requests, each answered (in any order) with the response `fn`
 * resolves to; null means "no response" (acks=0). Reading pauses while MAX_INFLIGHT_PER_STREAM
 * requests are pending or the client is not taking responses, so a slow client slows only itself.
 * `newState` makes a value that lives as long as the stream and is passed to every `fn` call of
 * it (a fetch session).
 */
export function bidi<Req, Res, S = undefined>(logger: Logger, fn: (req: Req, isCancelled: () => boolean, state: S) => Promise<Res | null>, newState?: () => S): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const state = newState?.() as S;
    let inflight = 0;
    let ended = false;
    let blockedOnWrite = false;
    let clientEnded = false;
    const finishIfDone = () => {
      if (clientEnded && inflight === 0 && !ended) {
        ended = true;
        call.end();
      }
    };
    const cancelled = () => ended || call.cancelled;
    const maybeResume = () => {
      if (!ended && inflight < MAX_INFLIGHT_PER_STREAM && !blockedOnWrite) call.resume();
    };
    call.on('drain', () => {
      blockedOnWrite = false;
      maybeResume();
    });
    call.on('data', (req: Req) => {
      if (isMalformed(req)) {
        ended = true;
        call.emit('error', invalidArgument((req as unknown as { [MALFORMED]: string })[MALFORMED]));
        return;
      }
      inflight++;
      if (inflight >= MAX_INFLIGHT_PER_STREAM) call.pause();
      let p: Promise<Res | null>;
      try {
        p = fn(req, cancelled, state);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (res) => {
          inflight--;
          if (res !== null && !cancelled()) {
            if (!call.write(res)) {
              blockedOnWrite = true;
              call.pause();
            }
          }
          maybeResume();
          finishIfDone();
        },
        (err) => {
          inflight--;
          if (!cancelled()) {
            ended = true;
            call.emit('error', toServiceError(err, logger));
          }
        },
      );
    });
    call.on('end', () => {
      clientEnded = true;
      finishIfDone();
    });
    call.on('error', () => {
      ended = true;
    });
    call.on('cancelled', () => {
      ended = true;
    });
  };
}

/**
 * Tunes every connection the server accepts, which grpc-js does not let us configure:
 * - TCP_NODELAY: grpc-js sets it on client sockets but not on server ones, so a small response
 *   could wait for the peer's delayed ACK.
 * - a 16 MiB HTTP/2 receive window (FLOW_CONTROL_WINDOW_BYTES), so large produce requests are
 *   not paced by window updates every 64 KiB.
 * grpc-js (pinned in package-lock.json) keeps its http2 servers in a private map; if that ever
 * changes, this says so in the log instead of failing.
 */
export function tuneServerConnections(server: grpc.Server, logger: Logger): void {
  type Session = { setLocalWindowSize?: (n: number) => void; settings?: (s: { initialWindowSize: number }) => void };
  type Http2Server = { on(e: 'connection', l: (s: { setNoDelay?: (v: boolean) => void }) => void): void; on(e: 'session', l: (s: Session) => void): void };
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    logger.warn({}, 'cannot tune server connections (grpc-js internals changed); throughput and latency may suffer');
    return;
  }
  for (const http2Server of servers.keys()) {
    http2Server.on('connection', (socket) => socket.setNoDelay?.(true));
    http2Server.on('session', (session) => {
      try {
        session.setLocalWindowSize?.(FLOW_CONTROL_WINDOW_BYTES);
        session.settings?.({ initialWindowSize: FLOW_CONTROL_WINDOW_BYTES });
      } catch (err) {
        logger.debug({ err: (err as Error).message }, 'cannot set the http2 window');
      }
    });
  }
}

/** "ipv4:127.0.0.1:50312" → "127.0.0.1" (the client host a group member is described with). */
export function peerHost(peer: string): string {
  const m = /^(?:ipv[46]:)?\[?(.*?)\]?:\d+$/.exec(peer);
  return m ? m[1]! : peer;
}
