import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '../../../src/common/errors';
import { type Logger } from '../../../src/common/logger';
import { silentLogger } from '../../../src/common/io/logger';
import { decodeAllRecords, encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { type FileSystem, nodeFileSystem } from '../../../src/storage/file-system';
import { DEFAULT_LOG_CONFIG, type LogConfig, resolveLogConfig, validateTopicConfigs } from '../../../src/common/log-config';
import { PartitionLog } from '../../../src/storage/partition-log';
import { faultyFs } from '../../helpers/faulty-fs';
import { openTestLog } from '../../helpers/partition-log';
import { tmpDir } from '../../helpers/tmp';

function openLog(dir: string, config: Partial<LogConfig> = {}, recoveryPoint = 0, logger: Logger = silentLogger, fsys: FileSystem = nodeFileSystem) {
  return openTestLog(dir, { fs: fsys, config: { ...DEFAULT_LOG_CONFIG, ...config }, recoveryPoint, logger });
}

/** A pino logger whose lines land in an array, to check what an operator would see. */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

function append(log: PartitionLog, values: string[], epoch = 0, timestamp = 1000) {
  const batch = encodeBatch(values.map((v) => ({ value: Buffer.from(v), timestamp })));
  const v = validateBatches(batch, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  return log.appendAsLeader(batch, v.batches, epoch, timestamp);
}

function readAll(log: PartitionLog, from = log.logStartOffset): string[] {
  const out: string[] = [];
  let offset = from;
  while (offset < log.logEndOffset) {
    const data = log.read(offset, 1 << 20, log.logEndOffset, true);
    const records = decodeAllRecords(data, offset);
    if (records.length === 0) break;
    for (const r of records) out.push(r.value!.toString());
    offset = records[records.length - 1]!.offset + 1;
  }
  return out;
}

const segmentFiles = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort();

describe('PartitionLog', () => {
  it('assigns consecutive offsets and reads every record back', () => {
    const log = openLog(tmpDir());
    expect(append(log, ['a', 'b', 'c'])).toMatchObject({ firstOffset: 0, lastOffset: 2, recordCount: 3 });
    expect(append(log, ['d'])).toMatchObject({ firstOffset: 3, lastOffset: 3 });
    expect(log.logEndOffset).toBe(4);
    expect(readAll(log)).toEqual(['a', 'b', 'c', 'd']);
    expect(readAll(log, 3)).toEqual(['d']);
  });

  it('rolls segments by size and reads across them, never past maxOffset', () => {
    const dir = tmpDir();
    const log = openLog(dir, { segmentBytes: 300, indexIntervalBytes: 50 });
    for (let i = 0; i < 40; i++) append(log, [`value-${i}`]);
    expect(segmentFiles(dir).length).toBeGreaterThan(5);
    expect(readAll(log)).toEqual(Array.from({ length: 40 }, (_, i) => `value-${i}`));
    const bounded = decodeAllRecords(log.read(10, 1 << 20, 12, true), 10);
    expect(bounded[0]!.offset).toBe(10);
    expect(bounded.every((r) => r.offset < 12)).toBe(true);
    expect(() => log.read(41, 100, 41, true)).toThrow(CairnError);
    expect(log.read(40, 100, 40, true).length).toBe(0);
  });

  it('returns at least one whole batch even when it is larger than maxBytes', () => {
    const log = openLog(tmpDir());
    append(log, ['x'.repeat(5000)]);
    expect(log.read(0, 100, 1, true).length).toBeGreaterThan(5000);
    expect(log.read(0, 100, 1, false).length).toBe(0);
  });

  it('reopens after a clean close with the same state, trusting its indexes', async () => {
    const dir = tmpDir();
    const config = { segmentBytes: 500, indexIntervalBytes: 50 };
    const log = openLog(dir, config);
    for (let i = 0; i < 30; i++) append(log, [`v${i}`], 0, 1000 + i);
    const bases = log.segmentBaseOffsets();
    expect(bases.length).toBeGreaterThan(3);
    await log.close();
    const indexes = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('index'))
      .sort();
    const indexBytes = indexes.map((f) => fs.readFileSync(path.join(dir, f)));
    const { logger, lines } = capturingLogger();
    const again = openLog(dir, config, 30, logger);
    // Only the last segment is scanned; every older one is opened from its index, not rebuilt.
    expect(lines.find((l) => l.msg === 'log loaded')).toMatchObject({ segments: bases.length, segmentsScanned: 1 });
    expect(indexes.slice(0, -2).map((f) => fs.readFileSync(path.join(dir, f)))).toEqual(indexBytes.slice(0, -2));
    expect(again.segmentBaseOffsets()).toEqual(bases);
    expect(again.logEndOffset).toBe(30);
    expect(readAll(again)).toEqual(Array.from({ length: 30 }, (_, i) => `v${i}`));
    // The trusted indexes answer lookups in the middle of old segments.
    expect(readAll(again, 17)[0]).toBe('v17');
    expect(again.offsetForTimestamp(1012, 30)).toEqual({ offset: 12, timestamp: 1012 });
    expect(append(again, ['more']).firstOffset).toBe(30);
  });

  it('cuts a torn tail after a crash and keeps taking writes', () => {
    const dir = tmpDir();
    const log = openLog(dir);
    append(log, ['a', 'b']);
    append(log, ['c']);
    // A crash mid-write: half of the next batch reached the file.
    const half = encodeBatch([{ value: Buffer.from('torn') }]).subarray(0, 30);
    fs.appendFileSync(path.join(dir, segmentFiles(dir)[0]!), half);
    const again = openLog(dir, {}, 0);
    expect(again.isOffline).toBe(false);
    expect(again.logEndOffset).toBe(3);
    expect(readAll(again)).toEqual(['a', 'b', 'c']);
    expect(append(again, ['d']).firstOffset).toBe(3);
    expect(readAll(again)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('cuts a tail of zeros (a file extended but never written) as torn', () => {
    const dir = tmpDir();
    const log = openLog(dir);
    append(log, ['a']);
    fs.appendFileSync(path.join(dir, segmentFiles(dir)[0]!), Buffer.alloc(4096));
    const again = openLog(dir);
    expect(again.isOffline).toBe(false);
    expect(readAll(again)).toEqual(['a']);
  });

  it('takes the partition offline for a flipped bit in the middle of the log, never skipping it', () => {
    const dir = tmpDir();
    const log = openLog(dir);
    for (let i = 0; i < 5; i++) append(log, [`record-${i}`]);
    const file = path.join(dir, segmentFiles(dir)[0]!);
    const bytes = fs.readFileSync(file);
    bytes[100] ^= 0x10; // inside the second batch; three more follow
    fs.writeFileSync(file, bytes);
    const again = openLog(dir, {}, 0);
    expect(again.isOffline).toBe(true);
    expect(again.offlineMessage).toMatch(/corruption in the middle/);
    expect(() => again.read(0, 1000, 5, true)).toThrow(expect.objectContaining({ code: ErrorCode.KAFKA_STORAGE_ERROR }));
    expect(() => append(again, ['x'])).toThrow(expect.objectContaining({ code: ErrorCode.KAFKA_STORAGE_ERROR }));
    // Nothing on disk was changed by the failed recovery.
    expect(fs.readFileSync(file)).toEqual(bytes);
  });

  describe('recovery: only bytes never fsynced may be cut', () => {
    // Five records fsynced (the group commit recorded it), then a crash. The recovery-point
    // checkpoint is older than that fsync (0), as it is for up to an interval after any write.
    const crashAfterFsync = async () => {
      const dir = tmpDir();
      const log = openLog(dir);
      for (let i = 0; i < 5; i++) append(log, [`r${i}`]);
      await log.waitDurable(5);
      const file = path.join(dir, segmentFiles(dir)[0]!);
      const bytes = fs.readFileSync(file);
      let lastBatch = 0;
      while (lastBatch + bytes.readInt32BE(lastBatch + 8) + 12 < bytes.length) lastBatch += bytes.readInt32BE(lastBatch + 8) + 12;
      return { dir, log, file, bytes, lastBatch };
    };

    it('reports a damaged fsynced tail as corruption instead of cutting it', async () => {
      const { dir, file, bytes } = await crashAfterFsync();
      bytes[bytes.length - 3] ^= 0x20; // in the value of offset 4, the last batch: looks like a torn tail
      fs.writeFileSync(file, bytes);
      const again = openLog(dir, {}, 0);
      expect(again.isOffline).toBe(true);
      expect(again.offlineMessage).toMatch(/fsynced data is damaged/);
      expect(fs.readFileSync(file)).toEqual(bytes);
    });

    it('reports fsynced batches that are missing (a file cut at a batch boundary) as corruption', async () => {
      const { dir, file, lastBatch } = await crashAfterFsync();
      fs.truncateSync(file, lastBatch);
      const again = openLog(dir, {}, 0);
      expect(again.isOffline).toBe(true);
      expect(again.offlineMessage).toMatch(/fsynced data is missing/);
      expect(fs.statSync(file).size).toBe(lastBatch);
    });

    it('still cuts a torn batch that was never fsynced, above the fsynced ones', async () => {
      const { dir, log, file, bytes } = await crashAfterFsync();
      append(log, ['never-fsynced']);
      fs.truncateSync(file, bytes.length + 30); // half of it reached the disk
      const again = openLog(dir, {}, 0);
      expect(again.isOffline).toBe(false);
      expect(readAll(again)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
      expect(append(again, ['next']).firstOffset).toBe(5);
    });

    it('a truncation lowers the recorded fsynced offset before cutting, so a torn write after it is still a torn tail', async () => {
      const { dir, log, file } = await crashAfterFsync();
      log.truncateTo(3);
      const size = fs.statSync(file).size;
      append(log, ['never-fsynced']);
      fs.truncateSync(file, size + 30);
      const again = openLog(dir, {}, 0);
      expect(again.isOffline).toBe(false);
      expect(readAll(again)).toEqual(['r0', 'r1', 'r2']);
    });

    it("after a power cut that kept a new segment but not the old one's unflushed tail: drops what was never fsynced, leaving no hole", async () => {
      const dir = tmpDir();
      const config = { segmentBytes: 150 }; // two of these batches per segment
      const log = openLog(dir, config);
      append(log, ['r0']);
      await log.waitDurable(1);
      append(log, ['r1']); // the end of the first segment, never fsynced
      append(log, ['r2']); // rolls: the first batch of the second segment
      expect(log.segmentBaseOffsets()).toEqual([0, 2]);
      // The power cut: the first segment lost its unsynced tail whole, the second kept its batch.
      const first = path.join(dir, segmentFiles(dir)[0]!);
      const firstBatch = fs.readFileSync(first).readInt32BE(8) + 12;
      fs.truncateSync(first, firstBatch);
      const again = openLog(dir, config, 0);
      // Offsets 1 and 2 were never fsynced (never acknowledged): the log ends at its fsynced data.
      // (Before, the log went offline for the gap; found by the SimDisk test, seed 10.)
      expect(again.isOffline).toBe(false);
      expect(again.segmentBaseOffsets()).toEqual([0]);
      expect(segmentFiles(dir)).toHaveLength(1);
      expect(readAll(again)).toEqual(['r0']);
      expect(append(again, ['r1-again']).firstOffset).toBe(1);
    });
  });

  it('detects corruption below the recovery point on read and goes offline instead of serving it', async () => {
    const dir = tmpDir();
    const log = openLog(dir, { segmentBytes: 200 });
    for (let i = 0; i < 10; i++) append(log, [`r${i}`]);
    await log.close();
    const first = path.join(dir, segmentFiles(dir)[0]!);
    const bytes = fs.readFileSync(first);
    bytes[bytes.length - 3] ^= 0xff;
    fs.writeFileSync(first, bytes);
    const again = openLog(dir, { segmentBytes: 200 }, 10); // trusted: not scanned at open
    expect(again.isOffline).toBe(false);
    expect(() => readAll(again)).toThrow(expect.objectContaining({ code: ErrorCode.KAFKA_STORAGE_ERROR }));
    expect(again.isOffline).toBe(true);
  });

  it('bounds and verifies every on-disk batch length on read: a flipped length takes the log offline, never an empty read or a skip', async () => {
    // Index entries every few batches, so lookups walk batch headers from an entry before the damage.
    const config = { segmentBytes: 700, indexIntervalBytes: 200 };
    const build = async () => {
      const dir = tmpDir();
      const log = openLog(dir, config);
      for (let i = 0; i < 20; i++) append(log, [`r${i}`], 0, 1000 + i);
      await log.close();
      // The first segment is below the recovery point: trusted at open, not scanned.
      const file = path.join(dir, segmentFiles(dir)[0]!);
      const bytes = fs.readFileSync(file);
      const size = (pos: number) => bytes.readInt32BE(pos + 8) + 12;
      const second = size(0); // the batch of offset 1
      bytes.writeInt32BE(bytes.readInt32BE(second + 8) + (16 << 20), second + 8); // 16 MiB more than the file holds
      fs.writeFileSync(file, bytes);
      const again = openLog(dir, config, 20);
      expect(again.isOffline).toBe(false);
      expect(again.segmentCount).toBeGreaterThan(1);
      return again;
    };
    const storageError = expect.objectContaining({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    // The damaged batch itself (at least one batch asked for): not a 16 MiB buffer with nothing in it.
    const a = await build();
    expect(() => a.read(1, 100, 20, true)).toThrow(storageError);
    expect(a.isOffline).toBe(true);
    expect(a.offlineMessage).toMatch(/batch length/);
    // An offset found by walking past it: not silently skipped to the next segment.
    const b = await build();
    expect(() => b.read(2, 1 << 20, 20, true)).toThrow(storageError);
    expect(b.isOffline).toBe(true);
    // A read that walks through it from the start of the segment.
    const c = await build();
    expect(() => c.read(0, 1 << 20, 20, true)).toThrow(storageError);
    // A lookup by timestamp that walks the same headers.
    const d = await build();
    expect(() => d.offsetForTimestamp(1002, 20)).toThrow(storageError);
    expect(d.isOffline).toBe(true);
  });

  it('rebuilds a missing or garbage index', async () => {
    const dir = tmpDir();
    const log = openLog(dir, { indexIntervalBytes: 10 });
    for (let i = 0; i < 20; i++) append(log, [`r${i}`]);
    await log.close();
    const index = path.join(dir, segmentFiles(dir)[0]!.replace('.log', '.index'));
    fs.writeFileSync(index, Buffer.from('this is not an index at all!!!!'));
    const again = openLog(dir, { indexIntervalBytes: 10 }, 20);
    expect(readAll(again, 7)).toEqual(Array.from({ length: 13 }, (_, i) => `r${i + 7}`));
    fs.rmSync(index);
    const third = openLog(dir, { indexIntervalBytes: 10 }, 20);
    expect(readAll(third, 19)).toEqual(['r19']);
  });

  it('truncates to an offset, forgetting epochs that started past it', () => {
    const log = openLog(tmpDir(), { segmentBytes: 200 });
    for (let i = 0; i < 10; i++) append(log, [`e1-${i}`], 1);
    for (let i = 0; i < 10; i++) append(log, [`e2-${i}`], 2);
    expect(log.epochs.endOffsetFor(1, log.logEndOffset)).toEqual({ epoch: 1, endOffset: 10 });
    log.truncateTo(7);
    expect(log.logEndOffset).toBe(7);
    expect(log.epochs.latestEpoch).toBe(1);
    expect(readAll(log)).toEqual(Array.from({ length: 7 }, (_, i) => `e1-${i}`));
    expect(append(log, ['after'], 3).firstOffset).toBe(7);
  });

  it('group commit: no waiter is released before its fsync, and one fsync covers every waiter queued behind it', async () => {
    const disk = faultyFs();
    const log = openLog(tmpDir(), {}, 0, silentLogger, disk.fs);
    // fsyncs complete only when the test says so.
    const held: Array<() => void> = [];
    disk.faults.fsync = (fd, cb) => void held.push(() => fs.fdatasync(fd, cb));
    {
      const released: boolean[] = [];
      const waits = Array.from({ length: 50 }, (_, i) => {
        const info = append(log, [`v${i}`]);
        return log.waitDurable(info.lastOffset + 1).then(() => void (released[i] = true));
      });
      // The first waiter started an fsync; the other 49 queue behind it.
      expect(held).toHaveLength(1);
      await Promise.resolve();
      expect(released.filter(Boolean)).toHaveLength(0);
      expect(log.durableEndOffset).toBe(0);
      held[0]!();
      await waits[0];
      // That fsync covered only the first batch: one more fsync, for all 49 others, is in flight.
      expect(log.durableEndOffset).toBe(1);
      expect(held).toHaveLength(2);
      expect(released.filter(Boolean)).toHaveLength(1);
      held[1]!();
      await Promise.all(waits);
      expect(held).toHaveLength(2);
      expect(log.durableEndOffset).toBe(50);
    }
  });

  it('applies retention by size and by time, never past the high watermark', () => {
    const log = openLog(tmpDir(), { segmentBytes: 200, retentionBytes: 400, retentionMs: -1 });
    for (let i = 0; i < 30; i++) append(log, [`r${i}`]);
    expect(log.applyRetention(0)).toBe(0); // high watermark is 0: nothing is deletable
    log.updateHighWatermark(log.logEndOffset);
    expect(log.applyRetention(0)).toBeGreaterThan(0);
    expect(log.sizeInBytes).toBeLessThanOrEqual(400 + 200);
    expect(log.logStartOffset).toBe(log.segmentBaseOffsets()[0]);
    expect(() => log.read(0, 100, 30, true)).toThrow(expect.objectContaining({ code: ErrorCode.OFFSET_OUT_OF_RANGE }));
    const timed = openLog(tmpDir(), { segmentBytes: 200, retentionMs: 1000 });
    for (let i = 0; i < 10; i++) append(timed, [`old${i}`], 0, 1000);
    timed.updateHighWatermark(timed.logEndOffset);
    timed.applyRetention(5000);
    expect(timed.logStartOffset).toBe(10);
    expect(append(timed, ['new'], 0, 5000).firstOffset).toBe(10);
  });

  it('finds offsets by timestamp', () => {
    const log = openLog(tmpDir(), { indexIntervalBytes: 1 });
    for (let i = 0; i < 10; i++) append(log, [`r${i}`], 0, 1000 + i * 10);
    expect(log.offsetForTimestamp(1035, 10)).toEqual({ offset: 4, timestamp: 1040 });
    expect(log.offsetForTimestamp(0, 10)).toEqual({ offset: 0, timestamp: 1000 });
    expect(log.offsetForTimestamp(99999, 10)).toBeNull();
  });

  it('cuts a partial write on disk full, stays online and takes writes again', () => {
    const disk = faultyFs();
    const log = openLog(tmpDir(), {}, 0, silentLogger, disk.fs);
    append(log, ['before']);
    disk.faults.write = (fd, buf, off, len, pos) => {
      fs.writeSync(fd, buf, off, Math.min(len, 10), pos); // a partial write, then the disk is full
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    expect(() => append(log, ['during'])).toThrow(expect.objectContaining({ code: ErrorCode.KAFKA_STORAGE_ERROR }));
    delete disk.faults.write;
    expect(log.isOffline).toBe(false);
    expect(log.logEndOffset).toBe(1);
    expect(append(log, ['after']).firstOffset).toBe(1);
    expect(readAll(log)).toEqual(['before', 'after']);
  });

  it('parses topic configs with Kafka names and rejects bad ones', () => {
    expect(resolveLogConfig({ 'retention.ms': '-1', 'cleanup.policy': 'delete, compact', 'segment.bytes': '1000', 'unclean.leader.election.enable': 'true' })).toMatchObject({
      retentionMs: -1,
      cleanupPolicy: 'compact,delete',
      segmentBytes: 1000,
      uncleanLeaderElectionEnable: true,
    });
    expect(() => validateTopicConfigs({ 'retention.ms': '-1', 'cleanup.policy': 'compact', 'max.message.bytes': '64' })).not.toThrow();
    const bad: Array<[string, string]> = [
      ['no.such.config', '1'],
      ['retention.ms', 'soon'],
      ['retention.ms', '-2'],
      ['segment.bytes', '13'],
      ['segment.bytes', '1.5'],
      ['max.message.bytes', String(64 * 1024 * 1024 + 1)],
      ['cleanup.policy', 'shred'],
      ['min.cleanable.dirty.ratio', '1.5'],
      ['unclean.leader.election.enable', 'yes'],
      ['message.timestamp.type', 'WallClock'],
    ];
    for (const [name, value] of bad) {
      let caught: unknown;
      try {
        validateTopicConfigs({ 'retention.ms': '1000', [name]: value });
      } catch (err) {
        caught = err;
      }
      expect(caught, `${name}=${value}`).toBeInstanceOf(CairnError);
      expect(caught).toMatchObject({ code: ErrorCode.INVALID_CONFIG, message: expect.stringContaining(name) });
    }
  });
});
