import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN' | 'UNREACHABLE';

let Ctor: grpc.ServiceClientConstructor | null = null;

/**
 * Asks a node's standard health service (grpc.health.v1.Health/Check) about `service` ('' = the
 * whole node). Never throws: a node that does not answer in time is UNREACHABLE.
 */
export function checkHealth(address: string, service = '', timeoutMs = 2_000, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()): Promise<HealthStatus> {
  Ctor ??= grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Ctor(address, credentials) as unknown as grpc.Client & {
    check: (req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void;
  };
  return new Promise<HealthStatus>((resolve) => {
    client.check({ service }, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      client.close();
      if (err) resolve(err.code === grpc.status.NOT_FOUND ? 'SERVICE_UNKNOWN' : 'UNREACHABLE');
      else resolve((res?.status as HealthStatus | undefined) ?? 'UNKNOWN');
    });
  });
}
