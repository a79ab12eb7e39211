import * as path from 'node:path';
import { silentLogger } from '../src/common/io/logger';
import { batchLastOffset, forEachBatch } from '../src/record/batch';
import { nodeFileSystem } from '../src/storage/file-system';
import { DEFAULT_LOG_CONFIG } from '../src/common/log-config';
import { PartitionLog } from '../src/storage/partition-log';

/**
 * The bytes of every batch of a stopped node's partition log below `upTo`, read straight from its
 * data directory: replicas must agree on these byte for byte.
 */
export async function logBytes(dataDir: string, topic: string, partition: number, upTo: number): Promise<Buffer> {
  const log = PartitionLog.open({
    fs: nodeFileSystem,
    dir: path.join(dataDir, `${topic}-${partition}`),
    topic,
    partition,
    config: DEFAULT_LOG_CONFIG,
    recoveryPoint: Number.MAX_SAFE_INTEGER,
    logStartOffset: 0,
    flushPolicy: { kind: 'fsync' },
    logger: silentLogger,
    nowMs: 0,
  });
  const parts: Buffer[] = [];
  let offset = log.logStartOffset;
  try {
    while (offset < Math.min(upTo, log.logEndOffset)) {
      const data = log.read(offset, 1 << 20, upTo, true);
      if (data.length === 0) break;
      parts.push(data);
      forEachBatch(data, (pos) => {
        offset = batchLastOffset(data, pos) + 1;
      });
    }
    return Buffer.concat(parts);
  } finally {
    await log.close();
  }
}
