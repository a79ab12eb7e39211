import { silentLogger } from '../../src/common/io/logger';
import { DEFAULT_LOG_CONFIG } from '../../src/common/log-config';
import { nodeFileSystem } from '../../src/storage/file-system';
import { type LogOpenOptions, PartitionLog } from '../../src/storage/partition-log';

/**
 * A partition log for a test: topic `t` partition 0 in `dir` on the real disk, default config,
 * fsync flush policy, silent, recovery point and log start 0, time 0 — `o` overrides any of it.
 */
export function openTestLog(dir: string, o: Partial<Omit<LogOpenOptions, 'dir'>> = {}): PartitionLog {
  return PartitionLog.open({
    fs: nodeFileSystem,
    dir,
    topic: 't',
    partition: 0,
    config: { ...DEFAULT_LOG_CONFIG },
    recoveryPoint: 0,
    logStartOffset: 0,
    flushPolicy: { kind: 'fsync' },
    logger: silentLogger,
    nowMs: 0,
    ...o,
  });
}
