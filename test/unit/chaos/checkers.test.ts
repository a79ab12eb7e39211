import { describe, expect, it } from 'vitest';
import {
  checkControllersAgree,
  checkCopy,
  checkDuplicates,
  checkFailedAbsent,
  checkLostWrites,
  checkNoAbortedReads,
  checkNoClientErrors,
  checkOffsetConsistency,
  checkProducerOrder,
  checkReaderProgress,
  checkRecovery,
  checkReplicasAgree,
  checkTransactions,
  type ControllerImage,
  type FinalLog,
  type ReplicaCopy,
} from '../../../chaos/checkers';
import { checkCommittedOffsets, checkGroupCoverage, checkGroupOwnership } from '../../../chaos/group-checkers';
import type { GroupOp, ReadOp, SendOp, TxnOp } from '../../../chaos/history';

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

  it('no client errors: every send acknowledged; a failed or unknown send fails it', () => {
    const good = [send('invoke', 'a', 0), send('ok', 'a', 0, 0, 0), send('invoke', 'b', 1), send('ok', 'b', 1, 0, 1)];
    expect(checkNoClientErrors(good)).toMatchObject({ ok: true, summary: '2 sends acknowledged, 0 not' });
    const failed = checkNoClientErrors([...good, send('invoke', 'c', 2), { ...send('fail', 'c', 2), error: 'NOT_ENOUGH_REPLICAS' }]);
    expect(failed.ok).toBe(false);
    expect(failed.problems).toEqual(['c: failed (NOT_ENOUGH_REPLICAS)']);
    expect(checkNoClientErrors([...good, send('info', 'd', 2)]).ok).toBe(false);
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
    const abc = log('a', 'b', 'c', 'd', 'e', 'f');
    expect(checkReaderProgress([read(0, 0, 'a'), read(0, 1, 'b'), read(0, 5, 'f', 1, 1)], abc).ok).toBe(true);
    expect(checkReaderProgress([read(0, 0, 'a'), read(0, 2, 'c')], abc).ok).toBe(false);
    expect(checkReaderProgress([read(0, 3, 'd'), read(0, 2, 'c')], abc).ok).toBe(false);
    expect(checkReaderProgress([read(0, 3, 'd'), read(0, 3, 'd')], abc).ok).toBe(false);
    // Offsets the final log does not hold (a transaction marker, an aborted record under read_committed) are no skip.
    const withMarker: FinalLog = new Map([
      [
        0,
        new Map([
          [0, 'a'],
          [2, 'c'],
        ]),
      ],
    ]);
    expect(checkReaderProgress([read(0, 0, 'a'), read(0, 2, 'c')], withMarker).ok).toBe(true);
  });

  it('aborted read: a value of an aborted transaction seen under read_committed', () => {
    const txns: TxnOp[] = [
      { kind: 'txn', process: 1, type: 'ok', txn: 't1', values: ['a'], timeMs: 0 },
      { kind: 'txn', process: 1, type: 'fail', txn: 't2', values: ['b'], timeMs: 0 },
    ];
    const committedRead = (offset: number, value: string): ReadOp => ({ ...read(0, offset, value), readCommitted: true });
    expect(checkNoAbortedReads(txns, [committedRead(0, 'a')]).ok).toBe(true);
    const bad = checkNoAbortedReads(txns, [committedRead(0, 'a'), committedRead(1, 'b')]);
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]).toMatch(/aborted transaction t2/);
    // A read_uncommitted reader may see it.
    expect(checkNoAbortedReads(txns, [read(0, 0, 'a'), read(0, 1, 'b')]).ok).toBe(true);
  });

  it('transactions: a lost commit, a visible abort, a torn transaction', () => {
    const t = (type: TxnOp['type'], txn: string, values: string[], commitAttempt?: number): TxnOp => ({
      kind: 'txn',
      process: 0,
      type,
      txn,
      values,
      timeMs: 0,
      ...(commitAttempt !== undefined ? { commitAttempt } : {}),
    });
    const history = [
      ...[t('invoke', 'c', ['c0', 'c1']), t('invoke', 'c', ['c0', 'c1'], 0), t('ok', 'c', ['c0', 'c1'])],
      ...[t('invoke', 'x', ['x0']), t('fail', 'x', ['x0'])],
      ...[t('invoke', 'u', ['u0', 'u1']), t('invoke', 'u', ['u0', 'u1'], 0), t('invoke', 'u', ['u0', 'u1'], 1), t('info', 'u', ['u0', 'u1'])],
      ...[t('invoke', 'k', ['k0', 'k1']), t('invoke', 'k', ['k0', 'k1'], 0)],
      ...[t('invoke', 'z', ['z0']), t('info', 'z', ['z0'])],
    ];
    const good = checkTransactions(history, log('c0', 'c1', 'u0', 'u1'));
    expect(good).toMatchObject({
      ok: true,
      summary: '1 committed (0 answered after more than 1 s), 1 aborted, 3 unknown transactions; 1 commits retried by the application',
    });
    expect(checkTransactions(history, log('c0', 'c1', 'k0', 'k1')).ok).toBe(true); // a killed producer's transaction, wholly there
    expect(checkTransactions(history, log('c0', 'u0', 'u1')).problems).toEqual(['committed transaction c lost 1 of 2 values: c1']);
    expect(checkTransactions(history, log('c0', 'c1', 'x0')).problems).toEqual(['aborted transaction x is visible: x0']);
    expect(checkTransactions(history, log('c0', 'c1', 'u1')).problems).toEqual(['transaction u is torn: 1 of 2 values visible (u1)']);
    expect(checkTransactions(history, log('c0', 'c1', 'k0')).problems).toEqual(['transaction k is torn: 1 of 2 values visible (k0)']);
    // A zombie's transaction: its producer was fenced before it asked to commit.
    expect(checkTransactions(history, log('c0', 'c1', 'z0')).problems).toEqual(['transaction z is visible although its producer never asked to commit it: z0']);
  });

  it('copy: an input record lost, copied twice, invented, or out of order', () => {
    const input: FinalLog = new Map([
      [
        0,
        new Map([
          [0, 'a'],
          [1, 'b'],
          [2, 'c'],
        ]),
      ],
      [
        1,
        new Map([
          [0, 'x'],
          [1, 'y'],
        ]),
      ],
    ]);
    const out = (...parts: string[][]): FinalLog => new Map(parts.map((values, p) => [p, new Map(values.map((v, i) => [i, v]))]));
    // Partitions mixed in the output, each input partition's order kept.
    expect(checkCopy(input, out(['a', 'x', 'b'], ['y', 'c'])).ok).toBe(true);
    expect(checkCopy(input, out(['a', 'x', 'b'], ['y'])).problems).toEqual(['input c (0:2) is not in the output']);
    expect(checkCopy(input, out(['a', 'x', 'b', 'a'], ['y', 'c'])).problems).toEqual(['input a is in the output 2 times']);
    expect(checkCopy(input, out(['a', 'x', 'b', 'q'], ['y', 'c'])).problems).toEqual(['output holds q, which is not in the input']);
    expect(checkCopy(input, out(['b', 'a', 'x'], ['y', 'c'])).problems).toEqual(['output partition 0 has a (input 0:0) after input offset 1 of the same partition']);
  });

  describe('consumer groups', () => {
    const ev = (timeMs: number, member: string, event: GroupOp['event'], extra: Partial<GroupOp> = {}): GroupOp => ({ kind: 'group', member, event, timeMs, ...extra });
    const read = (timeMs: number, member: string, partition: number, offset: number) => ev(timeMs, member, 'read', { partition, offset, value: `v${partition}-${offset}` });

    it('single owner: a record handed to a member that gave the partition up, lost it, or was superseded', () => {
      const handover = [
        ev(0, 'm1', 'assigned', { partitions: [0, 1] }),
        read(1, 'm1', 0, 0),
        ev(2, 'm1', 'revoked', { partitions: [0] }),
        ev(3, 'm2', 'assigned', { partitions: [0] }),
        read(4, 'm2', 0, 1),
        read(5, 'm1', 1, 0),
      ];
      expect(checkGroupOwnership(handover).ok).toBe(true);
      // Events arrive out of order from different processes: the checker orders them by time.
      expect(checkGroupOwnership([...handover].reverse()).ok).toBe(true);
      // m1 was paused past its session: m2 got partition 0, and m1 (resumed) was handed a record before dropping it.
      const zombie = checkGroupOwnership([
        ev(0, 'm1', 'assigned', { partitions: [0] }),
        ev(10, 'm2', 'assigned', { partitions: [0] }),
        read(11, 'm2', 0, 5),
        read(12, 'm1', 0, 5),
        ev(13, 'm1', 'lost', { partitions: [0] }),
      ]);
      expect(zombie.ok).toBe(false);
      expect(zombie.problems[0]).toMatch(/m1 was handed v0-5 .* after m2 was given partition 0/);
      const afterRevoke = checkGroupOwnership([ev(0, 'm1', 'assigned', { partitions: [0] }), ev(1, 'm1', 'revoked', { partitions: [0] }), read(2, 'm1', 0, 3)]);
      expect(afterRevoke.problems[0]).toMatch(/without holding partition 0/);
      // Lost and given back to the same member: fine again.
      expect(checkGroupOwnership([ev(0, 'm1', 'assigned', { partitions: [0] }), ev(1, 'm1', 'lost', { partitions: [0] }), ev(2, 'm1', 'assigned', { partitions: [0] }), read(3, 'm1', 0, 0)]).ok).toBe(
        true,
      );
    });

    it('committed offsets: a commit or a read of the offsets below what was acknowledged before it', () => {
      const commit = (sentMs: number, timeMs: number, member: string, offsets: Record<number, number>) => ev(timeMs, member, 'committed', { sentMs, offsets });
      const observe = (timeMs: number, offsets: Record<number, number>) => ev(timeMs, 'observer', 'observed', { sentMs: timeMs, offsets });
      const good = [commit(0, 1, 'm1', { 0: 10 }), observe(2, { 0: 10 }), commit(3, 4, 'm2', { 0: 12 }), observe(3.5, { 0: 10 }), observe(5, { 0: 12 })];
      expect(checkCommittedOffsets(good).ok).toBe(true);
      const lostCommit = checkCommittedOffsets([commit(0, 1, 'm1', { 0: 10 }), observe(5, { 0: 7 })]);
      expect(lostCommit.problems[0]).toMatch(/read at 5.0 ms was 7, below 10 acknowledged to m1/);
      const wentBack = checkCommittedOffsets([observe(1, { 3: 10 }), observe(2, { 3: 9 })]);
      expect(wentBack.problems[0]).toMatch(/went back from 10/);
      const lowerCommit = checkCommittedOffsets([commit(0, 1, 'm1', { 0: 10 }), commit(2, 3, 'm2', { 0: 4 })]);
      expect(lowerCommit.problems[0]).toMatch(/m2 committed 4 for partition 0 .*below 10 that m1 had committed/);
      // Concurrent commits (the second sent before the first was acknowledged) are not ordered.
      expect(checkCommittedOffsets([commit(0, 3, 'm1', { 0: 10 }), commit(2, 4, 'm2', { 0: 4 })]).ok).toBe(true);
    });

    it('coverage: a record below the committed offset that no member was handed, or a group short of the end', () => {
      const final: FinalLog = new Map([
        [
          0,
          new Map([
            [0, 'a'],
            [1, 'b'],
            [2, 'c'],
          ]),
        ],
      ]);
      const ops = [ev(0, 'm1', 'assigned', { partitions: [0] }), read(1, 'm1', 0, 0), read(1, 'm1', 0, 1), read(1, 'm1', 0, 2)];
      expect(checkGroupCoverage(ops, final, new Map([[0, 3]])).ok).toBe(true);
      const skipped = checkGroupCoverage(
        ops.filter((o) => o.offset !== 1),
        final,
        new Map([[0, 3]]),
      );
      expect(skipped.problems).toEqual(['b (partition 0 offset 1) is below the committed offset 3 but no member was handed it']);
      expect(checkGroupCoverage(ops, final, new Map([[0, 2]])).problems[0]).toMatch(/committed 2, short of the log end 3/);
      expect(checkGroupCoverage(ops, final, new Map()).problems[0]).toMatch(/committed nothing/);
    });
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
