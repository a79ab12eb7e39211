import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '../../../src/common/errors';
import { silentLogger } from '../../../src/common/io/logger';
import { SeededRandom } from '../../../src/common/random';
import { decodeAllRecords, encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../../src/common/log-config';
import { LogManager } from '../../../src/storage/log-manager';
import type { PartitionLog } from '../../../src/storage/partition-log';
import { SimDisk, type SimDiskFaults } from '../../sim/sim-disk';
import { SimScheduler } from '../../sim/cluster/scheduler';

/**
 * The real LogManager and PartitionLog on a SimDisk, through seeded power cuts: append, wait for
 * the group commit, roll segments, checkpoint, crash at a random moment (fsyncs in flight, torn
 * writes, lost directory entries), reopen, recover — and check what the log serves.
 */

const DATA_DIR = '/data';
const CONFIG: LogConfig = { ...DEFAULT_LOG_CONFIG, segmentBytes: 600, indexIntervalBytes: 128 };

/** Lets every promise continuation that is ready run (group commit releases its waiters in one). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface World {
  seed: number;
  rng: SeededRandom;
  sched: SimScheduler;
  disk: SimDisk;
  clockMs: number;
  /** What each offset was last written with (a crash may lose it, a later append reuse the offset). */
  written: Map<number, string>;
  /** Offsets whose group commit resolved: durable, must survive any crash. */
  acked: Map<number, string>;
}

function world(seed: number, faults: Partial<SimDiskFaults>): World {
  const rng = new SeededRandom(seed);
  const sched = new SimScheduler();
  const disk = new SimDisk(rng.fork(), (ms, fn) => void sched.after(ms, fn), { fsyncDelayMs: { min: 0, max: 4 }, ...faults });
  return { seed, rng, sched, disk, clockMs: 1_000, written: new Map(), acked: new Map() };
}

function openManager(w: World): { manager: LogManager; log: PartitionLog } {
  const manager = new LogManager({ fs: w.disk, dataDir: DATA_DIR, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => w.clockMs });
  manager.load(() => CONFIG);
  return { manager, log: manager.getOrCreate('t', 0, CONFIG, 'topic-id') };
}

function appendValues(w: World, log: PartitionLog, values: string[]): void {
  const buf = encodeBatch(values.map((v) => ({ value: Buffer.from(v), timestamp: w.clockMs })));
  const v = validateBatches(buf, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  const info = log.appendAsLeader(buf, v.batches, 0, w.clockMs);
  values.forEach((value, i) => w.written.set(info.firstOffset + i, value));
  void log.waitDurable(info.lastOffset + 1).then(
    () => values.forEach((value, i) => w.acked.set(info.firstOffset + i, value)),
    () => undefined, // an append whose fsync failed or never came is simply not acknowledged
  );
}

/** Every record the log serves, offset → value. */
function readAll(log: PartitionLog): Map<number, string> {
  const out = new Map<number, string>();
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const data = log.read(offset, 1 << 20, log.logEndOffset, true);
    if (data.length === 0) break;
    for (const r of decodeAllRecords(data)) {
      out.set(r.offset, r.value?.toString() ?? '');
      offset = r.offset + 1;
    }
  }
  return out;
}

/** One life of the node: random work until the power goes out (or, sometimes, a clean stop). */
async function live(w: World, round: number): Promise<{ manager: LogManager; log: PartitionLog }> {
  const opened = openManager(w);
  const { log } = opened;
  const steps = w.rng.int(5, 40);
  for (let step = 0; step < steps && !log.isOffline; step++) {
    const r = w.rng.next();
    if (r < 0.5) {
      const n = w.rng.int(1, 3);
      appendValues(
        w,
        log,
        Array.from({ length: n }, (_, i) => `r${round}s${step}v${i}`),
      );
    } else if (r < 0.85) {
      for (let k = w.rng.int(1, 3); k > 0 && w.sched.runNext(); k--);
    } else if (r < 0.9) {
      // The periodic checkpoint: its fsyncs run on the sim disk's schedule, so a power cut can land mid-way.
      opened.manager.checkpointInBackground();
    } else if (r < 0.95) {
      opened.manager.checkpoint();
    } else {
      w.clockMs += 1_000;
    }
    await settle();
  }
  return opened;
}

function check(w: World, log: PartitionLog, round: number): void {
  const where = `seed ${w.seed}, after crash ${round}`;
  expect(log.isOffline, `${where}: log offline without injected damage: ${log.offlineMessage}`).toBe(false);
  const served = readAll(log);
  for (const [offset, value] of w.acked) {
    expect(served.get(offset), `${where}: acknowledged offset ${offset} lost or changed`).toBe(value);
  }
  for (const [offset, value] of served) {
    expect(value, `${where}: offset ${offset} serves something never written there`).toBe(w.written.get(offset));
  }
  // Offsets lost in the crash are free again: forget what they held.
  for (const offset of [...w.written.keys()]) if (offset >= log.logEndOffset) w.written.delete(offset);
}

