import * as fs from 'node:fs';
import { ErrorCode } from '../common';
import type { DescribeLogDirsResponse } from '../protocol';
import type { ReplicaManager } from '../replication/io';

/**
 * This broker's data directory (Kafka's DescribeLogDirs): the file system's size and free space,
 * and each partition replica in it with its size, offsets and lag behind the high watermark.
 * `topics` narrows it (empty: all). A controller-only node has no partitions.
 */
export function describeLogDirs(brokerId: number, dataDir: string, replicas: ReplicaManager | null, topics: readonly string[]): DescribeLogDirsResponse {
  let totalBytes = -1;
  let usableBytes = -1;
  try {
    const s = fs.statfsSync(dataDir);
    totalBytes = s.blocks * s.bsize;
    usableBytes = s.bavail * s.bsize;
  } catch (err) {
    return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: `cannot stat ${dataDir}: ${(err as Error).message}`, brokerId, logDir: dataDir, totalBytes, usableBytes, partitions: [] };
  }
  const wanted = new Set(topics);
  const partitions = (replicas?.all() ?? [])
    .filter((p) => wanted.size === 0 || wanted.has(p.topic))
    .map((p) => {
      const log = p.log;
      return {
        topic: p.topic,
        partition: p.partition,
        sizeBytes: log.sizeInBytes,
        logStartOffset: log.logStartOffset,
        logEndOffset: log.logEndOffset,
        highWatermark: p.highWatermark,
        offsetLag: Math.max(0, p.highWatermark - log.logEndOffset),
        role: p.role,
        segments: log.segmentCount,
        offline: log.isOffline,
      };
    })
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  return { errorCode: ErrorCode.NONE, errorMessage: '', brokerId, logDir: dataDir, totalBytes, usableBytes, partitions };
}
