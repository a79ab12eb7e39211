/** The shell of protocol/: gRPC service definitions (from proto/), the RPC and health clients. */
export * from './health-client';
export * from './rpc-client';
export * from './rpc';
export * from './tls';
