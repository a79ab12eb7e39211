import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, StickyPartitioner } from '../../../src/client/partitioner';

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

  it('sticky partitioner stays on one partition until its batch closes, then moves', () => {
    const s = new StickyPartitioner();
    const first = s.partition('t', 4);
    expect(s.partition('t', 4)).toBe(first);
    s.onBatchClosed('t', first, 4);
    expect(s.partition('t', 4)).not.toBe(first);
  });
});
