import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/io/logger';
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../../src/common/log-config';
import { SeededRandom } from '../../../src/common/random';
import { batchSize, encodeBatch, readBatchHeader } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { LogManager } from '../../../src/storage/log-manager';
import type { PartitionLog } from '../../../src/storage/partition-log';
import { incrementSequence } from '../../../src/record/batch';
import { ProducerStateTable } from '../../../src/storage/producer-state';
import { SimScheduler } from '../../sim/cluster/scheduler';
import { SimDisk } from '../../sim/sim-disk';

/**
 * An idempotent producer writing through the real LogManager and PartitionLog on a SimDisk, with
 * segments small enough to roll (and snapshot) often, through seeded power cuts: after every
 * reopen the producer state must be exactly what the batches the log still serves imply — a
 * snapshot describing batches the crash took away must never be used.
 */

const CONFIG: LogConfig = { ...DEFAULT_LOG_CONFIG, segmentBytes: 400, indexIntervalBytes: 128 };
const PID = 77;
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The producer's batches as a fresh table builds them from what `log` serves. */
function stateFromServedLog(log: PartitionLog): ProducerStateTable {
  const t = new ProducerStateTable();
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const data = log.read(offset, 1 << 20, log.logEndOffset, true);
    if (data.length === 0) break;
    for (let pos = 0; pos < data.length; pos += batchSize(data, pos)) {
      const h = readBatchHeader(data, pos);
      if (h.producerId >= 0) t.update(h.producerId, h.producerEpoch, h.baseSequence, incrementSequence(h.baseSequence, h.lastOffsetDelta), h.baseOffset, h.baseOffset + h.lastOffsetDelta, 0);
      offset = h.baseOffset + h.lastOffsetDelta + 1;
    }
  }
  return t;
}

describe('producer state on a SimDisk, across seeded power cuts', () => {
  it('matches the log that survived, whatever the crash kept of data and snapshots (40 seeds)', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rng = new SeededRandom(seed);
      const sched = new SimScheduler();
      const disk = new SimDisk(rng.fork(), (ms, fn) => void sched.after(ms, fn), { fsyncDelayMs: { min: 0, max: 4 }, tornWriteProbability: 0.5, lostDirectoryEntries: true });
      const clock = { ms: 1_000 };
      for (let round = 0; round < 4; round++) {
        const manager = new LogManager({ fs: disk, dataDir: '/data', flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => clock.ms });
        manager.load(() => CONFIG);
        const log = manager.getOrCreate('t', 0, CONFIG, 'topic-id');
        const where = `seed ${seed}, round ${round}`;
        expect(log.isOffline, `${where}: ${log.offlineMessage}`).toBe(false);
        const expected = stateFromServedLog(log).get(PID);
        expect(log.producerState(PID)?.batches, `${where}: state after reopen`).toEqual(expected?.batches);
        const latest = expected?.batches.at(-1);
        let seq = latest === undefined ? 0 : latest.lastSeq + 1;
        for (let step = rng.int(5, 30); step > 0 && !log.isOffline; step--) {
          if (rng.bool(0.6)) {
            const n = rng.int(1, 3);
            const buf = encodeBatch(
              Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`s${seq + i}`), timestamp: clock.ms })),
              { producerId: PID, producerEpoch: 0, baseSequence: seq },
            );
            const v = validateBatches(buf, { maxBatchBytes: 1 << 20 });
            if (!v.ok) throw new Error(v.message);
            const info = log.appendAsLeader(buf, v.batches, 0, clock.ms);
            expect(info.duplicate, where).toBeUndefined();
            void log.waitDurable(info.lastOffset + 1).catch(() => undefined);
            seq += n;
          } else {
            for (let k = rng.int(1, 3); k > 0 && sched.runNext(); k--);
          }
          await settle();
        }
        if (rng.bool(0.2)) {
          const closing = manager.close();
          while (sched.runNext()) await settle();
          await closing;
        }
        disk.crash();
        sched.clear();
      }
    }
  }, 60_000);
});
