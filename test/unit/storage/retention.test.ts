import { describe, expect, it } from 'vitest';
import { SeededRandom, type Random } from '../../../src/common';
import { retentionPlan, type RetentionLimits, type SegmentFacts } from '../../../src/storage/retention';

/** Segments of random sizes and ages, contiguous offsets; some without timestamps. */
function randomLog(r: Random): { segments: SegmentFacts[]; limits: RetentionLimits } {
  const n = r.int(1, 8);
  const segments: SegmentFacts[] = [];
  let base = r.int(0, 1000);
  for (let i = 0; i < n; i++) {
    segments.push({ baseOffset: base, size: r.int(0, 500), maxTimestamp: r.bool(0.1) ? -1 : r.int(0, 10_000) });
    base += r.int(1, 100);
  }
  const end = base;
  const first = segments[0]!.baseOffset;
  return {
    segments,
    limits: {
      retentionMs: r.bool(0.3) ? -1 : r.int(0, 10_000),
      retentionBytes: r.bool(0.3) ? -1 : r.int(0, 3000),
      highWatermark: r.int(first, end),
      logStartOffset: r.int(first, end),
      nowMs: r.int(0, 20_000),
    },
  };
}

describe('retentionPlan', () => {
  it('names the reason of each deleted segment: the log start first, then time, then size', () => {
    const segments = [
      { baseOffset: 0, size: 100, maxTimestamp: 10_000 },
      { baseOffset: 10, size: 100, maxTimestamp: 1_000 },
      { baseOffset: 20, size: 100, maxTimestamp: 10_000 },
      { baseOffset: 30, size: 100, maxTimestamp: 10_000 },
      { baseOffset: 40, size: 100, maxTimestamp: 10_000 },
    ];
    const plan = retentionPlan(segments, { retentionMs: 5_000, retentionBytes: 150, highWatermark: 45, logStartOffset: 10, nowMs: 10_000 });
    expect(plan).toEqual(['log-start', 'retention.ms', 'retention.bytes']);
  });

  it('never deletes the active segment, nor one whose successor starts above the high watermark', () => {
    const segments = [
      { baseOffset: 0, size: 100, maxTimestamp: 0 },
      { baseOffset: 10, size: 100, maxTimestamp: 0 },
    ];
    expect(retentionPlan(segments, { retentionMs: 1, retentionBytes: 0, highWatermark: 20, logStartOffset: 20, nowMs: 10_000 })).toEqual(['log-start']);
    expect(retentionPlan(segments, { retentionMs: 1, retentionBytes: 0, highWatermark: 9, logStartOffset: 0, nowMs: 10_000 })).toEqual([]);
  });

  // The plan is exactly the longest run of oldest segments that may and must go: each deleted one
  // is deletable, the first one kept is not (or is protected), and nothing after it goes.
  it('deletes exactly the oldest run that the limits call for (2,000 seeded logs)', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const r = new SeededRandom(seed);
      const { segments, limits } = randomLog(r);
      const plan = retentionPlan(segments, limits);
      const expired = (s: SegmentFacts) => limits.retentionMs >= 0 && s.maxTimestamp >= 0 && limits.nowMs - s.maxTimestamp > limits.retentionMs;
      let total = segments.reduce((n, s) => n + s.size, 0);
      const over = (s: SegmentFacts) => limits.retentionBytes >= 0 && total - limits.retentionBytes > 0 && total - limits.retentionBytes >= s.size;
      const context = `seed ${seed}: ${JSON.stringify({ segments, limits, plan })}`;
      expect(plan.length, context).toBeLessThan(segments.length);
      for (let i = 0; i < plan.length; i++) {
        const s = segments[i]!;
        const next = segments[i + 1]!;
        expect(next.baseOffset, context).toBeLessThanOrEqual(limits.highWatermark);
        const reason = next.baseOffset <= limits.logStartOffset ? 'log-start' : expired(s) ? 'retention.ms' : over(s) ? 'retention.bytes' : null;
        expect(plan[i], context).toBe(reason);
        total -= s.size;
      }
      const kept = plan.length;
      if (kept + 1 < segments.length && segments[kept + 1]!.baseOffset <= limits.highWatermark) {
        const s = segments[kept]!;
        expect(segments[kept + 1]!.baseOffset <= limits.logStartOffset || expired(s) || over(s), context).toBe(false);
      }
    }
  });
});
