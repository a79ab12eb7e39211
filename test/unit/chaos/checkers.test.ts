import { describe, expect, it } from 'vitest';
import {
  checkControllersAgree,
  checkDuplicates,
  checkFailedAbsent,
  checkLostWrites,
  checkNoAbortedReads,
  checkOffsetConsistency,
  checkProducerOrder,
  checkReaderProgress,
  checkRecovery,
  checkReplicasAgree,
  checkSingleOwnership,
  type ControllerImage,
  type FinalLog,
  type ReplicaCopy,
} from '../../../chaos/checkers';
import type { OwnershipOp, ReadOp, SendOp, TxnOp } from '../../../chaos/history';

const send = (type: SendOp['type'], value: string, seq: number, partition?: number, offset?: number, timeMs = 0): SendOp => ({ kind: 'send', process: 1, type, value, seq, partition, offset, timeMs });
const read = (partition: number, offset: number, value: string, process = 1, session = 0): ReadOp => ({ kind: 'read', process, session, partition, offset, value, timeMs: 0 });
const log = (...values: string[]): FinalLog => new Map([[0, new Map(values.map((v, i) => [i, v]))]]);

describe('chaos checkers report what they must (and pass good histories)', () => {
  it('lost write: an acknowledged value missing or moved', () => {
    const sends = [send('invoke', 'a', 0), send('ok', 'a', 0, 0, 0), send('invoke', 'b', 1), send('ok', 'b', 1, 0, 1)];
    expect(checkLostWrites(sends, log('a', 'b')).ok).toBe(true);
    const lost = checkLostWrites(sends, log('a'));
    expect(lost.ok).toBe(false);
    expect(lost.problems[0]).toMatch(/acknowledged b at 0:1 is lost/);
    expect(checkLostWrites(sends, log('b', 'a')).ok).toBe(false); // at the wrong offset
    // An unknown outcome (info) may be there or not.
    expect(checkLostWrites([send('info', 'c', 2)], log('a')).ok).toBe(true);
  });

  it('failed write: a definitely failed value must not appear', () => {
    expect(checkFailedAbsent([send('fail', 'x', 0)], log('a')).ok).toBe(true);
    expect(checkFailedAbsent([send('fail', 'x', 0)], log('a', 'x')).ok).toBe(false);
  });

  it('duplicate: fails when strict, warns otherwise', () => {
    expect(checkDuplicates(log('a', 'b'), true).ok).toBe(true);
    const strict = checkDuplicates(log('a', 'b', 'a'), true);
    expect(strict.ok).toBe(false);
    expect(strict.problems[0]).toMatch(/a appears 2 times/);
    const lenient = checkDuplicates(log('a', 'b', 'a'), false);
    expect(lenient).toMatchObject({ ok: true, warning: true });
  });

  it('one offset, two values across readers', () => {
    expect(checkOffsetConsistency([read(0, 0, 'a'), read(0, 1, 'b', 2)], log('a', 'b')).ok).toBe(true);
    const bad = checkOffsetConsistency([read(0, 1, 'z', 2)], log('a', 'b'));
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]).toMatch(/offset 0:1 held b/);
  });

  it('producer order: a later send before an earlier one in the same partition', () => {
    const sends = [send('invoke', 'p1-0', 0), send('invoke', 'p1-1', 1), send('invoke', 'p1-2', 2)];
    expect(checkProducerOrder(sends, log('p1-0', 'p1-1', 'p1-2')).ok).toBe(true);
    expect(checkProducerOrder(sends, log('p1-0', 'p1-1', 'p1-0', 'p1-1', 'p1-2')).ok).toBe(true); // a retried batch repeats values
    expect(checkProducerOrder(sends, log('p1-1', 'p1-0', 'p1-2')).ok).toBe(false);
  });

  it('reader progress: a skipped or repeated offset within a session', () => {
    expect(checkReaderProgress([read(0, 0, 'a'), read(0, 1, 'b'), read(0, 5, 'c', 1, 1)]).ok).toBe(true);
    expect(checkReaderProgress([read(0, 0, 'a'), read(0, 2, 'c')]).ok).toBe(false);
    expect(checkReaderProgress([read(0, 3, 'a'), read(0, 2, 'c')]).ok).toBe(false);
  });

  it('aborted read: a value of an aborted transaction seen under read_committed', () => {
    const txns: TxnOp[] = [
      { kind: 'txn', process: 1, type: 'ok', txn: 't1', values: ['a'], timeMs: 0 },
      { kind: 'txn', process: 1, type: 'fail', txn: 't2', values: ['b'], timeMs: 0 },
    ];
    expect(checkNoAbortedReads(txns, [read(0, 0, 'a')]).ok).toBe(true);
    const bad = checkNoAbortedReads(txns, [read(0, 0, 'a'), read(0, 1, 'b')]);
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]).toMatch(/aborted transaction t2/);
  });

  it('double ownership: two members own one partition in one generation', () => {
    const own = (member: string, generation: number, partitions: number[]): OwnershipOp => ({ kind: 'owns', member, group: 'g', generation, partitions, timeMs: 0 });
    expect(checkSingleOwnership([own('m1', 1, [0, 1]), own('m2', 1, [2]), own('m2', 2, [0])]).ok).toBe(true);
    const bad = checkSingleOwnership([own('m1', 1, [0, 1]), own('m2', 1, [1])]);
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]).toMatch(/partition 1 owned by m1 and m2/);
  });

  it('recovery: writes must resume within the bound after the heal', () => {
    const sends = [send('ok', 'a', 0, 0, 0, 500), send('ok', 'b', 1, 0, 1, 12_000)];
    expect(checkRecovery(sends, 10_000, 5_000).ok).toBe(true);
    expect(checkRecovery(sends, 1_000, 5_000).ok).toBe(false);
    expect(checkRecovery([], 1_000, 5_000).ok).toBe(false);
  });

  it('replicas agree: copies that differ below the drained end are reported', () => {
    const copy = (partition: number, node: number, bytes: string, end = 3): ReplicaCopy => ({ partition, end, node, bytes: Buffer.from(bytes) });
    const good = [copy(0, 1, 'abc'), copy(0, 2, 'abc'), copy(0, 3, 'abc'), copy(1, 1, 'xy'), copy(1, 2, 'xy')];
    expect(checkReplicasAgree(good)).toMatchObject({ ok: true, problems: [] });
    // One replica holds another value at an offset both hold (a diverged log).
    const flipped = checkReplicasAgree([copy(0, 1, 'abc'), copy(0, 2, 'abc'), copy(0, 3, 'abX')]);
    expect(flipped.ok).toBe(false);
    expect(flipped.problems).toEqual(['partition 0: node 3 (3 bytes) differs from node 1 (3 bytes) below offset 3, first at byte 2']);
    // One replica is missing committed records (truncated below the drained end).
    const short = checkReplicasAgree([copy(1, 1, 'xy'), copy(1, 2, 'x')]);
    expect(short.ok).toBe(false);
    expect(short.problems[0]).toMatch(/partition 1: node 2 \(1 bytes\) differs from node 1 \(2 bytes\)/);
    // The first copy is the odd one out: every other copy is reported against it.
    expect(checkReplicasAgree([copy(0, 1, 'zzz'), copy(0, 2, 'abc'), copy(0, 3, 'abc')]).problems).toHaveLength(2);
  });

  it('controllers agree: different digests at one offset, or no convergence, are reported', () => {
    const img = (node: number, offset: number | null, digest: string): ControllerImage => ({ node, offset, digest });
    expect(checkControllersAgree([img(1, 40, 'aaaa'), img(2, 40, 'aaaa'), img(3, 40, 'aaaa')])).toMatchObject({ ok: true, problems: [] });
    const diverged = checkControllersAgree([img(1, 40, 'aaaa'), img(2, 40, 'bbbb'), img(3, 40, 'aaaa')]);
    expect(diverged.ok).toBe(false);
    expect(diverged.problems).toEqual(['controllers diverged at metadata offset 40: node 1 digest aaaa, node 2 digest bbbb, node 3 digest aaaa']);
    // Two of them diverged at one offset while the third is elsewhere: both problems.
    const both = checkControllersAgree([img(1, 40, 'aaaa'), img(2, 40, 'bbbb'), img(3, 41, 'cccc')]);
    expect(both.ok).toBe(false);
    expect(both.problems).toHaveLength(2);
    expect(both.problems[1]).toMatch(/did not converge on one metadata offset/);
    expect(checkControllersAgree([img(1, 40, 'aaaa'), img(2, 39, 'aaaa')]).ok).toBe(false);
    expect(checkControllersAgree([img(1, 40, 'aaaa'), img(2, null, '')]).problems).toEqual(['controllers 2 did not answer']);
  });
});
