import * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode, errorName } from '../common/errors';
import type { Logger } from '../common/logger';
import { isMalformed, MALFORMED } from '../protocol/rpc';

/** Metadata key carrying a request-level ErrorCode next to the gRPC status. */
export const ERROR_CODE_KEY = 'cairn-error-code';

function grpcStatusFor(code: ErrorCode): grpc.status {
  switch (code) {
    case ErrorCode.INVALID_REQUEST:
    case ErrorCode.INVALID_TOPIC:
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
 */
export function bidi<Req, Res>(logger: Logger, fn: (req: Req, isCancelled: () => boolean) => Promise<Res | null>): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
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
        p = fn(req, cancelled);
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
