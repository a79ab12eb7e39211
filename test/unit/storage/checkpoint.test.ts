import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/io/logger';
import { DEFAULT_LOG_CONFIG } from '../../../src/common/log-config';
import { encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { OffsetCheckpointFile } from '../../../src/storage/checkpoint';
import { LogManager } from '../../../src/storage/log-manager';
import { faultyFs } from '../../helpers/faulty-fs';
import { tmpDir } from '../../helpers/tmp';

describe('periodic checkpoints', () => {
  it('are written with every fsync off the event loop, and hold the same offsets as the synchronous write', async () => {
    const dataDir = tmpDir();
    const disk = faultyFs();
    const manager = new LogManager({ fs: disk.fs, dataDir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 1_000 });
    manager.load(() => DEFAULT_LOG_CONFIG);
    const log = manager.getOrCreate('t', 0, DEFAULT_LOG_CONFIG, 'topic-id');
    const buf = encodeBatch(['a', 'b', 'c'].map((v) => ({ value: Buffer.from(v), timestamp: 1_000 })));
    const v = validateBatches(buf, { maxBatchBytes: 1 << 20 });
    if (!v.ok) throw new Error(v.message);
    const info = log.appendAsLeader(buf, v.batches, 0, 1_000);
    await log.waitDurable(info.lastOffset + 1);

    // A synchronous fsync now would block every append and fetch behind it.
    const onLoop: string[] = [];
    disk.faults.fsyncSync = () => void onLoop.push('fsyncSync');
    disk.faults.fsyncDir = (dir) => void onLoop.push(`fsyncDir ${dir}`);
    const durable: string[] = [];
    disk.faults.fsyncDirAsync = (dir, callback) => disk.real.fsyncDirAsync(dir, (err) => (durable.push(dir), callback(err)));
    await manager.checkpointInBackground();
    expect(onLoop).toEqual([]);
    expect(durable).toEqual([dataDir, dataDir, dataDir]);

    const recovery = new OffsetCheckpointFile(disk.real, path.join(dataDir, 'recovery-point-offset-checkpoint')).read();
    expect(recovery.get('t-0')).toBe(3);
    delete disk.faults.fsyncSync;
    delete disk.faults.fsyncDir;
    await manager.close();
  });

  it('one at a time: a checkpoint due while one is running joins it', async () => {
    const dataDir = tmpDir();
    const disk = faultyFs();
    const manager = new LogManager({ fs: disk.fs, dataDir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 1_000 });
    manager.load(() => DEFAULT_LOG_CONFIG);
    manager.getOrCreate('t', 0, DEFAULT_LOG_CONFIG, 'topic-id');
    let started = 0;
    disk.faults.fsync = (fd, callback) => (started++, disk.real.fsync(fd, callback));
    const first = manager.checkpointInBackground();
    const second = manager.checkpointInBackground();
    expect(second).toBe(first);
    await first;
    // Three files, one fsync each (the log's fsynced-offset file takes one more).
    expect(started).toBeLessThanOrEqual(4);
    await manager.close();
  });
});
