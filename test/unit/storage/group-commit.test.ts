import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode, isRetriable } from '../../../src/common/errors';
import { encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { GroupCommit, MAX_FLUSH_WAITERS } from '../../../src/storage/group-commit';
import { openTestLog } from '../../helpers/partition-log';
import { tmpDir } from '../../helpers/tmp';

/** A log whose fsyncs hang until the test releases the disk; after that they complete at once. */
function heldSync() {
  let end = 0;
  let released = false;
  const pending: (() => void)[] = [];
  return {
    target: { sync: () => (released ? Promise.resolve() : new Promise<void>((resolve) => pending.push(resolve))), endOffset: () => end },
    write: (offset: number) => (end = offset),
    release: () => {
      released = true;
      pending.splice(0).forEach((r) => r());
    },
  };
}

const throttled = (err: unknown) => err instanceof CairnError && err.code === ErrorCode.THROTTLING_QUOTA_EXCEEDED;

describe('group commit bounds its waiters (MAX_FLUSH_WAITERS)', () => {
  it('past the bound, admit throws and waitFor rejects with a retriable typed error; the queue does not grow; a finished fsync makes room', async () => {
    const disk = heldSync();
    const gc = new GroupCommit(disk.target, 0, () => undefined);
    const waiting: Promise<void>[] = [];
    for (let i = 1; i <= MAX_FLUSH_WAITERS; i++) {
      gc.admit();
      disk.write(i);
      waiting.push(gc.waitFor(i));
    }
    expect(gc.pending).toBe(MAX_FLUSH_WAITERS);
    let refused: unknown = null;
    try {
      gc.admit();
    } catch (err) {
      refused = err;
    }
    expect(throttled(refused)).toBe(true);
    expect(isRetriable((refused as CairnError).code)).toBe(true);
    const late = await gc.waitFor(MAX_FLUSH_WAITERS + 1).then(
      () => null,
      (err: unknown) => err,
    );
    expect(throttled(late)).toBe(true);
    expect(gc.pending).toBe(MAX_FLUSH_WAITERS);
    // Shutdown and interval flushing still get their fsync.
    const flushed = gc.flushNow();
    disk.release();
    await Promise.all([...waiting, flushed]);
    expect(gc.pending).toBe(0);
    expect(() => gc.admit()).not.toThrow();
  });

  it('a leader append past the bound is refused before it writes: the log end does not move', async () => {
    const log = openTestLog(tmpDir('cairn-gc-'));
    const batch = encodeBatch([{ value: Buffer.from('x'), timestamp: 1000 }]);
    const v = validateBatches(batch, { maxBatchBytes: 1 << 20 });
    if (!v.ok) throw new Error(v.message);
    // Appends in one synchronous run: no fsync can finish in between, so every one still waits.
    const waiting: Promise<void>[] = [];
    let refused: unknown = null;
    for (let i = 0; i <= MAX_FLUSH_WAITERS && refused === null; i++) {
      try {
        const info = log.appendAsLeader(batch, v.batches, 0, 1000);
        waiting.push(log.waitDurable(info.lastOffset + 1));
      } catch (err) {
        refused = err;
      }
    }
    expect(throttled(refused)).toBe(true);
    expect(log.logEndOffset).toBe(MAX_FLUSH_WAITERS);
    await Promise.all(waiting);
    expect(log.appendAsLeader(batch, v.batches, 0, 1000).firstOffset).toBe(MAX_FLUSH_WAITERS);
    await log.close();
  }, 60_000);
});
