import { performance } from 'node:perf_hooks';
import type { Admin } from '../src/client/admin';
import type { FinalLog } from './checkers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each partition's end in a drained log (one past its last offset; 0 when empty). */
export function logEnds(log: FinalLog): Map<number, number> {
  return new Map([...log].map(([p, records]) => [p, records.size === 0 ? 0 : Math.max(...records.keys()) + 1]));
}

/** `group`'s committed offsets of `topic` now, partition → offset, those without one left out (null when no coordinator answers). */
export async function committedOffsets(admin: Admin, group: string, topic: string): Promise<Map<number, number> | null> {
  try {
    return new Map((await admin.groups.fetchOffsets(group)).filter((o) => o.topic === topic && o.offset >= 0).map((o) => [o.partition, o.offset]));
  } catch {
    return null;
  }
}

/**
 * Waits until `group` has committed `ends` (partition → log end) of `topic` or `timeoutMs` passes,
 * calling `eachRound` before each look; returns the last offsets seen.
 */
export async function waitCommitted(admin: Admin, group: string, topic: string, ends: Map<number, number>, timeoutMs: number, eachRound: () => void = () => undefined): Promise<Map<number, number>> {
  const deadline = performance.now() + timeoutMs;
  let last = new Map<number, number>();
  while (performance.now() < deadline) {
    eachRound();
    last = (await committedOffsets(admin, group, topic)) ?? last;
    if ([...ends].every(([p, end]) => (last.get(p) ?? 0) >= end)) break;
    await sleep(500);
  }
  return last;
}
