import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors';
import { silentLogger } from '../../../src/common/io/logger';
import { DEFAULT_LOG_CONFIG, type LogConfig, resolveLogConfig } from '../../../src/common/log-config';
import { type Logger } from '../../../src/common/logger';
import { decodeAllRecords, encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { type AppendInfo, PartitionLog } from '../../../src/storage/partition-log';
import { openTestLog } from '../../helpers/partition-log';
import { tmpDir } from '../../helpers/tmp';
import { codeOf } from '../../helpers/errors';

function openLog(dir: string, config: Partial<LogConfig> = {}, logger: Logger = silentLogger, nowMs = 0) {
  return openTestLog(dir, { config: { ...DEFAULT_LOG_CONFIG, ...config }, logger, nowMs });
}

function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const PID = 4242;

/** Appends one batch of producer `pid` at `epoch`, sequences from `seq`, one record per value. */
function produce(log: PartitionLog, seq: number, values: string[], o: { pid?: number; epoch?: number; nowMs?: number } = {}): AppendInfo {
  const batch = encodeBatch(
    values.map((v) => ({ value: Buffer.from(v), timestamp: 1000 })),
    { producerId: o.pid ?? PID, producerEpoch: o.epoch ?? 0, baseSequence: seq },
  );
  const v = validateBatches(batch, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  return log.appendAsLeader(batch, v.batches, 0, o.nowMs ?? 1000);
}

function readAll(log: PartitionLog): string[] {
  const out: string[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const records = decodeAllRecords(log.read(offset, 1 << 20, log.logEndOffset, true), offset);
    if (records.length === 0) break;
    for (const r of records) out.push(r.value!.toString());
    offset = records[records.length - 1]!.offset + 1;
  }
  return out;
}

const snapshots = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.snapshot'))
    .sort()
    .map((f) => Number(f.slice(0, 20)));

/** Ten batches of two records from PID, sequences 0..19, in segments of about three batches. */
function filledLog(dir: string, config: Partial<LogConfig> = { segmentBytes: 250 }) {
  const log = openLog(dir, config);
  for (let i = 0; i < 10; i++) produce(log, 2 * i, [`r${2 * i}`, `r${2 * i + 1}`]);
  return log;
}

describe('PartitionLog producer state', () => {
  it('answers a retried batch with its original offsets and appends nothing', () => {
    const log = openLog(tmpDir());
    expect(produce(log, 0, ['a', 'b', 'c'])).toEqual({ firstOffset: 0, lastOffset: 2, recordCount: 3, logAppendTimeMs: -1 });
    expect(produce(log, 3, ['d', 'e'])).toMatchObject({ firstOffset: 3, lastOffset: 4 });
    expect(produce(log, 0, ['a', 'b', 'c'])).toEqual({ firstOffset: 0, lastOffset: 2, recordCount: 3, logAppendTimeMs: -1, duplicate: true });
    expect(produce(log, 3, ['d', 'e'])).toEqual({ firstOffset: 3, lastOffset: 4, recordCount: 2, logAppendTimeMs: -1, duplicate: true });
    expect(log.logEndOffset).toBe(5);
    expect(readAll(log)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(log.producerState(PID)?.batches.map((b) => [b.firstSeq, b.lastSeq, b.firstOffset, b.lastOffset])).toEqual([
      [0, 2, 0, 2],
      [3, 4, 3, 4],
    ]);
  });

  it('refuses a gap, an old epoch, an unknown producer and a shared request, leaving the log intact', () => {
    const log = openLog(tmpDir());
    produce(log, 0, ['a'], { epoch: 1 });
    const state = log.producerState(PID);
    expect(codeOf(() => produce(log, 2, ['gap'], { epoch: 1 }))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(codeOf(() => produce(log, 1, ['old'], { epoch: 0 }))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect(codeOf(() => produce(log, 1, ['new epoch, not at 0'], { epoch: 2 }))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(codeOf(() => produce(log, 7, ['who'], { pid: 99 }))).toBe(ErrorCode.UNKNOWN_PRODUCER_ID);
    const two = Buffer.concat([encodeBatch([{ value: Buffer.from('x') }], { producerId: PID, producerEpoch: 1, baseSequence: 1 }), encodeBatch([{ value: Buffer.from('y') }])]);
    const v = validateBatches(two, { maxBatchBytes: 1 << 20 });
    if (!v.ok) throw new Error(v.message);
    expect(codeOf(() => log.appendAsLeader(two, v.batches, 0, 1000))).toBe(ErrorCode.INVALID_RECORD);
    expect(log.logEndOffset).toBe(1);
    expect(readAll(log)).toEqual(['a']);
    expect(log.producerState(PID)).toEqual(state);
    expect(produce(log, 1, ['b'], { epoch: 1 })).toMatchObject({ firstOffset: 1 });
    // A batch without a producer id is not checked at all.
    const plain = encodeBatch([{ value: Buffer.from('c') }]);
    const pv = validateBatches(plain, { maxBatchBytes: 1 << 20 });
    if (!pv.ok) throw new Error(pv.message);
    expect(log.appendAsLeader(plain, pv.batches, 0, 1000).firstOffset).toBe(2);
  });

  it('snapshots at each roll and on close, and reopens from the snapshot at the log end', async () => {
    const dir = tmpDir();
    const log = filledLog(dir);
    const bases = log.segmentBaseOffsets();
    expect(bases.length).toBeGreaterThan(2);
    expect(snapshots(dir)).toEqual(bases.slice(1));
    const before = log.producerState(PID);
    await log.close();
    expect(snapshots(dir)).toEqual([...bases.slice(1), 20]);
    const { logger, lines } = capturingLogger();
    const again = openLog(dir, { segmentBytes: 250 }, logger);
    expect(lines.find((l) => l.msg === 'producer state loaded')).toMatchObject({ snapshotOffset: 20, replayedFrom: 20, logEndOffset: 20, producers: 1 });
    expect(again.producerState(PID)).toEqual(before);
    expect(produce(again, 18, ['r18', 'r19'])).toMatchObject({ firstOffset: 18, lastOffset: 19, duplicate: true });
    expect(produce(again, 20, ['r20'])).toMatchObject({ firstOffset: 20 });
  });

  it('rebuilds the state after an unclean stop from the latest snapshot plus the log', () => {
    const dir = tmpDir();
    const log = filledLog(dir);
    const before = log.producerState(PID);
    const lastBase = log.activeSegment.baseOffset;
    // No close: the process died. A second instance opens the same files.
    const { logger, lines } = capturingLogger();
    const again = openLog(dir, { segmentBytes: 250 }, logger);
    expect(again.logEndOffset).toBe(20);
    expect(lines.find((l) => l.msg === 'producer state loaded')).toMatchObject({ snapshotOffset: lastBase, replayedFrom: lastBase, logEndOffset: 20 });
    expect(again.producerState(PID)?.batches).toEqual(before!.batches);
    expect(produce(again, 16, ['r16', 'r17'])).toMatchObject({ firstOffset: 16, duplicate: true });
    expect(codeOf(() => produce(again, 22, ['gap']))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  });

  it('replays the whole log when no snapshot is left, and skips a corrupt one with a warning', async () => {
    const dir = tmpDir();
    const log = filledLog(dir);
    const before = log.producerState(PID);
    await log.close();
    const all = snapshots(dir);
    const first = all[0]!;
    // The newest is damaged; every older one but the first is gone: recovery falls back to the first.
    const newest = path.join(dir, `${String(20).padStart(20, '0')}.snapshot`);
    const bytes = fs.readFileSync(newest);
    bytes[bytes.length - 1]! ^= 0xff;
    fs.writeFileSync(newest, bytes);
    for (const o of all.slice(1, -1)) fs.rmSync(path.join(dir, `${String(o).padStart(20, '0')}.snapshot`));
    const { logger, lines } = capturingLogger();
    const again = openLog(dir, { segmentBytes: 250 }, logger);
    expect(lines.find((l) => l.msg === 'producer snapshot skipped')).toMatchObject({ level: 40, file: newest });
    expect(lines.find((l) => l.msg === 'producer state loaded')).toMatchObject({ snapshotOffset: first, replayedFrom: first });
    expect(again.producerState(PID)?.batches).toEqual(before!.batches);
    expect(fs.existsSync(newest)).toBe(false);
    await again.close();
    // With no snapshot at all, from the start of the log.
    for (const o of snapshots(dir)) fs.rmSync(path.join(dir, `${String(o).padStart(20, '0')}.snapshot`));
    const { logger: l2, lines: lines2 } = capturingLogger();
    const third = openLog(dir, { segmentBytes: 250 }, l2);
    expect(lines2.find((l) => l.msg === 'producer state loaded')).toMatchObject({ snapshotOffset: null, replayedFrom: 0 });
    expect(third.producerState(PID)?.batches).toEqual(before!.batches);
  });

  it('truncateTo rebuilds the state, so a truncated batch is accepted again', () => {
    const dir = tmpDir();
    const log = filledLog(dir);
    expect(snapshots(dir).at(-1)).toBeGreaterThan(12);
    log.truncateTo(12);
    expect(log.logEndOffset).toBe(12);
    expect(snapshots(dir).every((o) => o <= 12)).toBe(true);
    expect(log.producerState(PID)?.batches.at(-1)).toEqual({ firstSeq: 10, lastSeq: 11, firstOffset: 10, lastOffset: 11 });
    // Sequence 12 was cut: as a retry it is new again, and goes where it went before.
    expect(produce(log, 12, ['r12', 'r13'])).toEqual({ firstOffset: 12, lastOffset: 13, recordCount: 2, logAppendTimeMs: -1 });
    expect(codeOf(() => produce(log, 16, ['gap']))).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  });

  it('truncateFullyAndStartAt forgets every producer and deletes the snapshots', () => {
    const dir = tmpDir();
    const log = filledLog(dir);
    log.truncateFullyAndStartAt(100);
    expect(log.producerState(PID)).toBeUndefined();
    expect(snapshots(dir)).toEqual([]);
    expect(codeOf(() => produce(log, 20, ['x']))).toBe(ErrorCode.UNKNOWN_PRODUCER_ID);
  });

  it('retention keeps the snapshot at the first remaining segment and deletes those below', () => {
    const dir = tmpDir();
    const log = filledLog(dir, { segmentBytes: 250, retentionBytes: 500 });
    log.updateHighWatermark(log.logEndOffset);
    expect(log.applyRetention(1000)).toBeGreaterThan(0);
    const first = log.segmentBaseOffsets()[0]!;
    expect(snapshots(dir)[0]).toBe(first);
    expect(log.producerState(PID)?.batches).toHaveLength(5);
  });

  it('a follower builds the same state as its leader', () => {
    const leader = openLog(tmpDir());
    produce(leader, 0, ['a', 'b']);
    produce(leader, 0, ['x'], { pid: 7, epoch: 3 });
    const plain = encodeBatch([{ value: Buffer.from('plain') }]);
    const pv = validateBatches(plain, { maxBatchBytes: 1 << 20 });
    if (!pv.ok) throw new Error(pv.message);
    leader.appendAsLeader(plain, pv.batches, 0, 1000);
    produce(leader, 2, ['c']);
    produce(leader, 0, ['y'], { pid: 7, epoch: 4 });
    const follower = openLog(tmpDir());
    follower.appendAsFollower(leader.read(0, 1 << 20, leader.logEndOffset, true), 1000);
    expect(follower.logEndOffset).toBe(leader.logEndOffset);
    for (const pid of [PID, 7]) expect(follower.producerState(pid)).toEqual(leader.producerState(pid));
    // Should the follower lead next, it recognises the producer's retry.
    expect(produce(follower, 2, ['c'])).toMatchObject({ firstOffset: 4, duplicate: true });
  });

  it('expires idle producers with the retention pass and at snapshots (producer.id.expiration.ms)', async () => {
    expect(DEFAULT_LOG_CONFIG.producerIdExpirationMs).toBe(86_400_000);
    expect(resolveLogConfig({ 'producer.id.expiration.ms': '60000' }).producerIdExpirationMs).toBe(60_000);
    const dir = tmpDir();
    const log = openLog(dir, { producerIdExpirationMs: 60_000 });
    produce(log, 0, ['a'], { nowMs: 1000 });
    produce(log, 0, ['b'], { pid: 7, nowMs: 30_000 });
    expect(log.expireProducers(60_999)).toBe(0);
    expect(log.expireProducers(61_000)).toBe(1);
    expect(log.producerState(PID)).toBeUndefined();
    expect(codeOf(() => produce(log, 1, ['c']))).toBe(ErrorCode.UNKNOWN_PRODUCER_ID);
    // The snapshot at close expires producer 7 too: the last time this log saw is 90 000.
    produce(log, 0, ['d'], { pid: 8, nowMs: 90_000 });
    await log.close();
    const again = openLog(dir, { producerIdExpirationMs: 60_000 });
    expect(again.producerState(7)).toBeUndefined();
    expect(again.producerState(8)).toBeDefined();
  });
});
