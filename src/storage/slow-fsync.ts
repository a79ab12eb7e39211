import type { Timers } from '../common';
import { delegateTo, type FileSystem } from './file-system';

/**
 * A slow disk, for the chaos suite (CAIRN_FAULT_FSYNC_DELAY_MS, read by the process entry): every
 * asynchronous fsync starts `delayMs` later, so written-but-not-durable bytes exist long enough
 * for a power cut to tear them.
 */
export function withSlowFsync(inner: FileSystem, delayMs: number, timers: Timers): FileSystem {
  if (delayMs <= 0) return inner;
  return {
    ...delegateTo(inner),
    fsync: (fd, callback) => void timers.after(delayMs, () => inner.fsync(fd, callback)),
  };
}
