import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import * as path from 'node:path';
import type { Logger } from '../common';
import { protoDir } from '../protocol/io';

/** The standard health service's name (grpc.health.v1.Health) and the empty name meaning "the whole node". */
const HEALTH_SERVICE = 'grpc.health.v1.Health';
const WHOLE_NODE = '';

/**
 * Serves `grpc.health.v1.Health` (the maintained grpc-health-check package) with one status per
 * Cairn service this node hosts, plus the whole node under the empty name: SERVING only when
 * every one of them is. `statuses` is asked again on `refresh()`, which the node calls when its
 * metadata image changes and on a short timer (a Raft leader can change without an image change).
 */
export class NodeHealth {
  private readonly impl: HealthImplementation;
  private readonly current = new Map<string, ServingStatus>();

  constructor(
    private readonly statuses: () => Record<string, boolean>,
    private readonly logger: Logger,
  ) {
    const initial: Record<string, ServingStatus> = { [WHOLE_NODE]: 'NOT_SERVING' };
    for (const name of Object.keys(statuses())) initial[name] = 'NOT_SERVING';
    this.impl = new HealthImplementation(initial);
    for (const [k, v] of Object.entries(initial)) this.current.set(k, v);
  }

  addToServer(server: grpc.Server): void {
    this.impl.addToServer(server);
  }

  /** Re-reads every status and publishes those that changed (watchers of Health/Watch see them). */
  refresh(): void {
    const now = this.statuses();
    const all = Object.values(now).every((ok) => ok);
    for (const [name, ok] of Object.entries({ ...now, [WHOLE_NODE]: all })) {
      const status: ServingStatus = ok ? 'SERVING' : 'NOT_SERVING';
      if (this.current.get(name) === status) continue;
      this.current.set(name, status);
      this.impl.setStatus(name, status);
      this.logger.info({ service: name || '(node)', status }, 'health changed');
    }
  }

  /** Marks everything NOT_SERVING (shutdown). */
  stopServing(): void {
    for (const name of this.current.keys()) {
      if (this.current.get(name) === 'NOT_SERVING') continue;
      this.current.set(name, 'NOT_SERVING');
      this.impl.setStatus(name, 'NOT_SERVING');
    }
  }
}

/**
 * gRPC server reflection (the maintained @grpc/reflection package, v1 and v1alpha), so that
 * `grpcurl -plaintext host:9092 list` and `describe cairn.v1.Broker` work without the .proto
 * files. It describes exactly the services this node serves.
 */
export function addReflection(server: grpc.Server, services: readonly string[]): void {
  const dir = protoDir();
  const options: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [dir, path.dirname(path.dirname(path.dirname(healthProtoPath)))] };
  const cairn = protoLoader.loadSync([path.join(dir, 'cairn.proto'), path.join(dir, 'internal.proto')], options);
  const health = protoLoader.loadSync('health/v1/health.proto', options);
  new ReflectionService({ ...cairn, ...health }, { services: [...services, HEALTH_SERVICE] }).addToServer(server);
}
