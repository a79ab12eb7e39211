import { describe, expect, it } from 'vitest';
import { LeaderState } from '../../src/replication/leader-state';
import { REAL_RULES, type ReplicationRules, simulateReplication } from './replication-simulation';

const HARSH = { crashProbability: 0.4, crashAllProbability: 0.1, partitionProbability: 0.4, dropProbability: 0.08, maxDelayMs: 30, maxFsyncMs: 20 };
const SEEDS = Number(process.env.CAIRN_REPLICATION_SEEDS ?? 300);

function failing(seeds: number[], opts: Parameters<typeof simulateReplication>[1] = {}): string[] {
  const out: string[] = [];
  for (const seed of seeds) {
    const r = simulateReplication(seed, opts);
    if (r.violations.length > 0) out.push(r.violations[0]!);
  }
  return out;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('replication simulation (crashes lose un-fsynced data; partitions; delays; drops)', () => {
  it(`keeps every acknowledged record and agreeing replicas over ${SEEDS} seeds`, () => {
    expect(failing(range(1, SEEDS))).toEqual([]);
  });

  it(`holds under harsher faults over ${Math.floor(SEEDS / 2)} seeds`, () => {
    expect(failing(range(10_001, Math.floor(SEEDS / 2)), { faults: HARSH })).toEqual([]);
  });

  it('acknowledges writes (the checks are not vacuous)', () => {
    const r = simulateReplication(7);
    expect(r.acked).toBeGreaterThan(500);
    expect(r.violations).toEqual([]);
  });
});

describe('the checker catches broken replication', () => {
  it('catches a leader that acknowledges before its followers have the records (acks=all acting as acks=1)', () => {
    // (Counting fetched instead of fsynced offsets is harmless here by design: a follower fetches
    // again only after its fsync, so both are equal. This bug is the one that loses data.)
    class TrustsFollowers extends LeaderState {
      override updateFollower(id: number, _fetchOffset: number, _durable: number, leaderEnd: number, nowMs: number) {
        return super.updateFollower(id, leaderEnd, leaderEnd, leaderEnd, nowMs);
      }
    }
    const rules: ReplicationRules = { ...REAL_RULES, makeLeaderState: (...a) => new TrustsFollowers(...a) };
    const found = failing(range(1, 100), { rules });
    expect(found.length).toBeGreaterThan(0);
  });

  it('catches a follower that truncates to its high watermark instead of by leader epoch (the KIP-101 bug)', () => {
    const rules: ReplicationRules = { ...REAL_RULES, truncation: (log) => ({ kind: 'truncate', offset: log.logEndOffset }) };
    const found = failing(range(1, 100), { rules });
    expect(found.length).toBeGreaterThan(0);
  });
});
