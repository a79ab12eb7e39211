import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/io/logger';
import { decodeAllRecords, encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { nodeFileSystem } from '../../../src/storage/file-system';
import { faultyFs } from '../../helpers/faulty-fs';
import { LogCleaner } from '../../../src/storage/log-cleaner';
import { DEFAULT_LOG_CONFIG } from '../../../src/common/log-config';
import { LogManager } from '../../../src/storage/log-manager';
import { PartitionLog } from '../../../src/storage/partition-log';
import { openTestLog } from '../../helpers/partition-log';
import { tmpDir } from '../../helpers/tmp';

const config = { ...DEFAULT_LOG_CONFIG, cleanupPolicy: 'compact' as const, segmentBytes: 400, minCleanableDirtyRatio: 0, deleteRetentionMs: 1000 };

function put(log: PartitionLog, key: string, value: string | null, ts = 0) {
  const batch = encodeBatch([{ key: Buffer.from(key), value: value === null ? null : Buffer.from(value), timestamp: ts }]);
  const v = validateBatches(batch, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  log.appendAsLeader(batch, v.batches, 0, ts);
}

function contents(log: PartitionLog): Array<[number, string, string | null]> {
  const out: Array<[number, string, string | null]> = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const recs = decodeAllRecords(log.read(offset, 1 << 20, log.logEndOffset, true), offset);
    if (recs.length === 0) break;
    for (const r of recs) out.push([r.offset, r.key!.toString(), r.value ? r.value.toString() : null]);
    offset = recs[recs.length - 1]!.offset + 1;
  }
  return out;
}

/** A fresh compacted log on the real disk, fsynced on every flush. */
function openLog(): PartitionLog {
  return openTestLog(tmpDir(), { topic: 'c', config });
}

/** A transactional write of producer `pid` (epoch 0): the first one of its transaction opens it. */
function putTxn(log: PartitionLog, pid: number, seq: number, key: string, value: string) {
  const batch = encodeBatch([{ key: Buffer.from(key), value: Buffer.from(value), timestamp: 0 }], { producerId: pid, producerEpoch: 0, baseSequence: seq, transactional: true });
  const v = validateBatches(batch, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  log.appendAsLeader(batch, v.batches, 0, 0, { guard: log.startTxnVerification(pid, 0) });
}

describe('LogCleaner', () => {
  it('an aborted transaction never shadows a committed value, and its records go; an open one is not cleaned', async () => {
    const log = openLog();
    put(log, 'group-offset', 'committed-5');
    putTxn(log, 7, 0, 'group-offset', 'aborted-9');
    log.appendMarkerAsLeader({ producerId: 7, producerEpoch: 1, coordinatorEpoch: 0, commit: false }, 0, 0);
    for (let k = 0; k < 6; k++) put(log, `filler-${k}`, 'x');
    putTxn(log, 8, 0, 'open-key', 'pending');
    put(log, 'open-key', 'plain-after'); // a later value of the key, behind the open transaction
    log.roll();
    put(log, 'tail', 'active');
    log.updateHighWatermark(log.logEndOffset);
    await log.flush();
    const cleaner = new LogCleaner(silentLogger, nodeFileSystem);
    cleaner.clean(log, 0);
    const after = contents(log);
    // The committed offset survives; the aborted record is gone.
    expect(after.filter(([, k]) => k === 'group-offset')).toEqual([[0, 'group-offset', 'committed-5']]);
    // Nothing at or past the open transaction was touched.
    expect(after.filter(([, k]) => k === 'open-key').map(([, , v]) => v)).toEqual(['pending', 'plain-after']);
  });

  it('keeps only the newest value of each key, at its original offset', async () => {
    const log = openLog();
    for (let round = 0; round < 10; round++) for (let k = 0; k < 3; k++) put(log, `k${k}`, `v${round}`);
    log.roll();
    put(log, 'k0', 'active'); // the active segment is never cleaned
    log.updateHighWatermark(log.logEndOffset);
    await log.flush(); // the cleaner only touches fsynced segments, as under acks=all
    const cleaner = new LogCleaner(silentLogger, nodeFileSystem);
    expect(cleaner.shouldClean(log)).toBe(true);
    const result = cleaner.clean(log, 0);
    expect(result.recordsRemoved).toBe(27);
    expect(contents(log)).toEqual([
      [27, 'k0', 'v9'],
      [28, 'k1', 'v9'],
      [29, 'k2', 'v9'],
      [30, 'k0', 'active'],
    ]);
    expect(log.logEndOffset).toBe(31);
    // Compacted batches replicate: a follower accepts the sparse offsets.
    const data = log.read(0, 1 << 20, 30, true);
    expect(validateBatches(data, { maxBatchBytes: 1 << 20, allowOffsetGaps: true }).ok).toBe(true);
  });

  it('drops tombstones once they are older than delete.retention.ms', async () => {
    const log = openLog();
    put(log, 'a', '1', 0);
    put(log, 'b', '1', 0);
    put(log, 'a', null, 0);
    log.roll();
    put(log, 'z', 'active', 0);
    log.updateHighWatermark(log.logEndOffset);
    await log.flush(); // the cleaner only touches fsynced segments, as under acks=all
    const cleaner = new LogCleaner(silentLogger, nodeFileSystem);
    cleaner.clean(log, 500); // tombstone still within delete.retention.ms
    expect(contents(log).map((r) => r[1] + '=' + r[2])).toEqual(['b=1', 'a=null', 'z=active']);
    put(log, 'z', 'again', 0);
    log.roll();
    log.updateHighWatermark(log.logEndOffset);
    await log.flush(); // the cleaner only touches fsynced segments, as under acks=all
    cleaner.clean(log, 5000);
    expect(contents(log).map((r) => r[1] + '=' + r[2])).toEqual(['b=1', 'z=again']);
  });

  it('a cleaned segment that lost its last batch leaves an offset gap that recovery accepts (it lies below the fsynced offset)', async () => {
    const dir = tmpDir();
    const open = () => openTestLog(dir, { topic: 'c', config });
    const log = open();
    put(log, 'a', '1');
    put(log, 'b', '1'); // the first segment's last batch
    log.roll();
    put(log, 'b', '2'); // supersedes it
    log.roll();
    put(log, 'z', 'active');
    log.updateHighWatermark(log.logEndOffset);
    await log.flush();
    new LogCleaner(silentLogger, nodeFileSystem).clean(log, 0);
    expect(log.allSegments()[0]!.nextOffset).toBeLessThan(log.allSegments()[1]!.baseOffset);
    // A crash (no close), with the recovery-point checkpoint at 0.
    const again = open();
    expect(again.isOffline).toBe(false);
    expect(contents(again)).toEqual([
      [0, 'a', '1'],
      [2, 'b', '2'],
      [3, 'z', 'active'],
    ]);
  });

  it('never rewrites a segment past a damaged batch length: the log goes offline and the file stays as it was', async () => {
    const dir = tmpDir();
    const m = new LogManager({ fs: nodeFileSystem, dataDir: dir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 0 });
    m.load();
    const log = m.getOrCreate('c', 0, { ...config, segmentBytes: 1 << 20 }, 'id-c');
    for (let i = 0; i < 10; i++) put(log, `k${i % 2}`, `v${i}`); // eight superseded records
    log.roll();
    put(log, 'z', 'active');
    log.updateHighWatermark(log.logEndOffset);
    await log.flush();
    const file = path.join(dir, 'c-0', '00000000000000000000.log');
    const bytes = fs.readFileSync(file);
    let pos = 0;
    for (let i = 0; i < 6; i++) pos += bytes.readInt32BE(pos + 8) + 12;
    bytes.writeInt32BE(bytes.readInt32BE(pos + 8) + (1 << 20), pos + 8); // the 7th batch now claims a megabyte more
    fs.writeFileSync(file, bytes);
    m.runMaintenance();
    expect(log.isOffline).toBe(true);
    expect(log.offlineMessage).toMatch(/while cleaning/);
    expect(fs.readFileSync(file)).toEqual(bytes);
    await m.close();
  });
});

describe('LogManager', () => {
  it('reloads partitions with their checkpoints and refuses a second process on the same directory', async () => {
    const dir = tmpDir();
    const mk = () => new LogManager({ fs: nodeFileSystem, dataDir: dir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 0 });
    const m = mk();
    m.load(() => DEFAULT_LOG_CONFIG);
    const log = m.getOrCreate('orders.v1-x', 2, DEFAULT_LOG_CONFIG, 'id-1');
    const b = encodeBatch([{ value: Buffer.from('hello') }]);
    const v = validateBatches(b, { maxBatchBytes: 1 << 20 });
    if (!v.ok) throw new Error();
    log.appendAsLeader(b, v.batches, 0, 0);
    log.updateHighWatermark(1);
    await m.close();
    const again = mk();
    again.load(() => DEFAULT_LOG_CONFIG);
    const reloaded = again.get('orders.v1-x', 2)!;
    expect(reloaded.logEndOffset).toBe(1);
    expect(reloaded.highWatermark).toBe(1);
    // Same topic id: same data. A recreated topic (new id) starts empty.
    expect(again.getOrCreate('orders.v1-x', 2, DEFAULT_LOG_CONFIG, 'id-1').logEndOffset).toBe(1);
    expect(again.getOrCreate('orders.v1-x', 2, DEFAULT_LOG_CONFIG, 'id-2').logEndOffset).toBe(0);
    // The directory is locked by this (live) process id... which is ours, so simulate another live holder.
    const third = new LogManager({ fs: nodeFileSystem, dataDir: dir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 0 });
    fs.writeFileSync(`${dir}/.lock`, String(process.ppid));
    expect(() => third.load(() => DEFAULT_LOG_CONFIG)).toThrow(/in use/);
    await again.close();
  });
});

describe('LogManager clean-shutdown marker', () => {
  it('removes the marker durably at load: the data directory is fsynced after it is gone', async () => {
    const dir = tmpDir();
    const disk = faultyFs();
    const mk = () => new LogManager({ fs: disk.fs, dataDir: dir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 0 });
    const m = mk();
    m.load();
    m.getOrCreate('t', 0, DEFAULT_LOG_CONFIG, 'id-t');
    await m.close();
    const marker = path.join(dir, '.clean-shutdown');
    expect(fs.existsSync(marker)).toBe(true);
    const dirSyncs: Array<{ dir: string; markerGone: boolean }> = [];
    const again = mk();
    disk.faults.fsyncDir = (d) => void (dirSyncs.push({ dir: d, markerGone: !fs.existsSync(marker) }), disk.real.fsyncDir(d));
    again.load();
    delete disk.faults.fsyncDir;
    expect(fs.existsSync(marker)).toBe(false);
    expect(dirSyncs).toContainEqual({ dir, markerGone: true });
    await again.close();
  });
});

describe('LogManager stray directories', () => {
  it('only ever names partition directories it created, never the metadata log or other files', async () => {
    const dir = tmpDir();
    const m = new LogManager({ fs: nodeFileSystem, dataDir: dir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 0 });
    m.load();
    m.getOrCreate('gone', 0, DEFAULT_LOG_CONFIG, 'id-gone');
    m.getOrCreate('kept', 0, DEFAULT_LOG_CONFIG, 'id-kept');
    await m.close();
    fs.mkdirSync(`${dir}/__cluster_metadata-0`, { recursive: true });
    fs.mkdirSync(`${dir}/operator-notes-1`, { recursive: true });
    const again = new LogManager({ fs: nodeFileSystem, dataDir: dir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 0 });
    again.load();
    expect(again.strayPartitionDirs((t) => t === 'kept').map((d) => d.slice(dir.length + 1))).toEqual(['gone-0']);
    await again.close();
  });
});
