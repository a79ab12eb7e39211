import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { nodeId, term } from '../../../src/common/types';
import { ENTRIES_FILE, HARD_STATE_FILE, RaftStorage, RaftStorageError, SNAPSHOT_FILE } from '../../../src/raft/io/raft-storage';
import type { Entry } from '../../../src/raft/types';

const bytes = (s: string) => new TextEncoder().encode(s);
const entry = (index: number, t: number, data = `e${index}`): Entry => ({ index, term: term(t), kind: 'data', data: bytes(data) });
const noop = (index: number, t: number): Entry => ({ index, term: term(t), kind: 'noop', data: new Uint8Array(0) });

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-raft-storage-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function reopen() {
  const opened = await RaftStorage.open(dir);
  await opened.storage.close();
  return opened;
}

const indexes = (entries: readonly Entry[]) => entries.map((e) => e.index);

describe('RaftStorage', () => {
  test('an empty directory loads as term 0, no vote, no snapshot, no entries', async () => {
    const { state, recovery } = await reopen();
    expect(state).toEqual({ hardState: { term: 0, votedFor: null }, snapshot: null, entries: [] });
    expect(recovery.tornTailBytes).toBe(0);
  });

  test('hard state, entries and kinds survive a reopen', async () => {
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ hardState: { term: term(3), votedFor: nodeId(2) }, entriesToAppend: [noop(1, 1), entry(2, 1), entry(3, 3)] });
    await storage.persist({ hardState: { term: term(4), votedFor: null }, entriesToAppend: [entry(4, 4, 'x'.repeat(1000))] });
    await storage.close();
    const { state } = await reopen();
    expect(state.hardState).toEqual({ term: 4, votedFor: null });
    expect(state.entries).toEqual([noop(1, 1), entry(2, 1), entry(3, 3), entry(4, 4, 'x'.repeat(1000))]);
    expect(fs.readdirSync(dir).sort()).toEqual([ENTRIES_FILE, HARD_STATE_FILE].sort());
  });

  test('truncateFrom drops the suffix before the new entries are appended', async () => {
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ entriesToAppend: [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)] });
    await storage.persist({ truncateFrom: 3, entriesToAppend: [entry(3, 2, 'new3')] });
    expect(storage.lastIndex).toBe(3);
    await storage.close();
    const { state } = await reopen();
    expect(state.entries).toEqual([entry(1, 1), entry(2, 1), entry(3, 2, 'new3')]);
  });

  test('a snapshot compacts the entry file; entries after it are kept', async () => {
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ entriesToAppend: [1, 2, 3, 4, 5].map((i) => entry(i, 1)) });
    const snapshot = { lastIndex: 3, lastTerm: term(1), data: bytes('state@3') };
    await storage.persist({ snapshotToSave: snapshot, entriesToAppend: [entry(6, 2)] });
    await storage.close();
    const { state } = await reopen();
    expect(state.snapshot).toEqual(snapshot);
    expect(indexes(state.entries)).toEqual([4, 5, 6]);
    // The compacted entries are gone from the file, not just skipped.
    expect(fs.statSync(path.join(dir, ENTRIES_FILE)).size).toBe(3 * (8 + 17 + 2));
  });

  test('a snapshot from the leader with a divergent log: truncate, save, then append after it', async () => {
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ entriesToAppend: [1, 2, 3].map((i) => entry(i, 1)) });
    const snapshot = { lastIndex: 10, lastTerm: term(5), data: bytes('state@10') };
    await storage.persist({ truncateFrom: 11, snapshotToSave: snapshot, entriesToAppend: [] });
    await storage.persist({ entriesToAppend: [entry(11, 5)] });
    await storage.close();
    const { state } = await reopen();
    expect(state.snapshot?.lastIndex).toBe(10);
    expect(indexes(state.entries)).toEqual([11]);
  });

  test('an append that does not follow the last persisted entry is a bug and throws', async () => {
    const { storage } = await RaftStorage.open(dir);
    await storage.persist({ entriesToAppend: [entry(1, 1)] });
    await expect(storage.persist({ entriesToAppend: [entry(3, 1)] })).rejects.toThrow(/does not follow/);
    await storage.close();
  });

  describe('recovery', () => {
    async function writeThree(): Promise<number[]> {
      const { storage } = await RaftStorage.open(dir);
      await storage.persist({ entriesToAppend: [entry(1, 1, 'aaaa'), entry(2, 1, 'bbbb'), entry(3, 1, 'cccc')] });
      await storage.close();
      const size = fs.statSync(path.join(dir, ENTRIES_FILE)).size;
      const frame = size / 3;
      return [0, frame, 2 * frame, size];
    }
    const file = () => path.join(dir, ENTRIES_FILE);

    test('a last frame cut short is a torn tail: cut off, earlier entries kept', async () => {
      const [, , third, size] = await writeThree();
      fs.truncateSync(file(), third! + 5);
      const { state, recovery } = await reopen();
      expect(indexes(state.entries)).toEqual([1, 2]);
      expect(recovery.tornTailBytes).toBe(5);
      expect(fs.statSync(file()).size).toBe(third);
      expect(size).toBeGreaterThan(third!);
    });

    test('a partial frame header at the end is a torn tail', async () => {
      const [, , , size] = await writeThree();
      fs.appendFileSync(file(), Buffer.from([0, 0, 1]));
      const { state, recovery } = await reopen();
      expect(indexes(state.entries)).toEqual([1, 2, 3]);
      expect(recovery.tornTailBytes).toBe(3);
      expect(fs.statSync(file()).size).toBe(size);
    });

    test('a bad CRC on the very last frame is a torn tail', async () => {
      const [, , , size] = await writeThree();
      const buf = fs.readFileSync(file());
      buf[size! - 1] ^= 0xff;
      fs.writeFileSync(file(), buf);
      const { state } = await reopen();
      expect(indexes(state.entries)).toEqual([1, 2]);
    });

    test('a zero-filled tail (space allocated, data never written) is a torn tail', async () => {
      await writeThree();
      fs.appendFileSync(file(), Buffer.alloc(100));
      const { state, recovery } = await reopen();
      expect(indexes(state.entries)).toEqual([1, 2, 3]);
      expect(recovery.tornTailBytes).toBe(100);
    });

    test('after cutting a torn tail, new appends land right after the valid entries', async () => {
      const [, , third] = await writeThree();
      fs.truncateSync(file(), third! + 5);
      const { storage } = await RaftStorage.open(dir);
      await storage.persist({ entriesToAppend: [entry(3, 2, 'again')] });
      await storage.close();
      const { state } = await reopen();
      expect(state.entries).toEqual([entry(1, 1, 'aaaa'), entry(2, 1, 'bbbb'), entry(3, 2, 'again')]);
    });

    test('a bad CRC in the middle fails loudly, naming the file and offset', async () => {
      const [, second] = await writeThree();
      const buf = fs.readFileSync(file());
      buf[second! + 26] ^= 0x01; // a data byte of entry 2
      fs.writeFileSync(file(), buf);
      const open = RaftStorage.open(dir);
      await expect(open).rejects.toBeInstanceOf(RaftStorageError);
      await expect(RaftStorage.open(dir)).rejects.toThrow(new RegExp(`${ENTRIES_FILE}: frame at byte ${second} .*corruption in the middle`));
    });

    test('a corrupt length field in the middle is not mistaken for a torn tail', async () => {
      const [, second] = await writeThree();
      const buf = fs.readFileSync(file());
      buf[second! + 1] = 0x7f; // entry 2 now claims far more bytes than the file holds
      fs.writeFileSync(file(), buf);
      await expect(RaftStorage.open(dir)).rejects.toThrow(/past the end of the file, yet an intact frame follows/);
    });

    test('a corrupt hard state or snapshot fails loudly', async () => {
      const { storage } = await RaftStorage.open(dir);
      await storage.persist({
        hardState: { term: term(2), votedFor: nodeId(1) },
        snapshotToSave: { lastIndex: 0, lastTerm: term(0), data: bytes('s') },
        entriesToAppend: [],
      });
      await storage.close();
      const hs = fs.readFileSync(path.join(dir, HARD_STATE_FILE));
      hs[9] ^= 0x10;
      fs.writeFileSync(path.join(dir, HARD_STATE_FILE), hs);
      await expect(RaftStorage.open(dir)).rejects.toThrow(/raft-hard-state fails its CRC32C check/);
      fs.rmSync(path.join(dir, HARD_STATE_FILE));
      const snap = fs.readFileSync(path.join(dir, SNAPSHOT_FILE));
      snap[snap.length - 1] ^= 0x10;
      fs.writeFileSync(path.join(dir, SNAPSHOT_FILE), snap);
      await expect(RaftStorage.open(dir)).rejects.toThrow(/raft-snapshot fails its CRC32C check/);
    });

    test('a crash between saving a snapshot and rewriting the entry file is finished on open', async () => {
      const { storage } = await RaftStorage.open(dir);
      await storage.persist({ entriesToAppend: [1, 2, 3, 4].map((i) => entry(i, 1)) });
      await storage.close();
      const before = fs.readFileSync(file());
      const { storage: again } = await RaftStorage.open(dir);
      await again.persist({ snapshotToSave: { lastIndex: 2, lastTerm: term(1), data: bytes('s') }, entriesToAppend: [] });
      await again.close();
      fs.writeFileSync(file(), before); // as if the rewrite never happened
      const { state } = await reopen();
      expect(indexes(state.entries)).toEqual([3, 4]);
      const { state: third } = await reopen();
      expect(indexes(third.entries)).toEqual([3, 4]);
    });

    test('entries missing between the snapshot and the entry file fail loudly', async () => {
      const { storage } = await RaftStorage.open(dir);
      await storage.persist({ entriesToAppend: [1, 2, 3].map((i) => entry(i, 1)) });
      await storage.close();
      const buf = fs.readFileSync(file());
      fs.writeFileSync(file(), buf.subarray(buf.length / 3)); // drop entry 1's frame
      await expect(RaftStorage.open(dir)).rejects.toThrow(/starts at entry 2 but the snapshot ends at 0/);
    });

    test('leftover temp files from an interrupted atomic write are removed', async () => {
      fs.writeFileSync(path.join(dir, `${HARD_STATE_FILE}.tmp`), 'half');
      const { state } = await reopen();
      expect(state.hardState.term).toBe(0);
      expect(fs.existsSync(path.join(dir, `${HARD_STATE_FILE}.tmp`))).toBe(false);
    });
  });
});
