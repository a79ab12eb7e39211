import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../src/common/random';
import { SIM_SECTOR_BYTES, SimDisk, type SimDiskFaults } from '../../sim/sim-disk';
import { SimScheduler } from '../../sim/cluster/scheduler';

function disk(faults: Partial<SimDiskFaults> = {}, seed = 1) {
  const sched = new SimScheduler();
  const d = new SimDisk(new SeededRandom(seed), (ms, fn) => void sched.after(ms, fn), faults);
  d.mkdirp('/d');
  d.fsyncDir('/');
  return { d, sched };
}

const text = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));

function writeAll(d: SimDisk, fd: number, s: string, position: number) {
  const b = Buffer.from(s);
  expect(d.write(fd, b, 0, b.length, position)).toBe(b.length);
}

describe('SimDisk', () => {
  it('reads what was written; a crash keeps only what an fsync made durable', () => {
    const { d } = disk();
    const fd = d.open('/d/f', 'wx+');
    d.fsyncDir('/d');
    writeAll(d, fd, 'hello', 0);
    d.fsyncSync(fd);
    writeAll(d, fd, ' world', 5);
    const buf = Buffer.alloc(20);
    expect(buf.subarray(0, d.read(fd, buf, 0, 20, 0)).toString()).toBe('hello world');
    d.crash();
    expect(text(d.readFile('/d/f'))).toBe('hello');
    expect(() => d.read(fd, buf, 0, 1, 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('an asynchronous fsync makes durable only when the simulation completes it, and never after a crash', () => {
    const { d, sched } = disk({ fsyncDelayMs: { min: 5, max: 10 } });
    const fd = d.open('/d/f', 'wx+');
    d.fsyncDir('/d');
    writeAll(d, fd, 'abc', 0);
    const done: Array<string | null> = [];
    d.fsync(fd, (err) => done.push(err?.code ?? null));
    expect(done).toEqual([]);
    expect(text(d.durableContent('/d/f'))).toBe('');
    // Written after the fsync started: not covered by it.
    writeAll(d, fd, 'def', 3);
    sched.runNext();
    expect(done).toEqual([null]);
    expect(text(d.durableContent('/d/f'))).toBe('abc');
    d.fsync(fd, (err) => done.push(err?.code ?? null));
    d.crash();
    while (sched.runNext());
    expect(done).toEqual([null]);
    expect(text(d.readFile('/d/f'))).toBe('abc');
  });

  it('an fsync finishing after a later one does not bring back bytes a truncation removed', () => {
    const { d, sched } = disk({ fsyncDelayMs: { min: 10, max: 10 } });
    const fd = d.open('/d/f', 'wx+');
    d.fsyncDir('/d');
    writeAll(d, fd, 'abcdef', 0);
    d.fsync(fd, () => undefined);
    d.ftruncate(fd, 2);
    d.fsyncSync(fd);
    sched.runNext();
    d.crash();
    expect(text(d.readFile('/d/f'))).toBe('ab');
  });

  it('directory entries are volatile until the directory is fsynced; renames are atomic', () => {
    // Without entry loss every un-fsynced change survives; with it, some prefix of them does.
    const lost = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const { d } = disk({ lostDirectoryEntries: true }, seed);
      const a = d.open('/d/a', 'w');
      d.fsyncSync(a);
      d.close(a);
      d.fsyncDir('/d');
      d.rename('/d/a', '/d/b');
      d.writeFile('/d/c', 'c');
      d.crash();
      const files = d.listFiles().join(',');
      // Never both names of the renamed file, never neither; c only if the rename survived.
      expect(['/d/a', '/d/b', '/d/b,/d/c']).toContain(files);
      lost.add(files);
    }
    expect(lost.size).toBe(3);
    const { d } = disk({ lostDirectoryEntries: true });
    d.writeFile('/d/x', 'x');
    d.rm('/d/x');
    d.writeFile('/d/y', 'y');
    d.fsyncDir('/d');
    d.crash();
    expect(d.listFiles()).toEqual(['/d/y']);
  });

  it('a torn write keeps a sector-aligned prefix of the un-fsynced bytes, garbage only in the sector it stopped in', () => {
    const durable = Buffer.alloc(700, 1);
    const pending = Buffer.alloc(2000, 2);
    const seen = new Set<number>();
    let garbage = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const { d } = disk({ tornWriteProbability: 1, tornGarbageProbability: 0.5 }, seed);
      const fd = d.open('/d/f', 'wx+');
      d.fsyncDir('/d');
      d.write(fd, durable, 0, durable.length, 0);
      d.fsyncSync(fd);
      d.write(fd, pending, 0, pending.length, durable.length);
      d.crash();
      const after = d.readFile('/d/f');
      const torn = d.injected.find((f) => f.kind === 'torn-write');
      expect(torn, `seed ${seed}`).toBeDefined();
      if (torn?.kind !== 'torn-write') continue;
      // The fsynced bytes are intact, whatever happened after them.
      expect(after.subarray(0, 700).equals(durable), `seed ${seed}`).toBe(true);
      const kept = torn.keptBytes;
      expect(kept === 2700 || kept % SIM_SECTOR_BYTES === 0, `seed ${seed}: kept ${kept}`).toBe(true);
      const end = Math.min(kept, after.length);
      if (end > 700) expect(after.subarray(700, end).equals(pending.subarray(0, end - 700)), `seed ${seed}`).toBe(true);
      if (torn.garbage !== null) {
        garbage++;
        expect(torn.garbage.from).toBe(Math.max(kept, 700));
        expect(torn.garbage.to).toBeLessThanOrEqual(Math.floor(kept / SIM_SECTOR_BYTES) * SIM_SECTOR_BYTES + SIM_SECTOR_BYTES);
        expect(after.length).toBe(torn.garbage.to);
      } else {
        expect(after.length).toBe(Math.max(kept, 700));
      }
      seen.add(Math.max(kept, 700));
    }
    expect(seen.size).toBeGreaterThan(2);
    expect(garbage).toBeGreaterThan(0);
  });

  it('flips bits on read (recorded, the disk keeps good bytes) and at rest', () => {
    const { d } = disk({ readBitFlipProbability: 1 });
    d.writeFile('/d/f', 'aaaa');
    const once = d.readFile('/d/f');
    expect(once.toString()).not.toBe('aaaa');
    const flip = d.injected[0]!;
    expect(flip.kind).toBe('read-bit-flip');
    d.faults.readBitFlipProbability = 0;
    expect(text(d.readFile('/d/f'))).toBe('aaaa');
    d.corrupt('/d/f', 2, 1);
    expect(text(d.readFile('/d/f'))).toBe('aaca');
    expect(d.injected[1]).toEqual({ kind: 'at-rest-bit-flip', file: '/d/f', position: 2, bit: 1 });
  });

  it('runs out of space: a short write, then ENOSPC, and no new file', () => {
    const { d } = disk({ capacityBytes: 10 });
    const fd = d.open('/d/f', 'wx+');
    expect(d.write(fd, Buffer.alloc(8), 0, 8, 0)).toBe(8);
    expect(d.write(fd, Buffer.alloc(8), 0, 8, 8)).toBe(2);
    expect(() => d.write(fd, Buffer.alloc(1), 0, 1, 10)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(() => d.open('/d/g', 'w')).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    // Overwriting in place needs no space.
    expect(d.write(fd, Buffer.alloc(4, 7), 0, 4, 0)).toBe(4);
    d.ftruncate(fd, 4);
    expect(d.usedBytes()).toBe(4);
    expect(d.write(fd, Buffer.alloc(6), 0, 6, 4)).toBe(6);
  });

  it('fails fsyncs with EIO when told to, leaving the durable bytes as they were', () => {
    const { d, sched } = disk();
    const fd = d.open('/d/f', 'w');
    d.fsyncDir('/d');
    d.faults.fsyncEioProbability = 1;
    writeAll(d, fd, 'x', 0);
    const codes: Array<string | undefined> = [];
    d.fsync(fd, (err) => codes.push(err?.code));
    sched.runNext();
    expect(codes).toEqual(['EIO']);
    expect(() => d.fsyncSync(fd)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(text(d.durableContent('/d/f'))).toBe('');
  });

  it('behaves like node for the errors storage handles', () => {
    const { d } = disk();
    expect(() => d.open('/d/missing', 'r+')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => d.open('/nope/f', 'w')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    d.writeFile('/d/f', 'x', true);
    expect(() => d.writeFile('/d/f', 'x', true)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => d.rm('/d')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    d.rm('/d/none', { force: true });
    d.mkdirp('/d/e/f');
    d.writeFile('/d/e/f/g', 'g');
    expect(d.readdir('/d').sort()).toEqual(['e', 'f']);
    d.rm('/d/e', { recursive: true });
    expect(d.exists('/d/e/f/g')).toBe(false);
    // An O_APPEND descriptor writes at the end whatever position it names.
    const fd = d.open('/d/f', 'a+');
    writeAll(d, fd, 'yz', 0);
    expect(text(d.readFile('/d/f'))).toBe('xyz');
  });

  it('is deterministic: the same seed and the same calls give the same disk', () => {
    const run = (seed: number) => {
      const { d } = disk({ tornWriteProbability: 0.5, tornGarbageProbability: 0.5, lostDirectoryEntries: true, readBitFlipProbability: 0.3 }, seed);
      for (let i = 0; i < 5; i++) {
        d.writeFile(`/d/f${i}`, 'x'.repeat(600 * i));
        if (i % 2 === 0) d.fsyncDir('/d');
        d.readFile(`/d/f${i}`);
      }
      d.crash();
      return JSON.stringify({ files: d.listFiles().map((f) => [f, d.readFile(f).toString('base64')]), injected: d.injected });
    };
    expect(run(7)).toBe(run(7));
    expect(run(7)).not.toBe(run(8));
  });
});