/**
 * A byte of some batch in `bytes`, anywhere but its base offset (bytes 0..7) and partition leader
 * epoch (bytes 12..15). Both are outside the CRC, as in Kafka's format. Known gaps, left for a
 * later change: nothing checks the epoch on load, and a base offset raised by the damage is taken
 * for a compaction gap when it is in the log's last batch (anywhere else the next batch or
 * segment no longer follows, and the log goes offline; reads check offsets, see LogSegment.read).
 */
function damageablePosition(w: World, bytes: Buffer): number {
  const batches: Array<{ pos: number; size: number }> = [];
  for (let pos = 0; pos + 12 <= bytes.length;) {
    const size = bytes.readInt32BE(pos + 8) + 12;
    batches.push({ pos, size });
    pos += size;
  }
  const b = w.rng.pick(batches);
  for (;;) {
    const i = w.rng.int(0, b.size - 1);
    if ((i >= 8 && i < 12) || i >= 16) return b.pos + i;
  }
}

describe('PartitionLog on a SimDisk, across seeded power cuts', () => {
  it('everything whose group commit resolved survives; nothing torn or lost is served (300 seeds)', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const w = world(seed, { tornWriteProbability: 0.7, tornGarbageProbability: 0.5, lostDirectoryEntries: true });
      for (let round = 0; round < 4; round++) {
        const { manager, log } = await live(w, round);
        if (w.rng.bool(0.1)) {
          // A clean stop now and then: everything written is flushed, then the power goes anyway.
          const closing = manager.close();
          while (w.sched.runNext()) await settle();
          await closing;
          for (const [offset, value] of w.written) if (offset < log.logEndOffset) w.acked.set(offset, value);
        }
        w.disk.crash();
        w.sched.clear();
        const reopened = openManager(w);
        check(w, reopened.log, round);
        // The next life starts from this recovered log: stop using the checking instance.
        w.disk.crash();
        w.sched.clear();
      }
    }
  }, 120_000);

  it('damage takes the log offline with a storage error, never serves it (bit flips on read and at rest)', async () => {
    let flipsCaught = 0;
    let atRestCaught = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const w = world(seed, {});
      const { manager, log } = await live(w, 0);
      while (w.sched.runNext()) await settle();
      // The fsynced offset made durable (the periodic checkpoint): below it, damage is damage, not a torn tail.
      manager.checkpoint();
      while (w.sched.runNext()) await settle();
      if (log.isOffline || log.logEndOffset === 0) continue;
      w.disk.faults.readBitFlipProbability = 0.5;
      w.disk.faults.bitFlipFilter = (file) => file.endsWith('.log');
      let served: Map<number, string> | null = null;
      try {
        served = readAll(log);
      } catch (err) {
        expect(err, `seed ${seed}`).toBeInstanceOf(CairnError);
        expect((err as CairnError).code, `seed ${seed}`).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
        expect(log.isOffline, `seed ${seed}`).toBe(true);
        expect(
          w.disk.injected.some((f) => f.kind === 'read-bit-flip'),
          `seed ${seed}: offline without a flip: ${log.offlineMessage}`,
        ).toBe(true);
        flipsCaught++;
      }
      if (served !== null) for (const [offset, value] of served) expect(value, `seed ${seed}: offset ${offset}`).toBe(w.written.get(offset));
      // Damage at rest in an fsynced segment: the restart after the crash finds it and stays offline.
      w.disk.faults.readBitFlipProbability = 0;
      const segment = w.disk.listFiles().find((f) => f.endsWith('.log') && (w.disk.durableContent(f)?.length ?? 0) > 0);
      if (segment === undefined) continue;
      w.disk.corrupt(segment, damageablePosition(w, w.disk.durableContent(segment)!), w.rng.int(0, 7));
      w.disk.crash();
      w.sched.clear();
      const reopened = openManager(w);
      expect(reopened.log.isOffline, `seed ${seed}: damage in ${segment} not caught: ${JSON.stringify(w.disk.injected.at(-1))}`).toBe(true);
      expect(() => reopened.log.read(reopened.log.logStartOffset, 1 << 20, Number.MAX_SAFE_INTEGER, true), `seed ${seed}`).toThrow(expect.objectContaining({ code: ErrorCode.KAFKA_STORAGE_ERROR }));
      atRestCaught++;
    }
    expect(flipsCaught).toBeGreaterThan(10);
    expect(atRestCaught).toBeGreaterThan(10);
  }, 120_000);
});
