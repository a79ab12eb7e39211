/**
 * bench:log — the storage layer alone, in process: appends of ~64 KiB batches of 100-byte records
 * to a PartitionLog, then a sequential read of everything, compared with the raw sequential write
 * rate of the same disk measured in the same run (same total bytes, one fsync at the end each).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../src/common/logger';
import { batchLastOffset, decodeAllRecords, forEachBatch, RecordBatchBuilder } from '../src/record/batch';
import { validateBatches } from '../src/record/validate';
import { DEFAULT_LOG_CONFIG } from '../src/storage/log-config';
import { PartitionLog } from '../src/storage/partition-log';
import { args, hrMs, num, percentiles, progress, report } from './common';

async function main(): Promise<void> {
  const a = args({ mb: '1024', 'record-size': '100', 'batch-bytes': '65536', dir: path.join(os.tmpdir(), 'cairn-bench-log') });
  const totalBytes = num(a.mb, 'mb') * 1024 * 1024;
  const recordSize = num(a['record-size'], 'record-size');
  const batchBytes = num(a['batch-bytes'], 'batch-bytes');
  fs.rmSync(a.dir, { recursive: true, force: true });
  fs.mkdirSync(a.dir, { recursive: true });

  // One batch, built once, appended over and over (the broker stamps it in place each time).
  const builder = new RecordBatchBuilder(batchBytes);
  const value = Buffer.alloc(recordSize, 0x61);
  while (builder.tryAppend(Date.now(), null, value)) {
    // fill
  }
  const batch = builder.build();
  const v = validateBatches(batch, { maxBatchBytes: batch.length + 1 });
  if (!v.ok) throw new Error(v.message);
  const recordsPerBatch = v.recordCount;
  const batches = Math.ceil(totalBytes / batch.length);

  // 1. Raw disk: the same bytes with plain positional writes, one fsync at the end. Measured before
  //    and after the log run; the faster of the two counts, so the comparison flatters the disk.
  const rawFile = path.join(a.dir, 'raw.bin');
  const rawRun = (): number => {
    const fd = fs.openSync(rawFile, 'w');
    const start = hrMs();
    for (let i = 0, pos = 0; i < batches; i++, pos += batch.length) fs.writeSync(fd, batch, 0, batch.length, pos);
    fs.fsyncSync(fd);
    const ms = hrMs() - start;
    fs.closeSync(fd);
    fs.rmSync(rawFile);
    return (batches * batch.length) / 1024 / 1024 / (ms / 1000);
  };
  let rawMbPerS = rawRun();
  progress(`raw disk: ${rawMbPerS.toFixed(0)} MB/s`);
  let t0: number;

  // 2. Log append: validate (CRC and structure, as the broker does), stamp, append, index; one fsync at the end.
  const log = PartitionLog.open({ dir: path.join(a.dir, 'log-0'), topic: 'bench', partition: 0, config: { ...DEFAULT_LOG_CONFIG, segmentBytes: 256 * 1024 * 1024 }, recoveryPoint: 0, logStartOffset: 0, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: Date.now() });
  const latencies = new Float64Array(batches);
  t0 = hrMs();
  for (let i = 0; i < batches; i++) {
    const s = hrMs();
    const check = validateBatches(batch, { maxBatchBytes: batch.length + 1 });
    if (!check.ok) throw new Error(check.message);
    log.appendAsLeader(batch, check.batches, 0, Date.now());
    latencies[i] = hrMs() - s;
  }
  await log.flush();
  const appendMs = hrMs() - t0;
  const appendBytes = batches * batch.length;
  progress(`log append: ${(appendBytes / 1024 / 1024 / (appendMs / 1000)).toFixed(0)} MB/s`);

  // 3. Sequential read of everything, decoding every record (what a consumer does).
  log.updateHighWatermark(log.logEndOffset);
  t0 = hrMs();
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
  fs.rmSync(path.join(a.dir, 'log-0'), { recursive: true, force: true });
  rawMbPerS = Math.max(rawMbPerS, rawRun());
  progress(`raw disk (again): ${rawMbPerS.toFixed(0)} MB/s`);
  fs.rmSync(a.dir, { recursive: true, force: true });

  const [p50, p99] = percentiles(latencies, [50, 99]);
  const appendMbPerS = appendBytes / 1024 / 1024 / (appendMs / 1000);
  report({
    benchmark: 'log',
    record_size: recordSize,
    batch_bytes: batch.length,
    records: batches * recordsPerBatch,
    records_per_s: (batches * recordsPerBatch) / (appendMs / 1000),
    mb_per_s: appendMbPerS,
    raw_disk_mb_per_s: rawMbPerS,
    append_vs_raw: appendMbPerS / rawMbPerS,
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
