/** The in-memory Raft log: indexes, terms, conflicts, compaction and the persistence bookkeeping behind ready(). */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { term } from '../../../src/common/types';
import { RaftLog } from '../../../src/raft/raft-log';
import { logOfTerms } from './cluster';

/** Naive findConflictByTerm over a full log given as terms of indexes 1..n (index 0 has term 0). */
function naiveFindConflictByTerm(terms: readonly number[], index: number, t: number): number {
  for (let i = Math.min(index, terms.length); i > 0; i--) if (terms[i - 1]! <= t) return i;
  return 0;
}

const nonDecreasing = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }).map((steps) => {
  let t = 1;
  return steps.map((s) => (t += s));
});

describe('RaftLog', () => {
  test('indexes and terms around a snapshot offset', () => {
    const log = new RaftLog({ lastIndex: 5, lastTerm: term(2) }, logOfTerms([2, 3, 3], 6));
    expect([log.firstIndex(), log.lastIndex(), log.lastTerm()]).toEqual([6, 8, 3]);
    expect([4, 5, 6, 8, 9].map((i) => log.termAt(i))).toEqual([undefined, 2, 2, 3, undefined]);
    expect(log.entryAt(5)).toBeUndefined();
    expect(log.slice(6, 8).map((e) => e.index)).toEqual([6, 7, 8]);
    expect(() => log.slice(5, 8)).toThrow(/below the first retained entry/);
  });

  test('slice respects count and byte bounds but always returns one entry', () => {
    const log = new RaftLog(null, logOfTerms([1, 1, 1, 1]));
    expect(log.slice(1, 4, Number.POSITIVE_INFINITY, 2).map((e) => e.index)).toEqual([1, 2]);
    expect(log.slice(1, 4, 0).map((e) => e.index)).toEqual([1]);
  });

  test('appendFromLeader keeps matching entries and replaces from the first conflict', () => {
    const log = new RaftLog(null, logOfTerms([1, 1, 2, 2]));
    expect(log.appendFromLeader(logOfTerms([1, 2], 2))).toBe(null);
    expect(log.lastIndex()).toBe(4);
    expect(log.appendFromLeader(logOfTerms([2, 3, 3], 3))).toBe(4);
    expect([1, 2, 3, 4, 5].map((i) => log.termAt(i))).toEqual([1, 1, 2, 3, 3]);
  });

  test('findConflictByTerm matches the naive model', () => {
    fc.assert(
      fc.property(nonDecreasing, fc.nat(35), fc.nat(40), (terms, index, t) => {
        const log = new RaftLog(null, logOfTerms(terms));
        expect(log.findConflictByTerm(index, term(t))).toBe(naiveFindConflictByTerm(terms, index, t));
      }),
      { seed: 7, numRuns: 3000 },
    );
  });

  test('the up-to-date comparison of §5.4.1', () => {
    const log = new RaftLog(null, logOfTerms([1, 2, 2]));
    expect(log.isUpToDate(3, term(2))).toBe(true);
    expect(log.isUpToDate(2, term(2))).toBe(false);
    expect(log.isUpToDate(1, term(3))).toBe(true);
    expect(log.isUpToDate(9, term(1))).toBe(false);
  });

  describe('persistence bookkeeping', () => {
    test('hands each entry once and reports truncations of handed entries', () => {
      const log = new RaftLog(null, logOfTerms([1]));
      log.append(logOfTerms([1], 2)[0]!);
      log.append(logOfTerms([1], 3)[0]!);
      expect(log.takeUnpersisted()).toMatchObject({ truncateFrom: null, entries: [{ index: 2 }, { index: 3 }] });
      log.markPersisted();
      expect(log.stableIndex).toBe(3);
      log.truncateFrom(3);
      log.append(logOfTerms([2], 3)[0]!);
      expect(log.stableIndex).toBe(2);
      expect(log.takeUnpersisted()).toMatchObject({ truncateFrom: 3, entries: [{ index: 3, term: 2 }] });
      expect(log.hasUnpersisted()).toBe(false);
    });

    test('a truncation of entries handed but not yet confirmed caps what advance() confirms', () => {
      const log = new RaftLog(null, []);
      for (const e of logOfTerms([1, 1, 1])) log.append(e);
      log.takeUnpersisted(); // the driver is writing 1..3
      log.truncateFrom(2); // a conflict arrives meanwhile
      log.markPersisted(); // the write of 1..3 completes
      expect(log.stableIndex).toBe(1);
      expect(log.takeUnpersisted().truncateFrom).toBe(2);
    });

    test('restore reports a truncation when handed entries lie beyond the snapshot', () => {
      const log = new RaftLog(null, logOfTerms([1, 1, 1, 1, 1]));
      log.restore({ lastIndex: 3, lastTerm: term(2) });
      expect([log.firstIndex(), log.lastIndex()]).toEqual([4, 3]);
      expect(log.takeUnpersisted()).toEqual({ truncateFrom: 4, entries: [] });
    });

    test('compact keeps the term of the compacted index', () => {
      const log = new RaftLog(null, logOfTerms([1, 2, 3]));
      log.compact(2);
      expect([log.snapshotIndex, log.snapshotTerm, log.firstIndex(), log.termAt(2)]).toEqual([2, 2, 3, 2]);
      log.compact(1); // older than the snapshot: nothing to do
      expect(log.snapshotIndex).toBe(2);
    });
  });
});
