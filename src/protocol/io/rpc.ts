import type * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

// 64-bit fields decode to JavaScript numbers, not Long objects: exact to 2^53, which no offset or
// timestamp reaches, and far cheaper on the hot path (see common/types.ts).
(protobuf.util as { Long: unknown }).Long = undefined;
protobuf.configure();

/** The directory of the .proto files, found from both src/ (tests) and dist/src/ (the build). */
export function protoDir(): string {
  const candidates = [path.resolve(__dirname, '../../../proto'), path.resolve(__dirname, '../../../../proto')];
  for (const c of candidates) {
    try {
      fs.accessSync(path.join(c, 'cairn.proto'));
      return c;
    } catch {
      // try the next
    }
  }
  throw new Error(`cannot find proto/cairn.proto near ${__dirname}`);
}

let root: protobuf.Root | null = null;

export function protoRoot(): protobuf.Root {
  if (root === null) {
    const dir = protoDir();
    const files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.proto'))
      .map((f) => path.join(dir, f));
    root = protobuf.loadSync(files);
    root.resolveAll();
  }
  return root;
}

// Call metadata keys, one home for servers and clients.
/** A request-level ErrorCode next to the gRPC status. */
export const ERROR_CODE_KEY = 'cairn-error-code';
/** The name a client gives itself (Kafka's client.id), for client-id quotas. */
export const CLIENT_ID_KEY = 'client-id';
/** A SCRAM session token: `authorization: Bearer <token>` (gRPC's convention for credentials). */
export const AUTHORIZATION_KEY = 'authorization';

/** Marks a request that could not be decoded; handlers answer it with INVALID_ARGUMENT. */
export const MALFORMED = Symbol('malformed');
export interface Malformed {
  [MALFORMED]: string;
}

export function isMalformed(msg: unknown): msg is Malformed {
  return typeof msg === 'object' && msg !== null && MALFORMED in msg;
}

function serializer(type: protobuf.Type) {
  return (value: unknown): Buffer => {
    const bytes = type.encode(value as object).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(type: protobuf.Type) {
  return (buf: Buffer): unknown => {
    try {
      return type.decode(buf);
    } catch (err) {
      // Thrown here, grpc-js would answer INTERNAL; the handler answers INVALID_ARGUMENT instead.
      return { [MALFORMED]: `cannot decode ${type.name}: ${(err as Error).message}` };
    }
  };
}

/** A grpc-js service definition built from the .proto service, with protobufjs codecs that skip object conversion. */
export function serviceDefinition(fullName: string): grpc.ServiceDefinition {
  const service = protoRoot().lookupService(fullName);
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    const req = method.resolvedRequestType!;
    const res = method.resolvedResponseType!;
    def[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      originalName: method.name[0]!.toLowerCase() + method.name.slice(1),
    };
  }
  return def as grpc.ServiceDefinition;
}

/** gRPC channel options shared by servers and clients: large messages (batches of up to 64 MiB), keepalives. */
export const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
/**
 * HTTP/2 flow-control window, both directions. The 64 KiB default makes a 1 MiB fetch response
 * wait for a window update every 64 KiB: measured here, a follower moved ~40 MB/s over loopback
 * with it (25 ms per 1 MiB cycle).
 */
export const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  // A channel to a node that is not up yet (or restarting) tries again within a second, not after
  // grpc's default backoff of up to two minutes, during which every call would fail at once.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
};
export const SERVER_OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  'grpc.http2.min_time_between_pings_ms': 5_000,
  'grpc.http2.max_ping_strikes': 0,
};
