/** What retention looks at in a segment. */
export interface SegmentFacts {
  readonly baseOffset: number;
  readonly size: number;
  /** The largest record timestamp in the segment, -1 when it has none. */
  readonly maxTimestamp: number;
}

export type RetentionReason = 'log-start' | 'retention.ms' | 'retention.bytes';

export interface RetentionLimits {
  /** -1: no time limit. */
  retentionMs: number;
  /** -1: no size limit. */
  retentionBytes: number;
  highWatermark: number;
  logStartOffset: number;
  nowMs: number;
}

/** Whether a segment's newest record is older than `retentionMs` at `nowMs`. */
export function expiredByTime(s: SegmentFacts, retentionMs: number, nowMs: number): boolean {
  return retentionMs >= 0 && s.maxTimestamp >= 0 && nowMs - s.maxTimestamp > retentionMs;
}

/**
 * Which of the oldest segments retention deletes, oldest first, each with the reason (a pure
 * decision; PartitionLog deletes). A segment goes when the log start has passed it, when it has
 * expired, or while the log is over `retentionBytes` by at least its size. Deletion stops at the
 * first segment that stays, never takes the last (active) segment, and never takes one whose
 * successor starts above the high watermark: records not yet committed are never deleted.
 */
export function retentionPlan(segments: readonly SegmentFacts[], o: RetentionLimits): RetentionReason[] {
  let excess = 0;
  if (o.retentionBytes >= 0) {
    for (const s of segments) excess += s.size;
    excess -= o.retentionBytes;
  }
  const plan: RetentionReason[] = [];
  for (let i = 0; i + 1 < segments.length; i++) {
    const oldest = segments[i]!;
    const next = segments[i + 1]!;
    if (next.baseOffset > o.highWatermark) break;
    const byStart = next.baseOffset <= o.logStartOffset;
    const byTime = expiredByTime(oldest, o.retentionMs, o.nowMs);
    const bySize = excess > 0 && excess >= oldest.size;
    if (!byStart && !byTime && !bySize) break;
    excess -= oldest.size;
    plan.push(byStart ? 'log-start' : byTime ? 'retention.ms' : 'retention.bytes');
  }
  return plan;
}
