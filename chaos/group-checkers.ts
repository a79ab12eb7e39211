/**
 * Checkers for consumer groups (reliability.md row 21), over the members' events and the
 * observer's reads of the committed offsets (chaos/group-workload.ts). Times are on the history's
 * clock, taken by each process from the machine's monotonic clock.
 */
import type { CheckResult, FinalLog } from './checkers';
import type { GroupOp } from './history';

const MAX_PROBLEMS = 20;

function result(checker: string, problems: string[], summary: string): CheckResult {
  return { checker, ok: problems.length === 0, summary, problems: problems.slice(0, MAX_PROBLEMS) };
}

const byTime = (ops: readonly GroupOp[]) => [...ops].sort((a, b) => a.timeMs - b.timeMs);
const ms = (t: number) => `${t.toFixed(1)} ms`;

/**
 * One owner per partition at every moment, as the application sees it: a member is handed a
 * partition's records only while it holds the partition (from `assigned` to its `revoked` or
 * `lost`) and no other member has been given the partition since. A member paused past its session
 * may still believe it holds a partition that has moved on; it must drop it before it is handed
 * another record of it (docs/groups.md, member rule 5), which is what this checks.
 */
export function checkGroupOwnership(ops: readonly GroupOp[]): CheckResult {
  const problems: string[] = [];
  const holds = new Map<string, Set<number>>(); // member → partitions it holds
  const latest = new Map<number, { member: string; at: number }>(); // partition → latest assignment
  let reads = 0;
  let handovers = 0;
  for (const op of byTime(ops)) {
    const held = holds.get(op.member) ?? new Set<number>();
    holds.set(op.member, held);
    switch (op.event) {
      case 'assigned':
        for (const p of op.partitions ?? []) {
          const prev = latest.get(p);
          if (prev && prev.member !== op.member) handovers++;
          latest.set(p, { member: op.member, at: op.timeMs });
          held.add(p);
        }
        break;
      case 'revoked':
      case 'lost':
        for (const p of op.partitions ?? []) held.delete(p);
        break;
      case 'read': {
        reads++;
        const p = op.partition!;
        const last = latest.get(p);
        if (!held.has(p)) problems.push(`${op.member} was handed ${op.value} (partition ${p} offset ${op.offset}) at ${ms(op.timeMs)} without holding partition ${p}`);
        else if (last && last.member !== op.member)
          problems.push(`${op.member} was handed ${op.value} (partition ${p} offset ${op.offset}) at ${ms(op.timeMs)}, after ${last.member} was given partition ${p} at ${ms(last.at)}`);
        break;
      }
      default:
        break;
    }
  }
  return result('group-single-owner', problems, `${reads} records handed out, ${handovers} partition handovers`);
}

/**
 * Committed offsets never go back: a commit sent after another was acknowledged is not below it,
 * and every read of the group's offsets (the observer's, which goes on through coordinator kills
 * and pauses) is at least what was acknowledged before it was asked, and at least what the
 * previous read returned.
 */
export function checkCommittedOffsets(ops: readonly GroupOp[]): CheckResult {
  const problems: string[] = [];
  const acked = new Map<number, { offset: number; at: number; member: string }[]>();
  const observed = new Map<number, { offset: number; at: number }>();
  let commits = 0;
  let observations = 0;
  const sorted = byTime(ops.filter((o) => o.event === 'committed' || o.event === 'observed'));
  for (const op of sorted) {
    for (const [key, offset] of Object.entries(op.offsets ?? {})) {
      const p = Number(key);
      const before = (acked.get(p) ?? []).filter((a) => a.at < (op.sentMs ?? op.timeMs));
      const highest = before.reduce<{ offset: number; at: number; member: string } | null>((m, a) => (m === null || a.offset > m.offset ? a : m), null);
      if (op.event === 'committed') {
        commits++;
        if (highest && offset < highest.offset)
          problems.push(`${op.member} committed ${offset} for partition ${p} (sent at ${ms(op.sentMs!)}), below ${highest.offset} that ${highest.member} had committed at ${ms(highest.at)}`);
        acked.set(p, [...(acked.get(p) ?? []), { offset, at: op.timeMs, member: op.member }]);
      } else {
        observations++;
        if (highest && offset < highest.offset)
          problems.push(`partition ${p}: the group's committed offset read at ${ms(op.timeMs)} was ${offset}, below ${highest.offset} acknowledged to ${highest.member} at ${ms(highest.at)}`);
        const prev = observed.get(p);
        if (prev && offset < prev.offset) problems.push(`partition ${p}: the group's committed offset went back from ${prev.offset} (read at ${ms(prev.at)}) to ${offset} (read at ${ms(op.timeMs)})`);
        observed.set(p, { offset, at: op.timeMs });
      }
    }
  }
  return result('committed-offsets', problems, `${commits} acknowledged commits, ${observations} reads of the committed offsets`);
}

/**
 * Nothing skipped, nothing stuck: after the heal the group committed every partition's end, and
 * every record below its partition's committed offset was handed to some member (committing
 * after processing gives at least once).
 */
export function checkGroupCoverage(ops: readonly GroupOp[], final: FinalLog, committed: ReadonlyMap<number, number>): CheckResult {
  const problems: string[] = [];
  const handed = new Set<string>();
  for (const op of ops) if (op.event === 'read') handed.add(`${op.partition}:${op.offset}`);
  let covered = 0;
  let missing = 0;
  for (const [p, log] of [...final].sort((a, b) => a[0] - b[0])) {
    const end = log.size === 0 ? 0 : Math.max(...log.keys()) + 1;
    const upTo = committed.get(p) ?? -1;
    if (upTo < end) problems.push(`partition ${p}: the group committed ${upTo < 0 ? 'nothing' : upTo}, short of the log end ${end}`);
    for (const [offset, value] of log) {
      if (offset >= upTo) continue;
      covered++;
      if (handed.has(`${p}:${offset}`)) continue;
      missing++;
      problems.push(`${value} (partition ${p} offset ${offset}) is below the committed offset ${upTo} but no member was handed it`);
    }
  }
  return result('group-coverage', problems, `${covered} records below the committed offsets, ${missing} of them never handed to a member`);
}
