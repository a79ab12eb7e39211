import { describe, expect, it } from 'vitest';
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../../src/common/log-config';
import { SeededRandom } from '../../../src/common/random';
import { encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import type { FileSystem } from '../../../src/storage/file-system';
import { PartitionLog } from '../../../src/storage/partition-log';
import { RecentBatches } from '../../../src/storage/recent-batches';
import { faultyFs } from '../../helpers/faulty-fs';
import { SimDisk } from '../../sim/sim-disk';
import { openTestLog } from '../../helpers/partition-log';
import { tmpDir } from '../../helpers/tmp';

const CONFIG: LogConfig = { ...DEFAULT_LOG_CONFIG, segmentBytes: 64 * 1024, indexIntervalBytes: 512 };

function openLog(dir: string, fs: FileSystem = faultyFs().fs): PartitionLog {
  return openTestLog(dir, { fs, config: CONFIG, nowMs: 1_000 });
}

function append(log: PartitionLog, rng: SeededRandom, records: number): void {
  const buf = encodeBatch(Array.from({ length: records }, (_, i) => ({ value: Buffer.alloc(rng.int(1, 300), 97 + (i % 26)), timestamp: 1_000 + rng.int(0, 50) })));
  const v = validateBatches(buf, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  log.appendAsLeader(buf, v.batches, 0, 1_000);
}

describe('RecentBatches: the active segment answers fetches of its end from memory', () => {
  it('answers every read exactly as the file does, through appends, truncations and rolls (300 seeds)', async () => {
    let fromMemory = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const rng = new SeededRandom(seed);
      // An in-memory disk: the file reads compared against are many. Its fsyncs never complete
      // (nothing here waits for one).
      const log = openLog('/data/t-0', new SimDisk(rng.fork(), () => undefined));
      for (let step = 0; step < 40; step++) {
        const r = rng.next();
        if (r < 0.6) append(log, rng, rng.int(1, 40));
        else if (r < 0.7 && log.logEndOffset > 0) log.truncateTo(rng.int(0, log.logEndOffset - 1));
        else if (r < 0.75) log.roll();
        const seg = log.activeSegment;
        for (let q = 0; q < 5; q++) {
          const start = rng.int(seg.baseOffset, seg.nextOffset + 1);
          const maxOffset = rng.bool(0.5) ? seg.nextOffset : rng.int(seg.baseOffset, seg.nextOffset);
          const maxPosition = maxOffset < seg.nextOffset ? seg.positionOf(maxOffset) : seg.size;
          const maxBytes = rng.int(0, 20_000);
          const minOneBatch = rng.bool(0.5);
          const want = seg.readFromFile(start, maxBytes, maxPosition, minOneBatch);
          const got = seg.read(start, maxBytes, maxPosition, minOneBatch);
          const where = `seed ${seed} step ${step}: read(${start}, ${maxBytes}, ${maxPosition}, ${minOneBatch}) of ${seg.baseOffset}..${seg.nextOffset}`;
          expect(got === null ? null : got.toString('hex'), where).toBe(want === null ? null : want.toString('hex'));
          if (start < seg.nextOffset) expect(seg.findBatch(start), where).toEqual(seg.readHeaderAt(seg.positionOf(start)));
          if (got !== null && got.length > 0) fromMemory++;
        }
      }
    }
    expect(fromMemory).toBeGreaterThan(1000);
  }, 120_000);

  it('a fetch of the batch just appended reads nothing from the file', async () => {
    const disk = faultyFs();
    const log = openLog(tmpDir(), disk.fs);
    const rng = new SeededRandom(7);
    append(log, rng, 10);
    append(log, rng, 10);
    let reads = 0;
    disk.faults.read = (...args) => (reads++, disk.real.read(...args));
    const data = log.read(10, 1 << 20, log.logEndOffset, true);
    expect(data.length).toBeGreaterThan(0);
    expect(reads).toBe(0);
    // Below what the segment holds in memory, the file answers.
    log.roll();
    append(log, rng, 5);
    expect(log.read(0, 1 << 20, log.logEndOffset, true).length).toBeGreaterThan(0);
    expect(reads).toBeGreaterThan(0);
    await log.close();
  });

  it('is bounded in bytes and in batches, oldest out first, and never holds a gap', () => {
    const r = new RecentBatches(1000, 4);
    const batch = (base: number, size: number) => ({ at: 0, size, baseOffset: base, lastOffset: base, maxTimestamp: 0 });
    for (let i = 0; i < 6; i++) r.add(Buffer.alloc(100, i), i * 100, [batch(i, 100)]);
    expect(r.count).toBe(4);
    expect(r.locate(1)).toBeNull();
    expect(r.locate(2)).toMatchObject({ baseOffset: 2, position: 200 });
    r.add(Buffer.alloc(600), 600, [batch(6, 600)]);
    expect(r.locate(2)).toBeNull();
    expect(r.locate(6)).toMatchObject({ position: 600 });
    // A write larger than the budget empties it: what it held no longer reaches the segment's end.
    r.add(Buffer.alloc(2000), 1200, [batch(7, 2000)]);
    expect(r.count).toBe(0);
    expect(r.locate(6)).toBeNull();
  });
});
