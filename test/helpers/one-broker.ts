import type { ManualClock } from '../../src/common/clock';
import { ErrorCode } from '../../src/common/errors';
import { silentLogger } from '../../src/common/io/logger';
import { DEFAULT_LOG_CONFIG } from '../../src/common/log-config';
import type { Timers } from '../../src/common/timers';
import type { MetadataImage } from '../../src/metadata/image';
import { ReplicaManager } from '../../src/replication/io/replica-manager';
import { nodeFileSystem } from '../../src/storage/file-system';
import { LogManager } from '../../src/storage/log-manager';
import { tmpDir } from './tmp';

/**
 * Broker 1 alone, in process: real logs under a fresh directory (fsync policy) and the shipped
 * ReplicaManager, applied `image` (whose partitions it leads with no followers). For tests of what
 * runs on a leader; close `replicas`, then `logs`.
 */
export function oneBroker(image: MetadataImage, clock: ManualClock, timers: Timers, dirPrefix: string): { logs: LogManager; replicas: ReplicaManager } {
  const logs = new LogManager({ fs: nodeFileSystem, dataDir: tmpDir(dirPrefix), flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => clock.wallMs() });
  logs.load();
  const replicas = new ReplicaManager({
    nodeId: 1,
    incarnationId: 'inc-1',
    brokerEpoch: () => 1,
    logs,
    logDefaults: DEFAULT_LOG_CONFIG,
    fetchTransport: { send: () => Promise.reject(new Error('no followers')), close: () => undefined },
    alterPartitionTransport: { send: async () => ({ errorCode: ErrorCode.NONE, results: [] }) },
    clock,
    timers,
    logger: silentLogger,
    replicaLagTimeMaxMs: 10_000,
  });
  replicas.applyImage(image, null);
  return { logs, replicas };
}
