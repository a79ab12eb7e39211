/**
 * gRPC methods that carry raw bytes (no protobuf), for the benchmarks that measure the transport
 * with nothing of Cairn's around it (bench:transport, bench:chain).
 */
import type * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

/** A bidirectional-streaming method `/<service>/<method>` whose messages are Buffers as they are. */
export function rawBidiStream(service: string, method: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/${service}/${method}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}
