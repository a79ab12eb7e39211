import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, StickyPartitioner } from '../../../src/client/partitioner';
import { SeededRandom } from '../../../src/common/random';

describe('partitioner', () => {
  it('matches Kafka murmur2 for known keys, so keys land where Kafka would put them', () => {
    const expected: Record<string, number> = {
      '0': 971027396,
      '1': -1993445489,
      '128': -326012175,
      '2187': -1508407203,
      '16384': -325739742,
      '78125': -1654490814,
      '279936': 1462227128,
      '823543': -2014198330,
      '2097152': 607668903,
      '4782969': -1182699775,
      '10000000': -1830336757,
      '100:48069': 1009543857,
    };
    for (const [k, v] of Object.entries(expected)) expect(murmur2(Buffer.from(k))).toBe(v);
    expect(partitionForKey(Buffer.from('1'), 3)).toBe((-1993445489 & 0x7fffffff) % 3);
  });

  it('sticky partitioner stays on one partition until batch-size bytes went to it, then moves to another', () => {
    const rnd = new SeededRandom(7);
    const s = new StickyPartitioner(1000, () => rnd.next());
    const first = s.partition('t', 4);
    for (let i = 0; i < 9; i++) {
      expect(s.partition('t', 4)).toBe(first);
      s.onAppended('t', first, 100, false, 4);
    }
    expect(s.partition('t', 4)).toBe(first);
    s.onAppended('t', first, 100, false, 4);
    expect(s.partition('t', 4)).not.toBe(first);
  });

  it('sticky partitioner moves at once when the append filled its batch', () => {
    const s = new StickyPartitioner(1_000_000);
    const first = s.partition('t', 4);
    s.onAppended('t', first, 10, true, 4);
    expect(s.partition('t', 4)).not.toBe(first);
  });

  it('sticky partitioner: slow sends, whose batches leave long before they are full, still reach every partition evenly', () => {
    const rnd = new SeededRandom(11);
    const s = new StickyPartitioner(1000, () => rnd.next());
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) {
      const p = s.partition('t', 3);
      counts[p]!++;
      s.onAppended('t', p, 100, false, 3);
    }
    for (const c of counts) expect(c).toBeGreaterThan(8_000);
  });

  it('sticky partitioner prefers partitions with a leader, and falls back to any when none has one', () => {
    const rnd = new SeededRandom(3);
    let leaderless = new Set([0, 2, 3]);
    const s = new StickyPartitioner(
      100,
      () => rnd.next(),
      (_t, p) => !leaderless.has(p),
    );
    expect(s.partition('t', 4)).toBe(1);
    const seen = new Set<number>();
    leaderless = new Set([1, 3]);
    for (let i = 0; i < 50; i++) {
      const p = s.partition('t', 4);
      seen.add(p);
      s.onAppended('t', p, 100, false, 4);
    }
    expect([...seen].sort()).toEqual([0, 1, 2]);
    leaderless = new Set([0, 1, 2, 3]);
    const before = s.partition('t', 4);
    s.onAppended('t', before, 100, false, 4);
    expect(s.partition('t', 4)).not.toBe(before);
  });
});
