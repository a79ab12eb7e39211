/**
 * bench:log — the storage layer alone, in process: appends of ~64 KiB batches of 100-byte records
 * to a PartitionLog (validated, stamped, indexed, fsynced by group commit), then a sequential read
 * decoding every record. Compared with the raw sequential write rate of the same disk measured in
 * the same run: same bytes, same write size, one fsync at the end. Raw and log runs alternate for
 * `rounds` rounds and the medians are reported, because a virtual disk's rate drifts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../src/common/io/logger';
import { batchLastOffset, decodeAllRecords, forEachBatch, RecordBatchBuilder } from '../src/record/batch';
import { validateBatches } from '../src/record/validate';
import { nodeFileSystem } from '../src/storage/file-system';
import { DEFAULT_LOG_CONFIG } from '../src/common/log-config';
import { PartitionLog } from '../src/storage/partition-log';
import { args, hrMs, num, percentiles, progress, report } from './common';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const a = args({ mb: '512', rounds: '3', 'record-size': '100', 'batch-bytes': '65536', dir: path.join(os.tmpdir(), 'cairn-bench-log') });
  const totalBytes = num(a.mb, 'mb') * 1024 * 1024;
  const rounds = num(a.rounds, 'rounds');
  const recordSize = num(a['record-size'], 'record-size');
  fs.rmSync(a.dir, { recursive: true, force: true });
  fs.mkdirSync(a.dir, { recursive: true });

  // One batch, built once, appended over and over (the broker stamps it in place each time).
  const builder = new RecordBatchBuilder(num(a['batch-bytes'], 'batch-bytes'));
  const value = Buffer.alloc(recordSize, 0x61);
  while (builder.tryAppend(Date.now(), null, value)) {
    // fill the batch
  }
  const batch = builder.build();
  const recordsPerBatch = builder.recordCount;
  const batches = Math.ceil(totalBytes / batch.length);
  const bytes = batches * batch.length;
  const mb = bytes / 1024 / 1024;

  const rawRun = (): number => {
    const file = path.join(a.dir, 'raw.bin');
    const fd = fs.openSync(file, 'w');
    const start = hrMs();
    for (let i = 0, pos = 0; i < batches; i++, pos += batch.length) fs.writeSync(fd, batch, 0, batch.length, pos);
    fs.fsyncSync(fd);
    const ms = hrMs() - start;
    fs.closeSync(fd);
    fs.rmSync(file);
    return mb / (ms / 1000);
  };

  const latencies = new Float64Array(batches);
  const logRun = async (keep: boolean): Promise<{ mbPerS: number; log: PartitionLog }> => {
    const dir = path.join(a.dir, 'log-0');
    fs.rmSync(dir, { recursive: true, force: true });
    const log = PartitionLog.open({
      fs: nodeFileSystem,
      dir,
      topic: 'bench',
      partition: 0,
      config: { ...DEFAULT_LOG_CONFIG, segmentBytes: 256 * 1024 * 1024 },
      recoveryPoint: 0,
      logStartOffset: 0,
      flushPolicy: { kind: 'fsync' },
      logger: silentLogger,
      nowMs: Date.now(),
    });
    const start = hrMs();
    for (let i = 0; i < batches; i++) {
      const s = hrMs();
      const check = validateBatches(batch, { maxBatchBytes: batch.length + 1 });
      if (!check.ok) throw new Error(check.message);
      log.appendAsLeader(batch, check.batches, 0, Date.now());
      latencies[i] = hrMs() - s;
    }
    await log.waitDurable(log.logEndOffset);
    const mbPerS = mb / ((hrMs() - start) / 1000);
    if (!keep) {
      await log.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return { mbPerS, log };
  };

  const raw: number[] = [];
  const appended: number[] = [];
  let last: PartitionLog | null = null;
  for (let r = 0; r < rounds; r++) {
    raw.push(rawRun());
    const run = await logRun(r === rounds - 1);
    appended.push(run.mbPerS);
    last = run.log;
    progress(`round ${r + 1}/${rounds}: raw ${raw[r]!.toFixed(0)} MB/s, log append ${appended[r]!.toFixed(0)} MB/s`);
  }

  // Sequential read of everything, decoding every record (what a consumer does).
  const log = last!;
  log.updateHighWatermark(log.logEndOffset);
  const t0 = hrMs();
  let offset = 0;
  let readRecords = 0;
  let readBytes = 0;
  while (offset < log.logEndOffset) {
    const data = log.read(offset, 1024 * 1024, log.logEndOffset, true);
    readBytes += data.length;
    readRecords += decodeAllRecords(data, offset).length;
    forEachBatch(data, (pos) => {
      offset = batchLastOffset(data, pos) + 1;
    });
  }
  const readMs = hrMs() - t0;
  await log.close();
  fs.rmSync(a.dir, { recursive: true, force: true });

  const [p50, p99] = percentiles(latencies, [50, 99]);
  const appendMbPerS = median(appended);
  const rawMbPerS = median(raw);
  report({
    benchmark: 'log',
    record_size: recordSize,
    batch_bytes: batch.length,
    records: batches * recordsPerBatch,
    records_per_s: ((appendMbPerS * 1024 * 1024) / batch.length) * recordsPerBatch,
    mb_per_s: appendMbPerS,
    raw_disk_mb_per_s: rawMbPerS,
    append_vs_raw: appendMbPerS / rawMbPerS,
    rounds,
    read_records_per_s: readRecords / (readMs / 1000),
    read_mb_per_s: readBytes / 1024 / 1024 / (readMs / 1000),
    p50_ms: p50,
    p99_ms: p99,
    errors: readRecords === batches * recordsPerBatch ? 0 : 1,
  });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
