import { checkCommittedOffsets, checkGroupOwnership } from './group-checkers';
import type { History, ReadOp, SendOp, TxnOp } from './history';

/** What the cluster holds after the drain: partition → offset → value. */
export type FinalLog = Map<number, Map<number, string>>;

export interface CheckResult {
  checker: string;
  ok: boolean;
  /** A short count or description of what was checked. */
  summary: string;
  /** The first few problems, each a sentence with the values that broke it. */
  problems: string[];
  /** Reported but not failing (e.g. duplicates where nothing promises idempotence). */
  warning?: boolean;
}

const MAX_PROBLEMS = 20;

function result(checker: string, problems: string[], summary: string, warning = false): CheckResult {
  return { checker, ok: problems.length === 0 || warning, summary, problems: problems.slice(0, MAX_PROBLEMS), ...(warning && problems.length > 0 ? { warning: true } : {}) };
}

/** Where each value ended up (every occurrence). */
function locations(final: FinalLog): Map<string, { partition: number; offset: number }[]> {
  const out = new Map<string, { partition: number; offset: number }[]>();
  for (const [partition, log] of final) {
    for (const [offset, value] of log) {
      const list = out.get(value) ?? [];
      list.push({ partition, offset });
      out.set(value, list);
    }
  }
  return out;
}

/** Every acknowledged write is there after the drain, at the offset it was acknowledged with. */
export function checkLostWrites(sends: readonly SendOp[], final: FinalLog): CheckResult {
  const problems: string[] = [];
  let acked = 0;
  for (const op of sends) {
    if (op.type !== 'ok') continue;
    acked++;
    const got = final.get(op.partition!)?.get(op.offset!);
    if (got !== op.value) problems.push(`acknowledged ${op.value} at ${op.partition}:${op.offset} is lost (found ${got ?? 'nothing'})`);
  }
  return result('lost-write', problems, `${acked} acknowledged writes`);
}

/** A write that definitely failed must not be there. */
export function checkFailedAbsent(sends: readonly SendOp[], final: FinalLog): CheckResult {
  const where = locations(final);
  const problems = sends.filter((o) => o.type === 'fail' && where.has(o.value)).map((o) => `${o.value} failed definitely (${o.error}) but is at ${JSON.stringify(where.get(o.value))}`);
  return result('failed-absent', problems, `${sends.filter((o) => o.type === 'fail').length} definite failures`);
}

/** No value twice. Fails where idempotence or transactions promise it; a warning otherwise. */
export function checkDuplicates(final: FinalLog, strict: boolean): CheckResult {
  const problems: string[] = [];
  for (const [value, at] of locations(final)) if (at.length > 1) problems.push(`${value} appears ${at.length} times: ${at.map((a) => `${a.partition}:${a.offset}`).join(', ')}`);
  return result('duplicate', problems, `${[...final.values()].reduce((n, l) => n + l.size, 0)} records`, !strict);
}

/** Every reader (and the drain) saw the same value at each offset. */
export function checkOffsetConsistency(reads: readonly ReadOp[], final: FinalLog): CheckResult {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const [p, log] of final) for (const [o, v] of log) seen.set(`${p}:${o}`, v);
  for (const r of reads) {
    const key = `${r.partition}:${r.offset}`;
    const v = seen.get(key);
    if (v === undefined) seen.set(key, r.value);
    else if (v !== r.value) problems.push(`offset ${key} held ${v} for one reader and ${r.value} for reader ${r.process}`);
  }
  return result('offset-consistency', problems, `${reads.length} reads`);
}

/**
 * One producer's records in one partition keep its send order (first occurrences: a retried batch
 * written twice repeats earlier values, which the duplicate checker reports).
 */
export function checkProducerOrder(sends: readonly SendOp[], final: FinalLog): CheckResult {
  const seqOf = new Map<string, { process: number; seq: number }>();
  for (const s of sends) if (s.type === 'invoke') seqOf.set(s.value, { process: s.process, seq: s.seq });
  const problems: string[] = [];
  for (const [partition, log] of final) {
    const lastSeq = new Map<number, number>();
    const firstSeen = new Set<string>();
    for (const offset of [...log.keys()].sort((a, b) => a - b)) {
      const value = log.get(offset)!;
      if (firstSeen.has(value)) continue;
      firstSeen.add(value);
      const s = seqOf.get(value);
      if (!s) continue;
      const last = lastSeq.get(s.process) ?? -1;
      if (s.seq < last) problems.push(`producer ${s.process}: ${value} (seq ${s.seq}) is at ${partition}:${offset}, after seq ${last}`);
      lastSeq.set(s.process, Math.max(last, s.seq));
    }
  }
  return result('producer-order', problems, `${final.size} partitions`);
}

/**
 * A consumer's polls within a session neither skip a record nor go back. A gap is a skip only where
 * the final log holds a record: transaction markers take offsets no reader is handed, and a
 * read_committed reader passes over aborted records.
 */
export function checkReaderProgress(reads: readonly ReadOp[], final: FinalLog): CheckResult {
  const last = new Map<string, number>();
  const problems: string[] = [];
  for (const r of reads) {
    const key = `${r.process}/${r.session}/${r.partition}`;
    const prev = last.get(key);
    if (prev !== undefined) {
      const log = final.get(r.partition);
      let skipped = -1;
      for (let o = prev + 1; o < r.offset && skipped < 0; o++) if (log?.has(o)) skipped = o;
      if (r.offset <= prev || skipped >= 0)
        problems.push(`reader ${r.process} on partition ${r.partition} went from offset ${prev} to ${r.offset}${skipped >= 0 ? `, past ${skipped} (${log!.get(skipped)})` : ''}`);
    }
    last.set(key, r.offset);
  }
  return result('reader-progress', problems, `${reads.length} reads`);
}

/** Under read_committed, no value of an aborted transaction is ever read (read_uncommitted readers are not asked). */
export function checkNoAbortedReads(txns: readonly TxnOp[], allReads: readonly ReadOp[]): CheckResult {
  const reads = allReads.filter((r) => r.readCommitted === true);
  const committed = new Set<string>();
  const notCommitted = new Map<string, string>();
  for (const t of txns) {
    if (t.type === 'ok') for (const v of t.values) committed.add(v);
    else if (t.type === 'fail') for (const v of t.values) notCommitted.set(v, t.txn);
  }
  const problems = reads
    .filter((r) => notCommitted.has(r.value) && !committed.has(r.value))
    .map((r) => `read ${r.value} of aborted transaction ${notCommitted.get(r.value)} at ${r.partition}:${r.offset}`);
  return result('aborted-read', problems, `${new Set(txns.map((t) => t.txn)).size} transactions, ${reads.length} read_committed reads`);
}

/**
 * A consume-transform-produce job's output equals its input exactly once (reliability.md row 20):
 * every input value once in the output, nothing else there, and in order: the values one input
 * partition sent to one output partition keep their input order (which keeps each key's order, a
 * key having one partition on each side).
 */
export function checkCopy(input: FinalLog, output: FinalLog): CheckResult {
  const from = new Map<string, { partition: number; offset: number }>();
  for (const [partition, log] of input) for (const [offset, value] of log) from.set(value, { partition, offset });
  const problems: string[] = [];
  const copies = locations(output);
  for (const [value, at] of from) {
    const n = copies.get(value)?.length ?? 0;
    if (n !== 1) problems.push(n === 0 ? `input ${value} (${at.partition}:${at.offset}) is not in the output` : `input ${value} is in the output ${n} times`);
  }
  for (const value of copies.keys()) if (!from.has(value)) problems.push(`output holds ${value}, which is not in the input`);
  const placed = new Set<string>(); // first copies only: a second is reported above
  for (const [q, log] of output) {
    const last = new Map<number, number>();
    for (const offset of [...log.keys()].sort((a, b) => a - b)) {
      const value = log.get(offset)!;
      const src = from.get(value);
      if (!src || placed.has(value)) continue;
      placed.add(value);
      const prev = last.get(src.partition) ?? -1;
      if (src.offset < prev) problems.push(`output partition ${q} has ${log.get(offset)} (input ${src.partition}:${src.offset}) after input offset ${prev} of the same partition`);
      last.set(src.partition, Math.max(prev, src.offset));
    }
  }
  return result('copy-exactly-once', problems, `${from.size} input records, ${[...output.values()].reduce((n, l) => n + l.size, 0)} output records`);
}

/** A commit answered later than this went through a coordinator failover, a slow link or a pause: counted in the summary. */
const SLOW_COMMIT_MS = 1_000;

/**
 * Transactions are all or nothing in the final (read_committed) log (reliability.md rows 15-18):
 * every value of a committed one is there (no lost commit), none of an aborted one, none of one
 * whose producer never asked to commit (a zombie's, a paused or killed producer's: only a timeout
 * or a fencing could end it, and both abort), and one whose outcome is unknown is wholly there or
 * wholly absent (no torn transaction).
 */
export function checkTransactions(txns: readonly TxnOp[], final: FinalLog): CheckResult {
  const where = locations(final);
  const outcome = new Map<string, TxnOp>();
  const commitAsked = new Map<string, number>();
  let retries = 0;
  let slowCommits = 0;
  for (const t of txns) {
    if (t.commitAttempt !== undefined) {
      if (!commitAsked.has(t.txn)) commitAsked.set(t.txn, t.timeMs);
      if (t.commitAttempt > 0) retries++;
    } else if (t.type !== 'invoke' || !outcome.has(t.txn)) {
      outcome.set(t.txn, t);
      if (t.type === 'ok' && t.timeMs - (commitAsked.get(t.txn) ?? t.timeMs) > SLOW_COMMIT_MS) slowCommits++;
    }
  }
  const problems: string[] = [];
  const count = { ok: 0, fail: 0, unknown: 0 };
  for (const t of outcome.values()) {
    const present = t.values.filter((v) => where.has(v));
    const missing = t.values.filter((v) => !where.has(v));
    if (t.type === 'ok') {
      count.ok++;
      if (missing.length > 0) problems.push(`committed transaction ${t.txn} lost ${missing.length} of ${t.values.length} values: ${missing.join(', ')}`);
    } else if (t.type === 'fail') {
      count.fail++;
      if (present.length > 0) problems.push(`aborted transaction ${t.txn} is visible: ${present.join(', ')}`);
    } else {
      count.unknown++;
      if (present.length > 0 && !commitAsked.has(t.txn)) problems.push(`transaction ${t.txn} is visible although its producer never asked to commit it: ${present.join(', ')}`);
      else if (present.length > 0 && missing.length > 0) problems.push(`transaction ${t.txn} is torn: ${present.length} of ${t.values.length} values visible (${present.join(', ')})`);
    }
  }
  return result(
    'transactions',
    problems,
    `${count.ok} committed (${slowCommits} answered after more than ${SLOW_COMMIT_MS / 1000} s), ${count.fail} aborted, ${count.unknown} unknown transactions; ${retries} commits retried by the application`,
  );
}

/** The cluster took writes again within `boundMs` of the faults healing. */
export function checkRecovery(sends: readonly SendOp[], healedAtMs: number, boundMs: number): CheckResult {
  const first = sends.find((s) => s.type === 'ok' && s.timeMs >= healedAtMs);
  const took = first ? first.timeMs - healedAtMs : Infinity;
  const problems = took <= boundMs ? [] : [first ? `first write after the heal succeeded after ${took} ms, above the ${boundMs} ms bound` : 'no write succeeded after the heal'];
  return result('recovery', problems, first ? `writes resumed ${took} ms after the heal` : 'no write after the heal');
}

/**
 * Every send was acknowledged: none failed and none ended with an unknown outcome. Only where the
 * faults are ones a client must ride out with retries alone (the rolling restart of
 * docs/operations.md).
 */
export function checkNoClientErrors(sends: readonly SendOp[]): CheckResult {
  const bad = sends.filter((o) => o.type === 'fail' || o.type === 'info');
  const problems = bad.slice(0, 20).map((o) => `${o.value}: ${o.type === 'fail' ? 'failed' : 'outcome unknown'} (${o.error ?? 'no error'})`);
  if (bad.length > problems.length) problems.push(`... and ${bad.length - problems.length} more`);
  return result('no-client-errors', problems, `${sends.filter((o) => o.type === 'ok').length} sends acknowledged, ${bad.length} not`);
}

/** All checkers that apply to a produce/consume history. */
export function checkAll(history: History, final: FinalLog, opts: { strictDuplicates: boolean; healedAtMs: number; recoveryBoundMs: number }): CheckResult[] {
  const sends = history.sends();
  const reads = history.reads();
  const txns = history.txnOps();
  const group = history.groupOps();
  const out = [
    checkLostWrites(sends, final),
    checkFailedAbsent(sends, final),
    checkDuplicates(final, opts.strictDuplicates),
    checkOffsetConsistency(reads, final),
    checkProducerOrder(sends, final),
    checkReaderProgress(reads, final),
    checkRecovery(sends, opts.healedAtMs, opts.recoveryBoundMs),
  ];
  if (txns.length > 0) out.push(checkNoAbortedReads(txns, reads), checkTransactions(txns, final));
  if (group.length > 0) out.push(checkGroupOwnership(group), checkCommittedOffsets(group));
  return out;
}

/** One replica's bytes of a partition below the drained end (chaos/verify.ts reads them from disk). */
export interface ReplicaCopy {
  partition: number;
  /** The drained end: copies are compared below this offset. */
  end: number;
  node: number;
  bytes: Buffer;
}

/** Replicas of each partition agree, byte for byte, below the end the drain reached (reliability.md row 6). */
export function checkReplicasAgree(copies: readonly ReplicaCopy[]): CheckResult {
  const byPartition = new Map<number, ReplicaCopy[]>();
  for (const c of copies) byPartition.set(c.partition, [...(byPartition.get(c.partition) ?? []), c]);
  const problems: string[] = [];
  for (const [partition, list] of [...byPartition].sort((a, b) => a[0] - b[0])) {
    const ref = list[0]!;
    for (const c of list.slice(1)) {
      if (c.bytes.equals(ref.bytes)) continue;
      let at = 0;
      while (at < Math.min(c.bytes.length, ref.bytes.length) && c.bytes[at] === ref.bytes[at]) at++;
      problems.push(`partition ${partition}: node ${c.node} (${c.bytes.length} bytes) differs from node ${ref.node} (${ref.bytes.length} bytes) below offset ${ref.end}, first at byte ${at}`);
    }
  }
  return result('replicas-agree', problems, `${byPartition.size} partitions, ${copies.length} replicas compared on disk`);
}

/** One controller's metadata image: the offset it has applied and the image's digest there. */
export interface ControllerImage {
  node: number;
  /** null: the node did not answer. */
  offset: number | null;
  digest: string;
}

/**
 * Every controller replayed the same metadata (reliability.md row 22): two digests at one offset
 * are a divergence; different offsets (or a silent node) at the end of the wait mean no convergence.
 */
export function checkControllersAgree(images: readonly ControllerImage[]): CheckResult {
  const problems: string[] = [];
  const byOffset = new Map<number, ControllerImage[]>();
  for (const i of images) if (i.offset !== null) byOffset.set(i.offset, [...(byOffset.get(i.offset) ?? []), i]);
  for (const [offset, list] of byOffset) {
    if (new Set(list.map((i) => i.digest)).size > 1)
      problems.push(`controllers diverged at metadata offset ${offset}: ${list.map((i) => `node ${i.node} digest ${i.digest.slice(0, 12)}`).join(', ')}`);
  }
  const silent = images.filter((i) => i.offset === null).map((i) => i.node);
  if (silent.length > 0) problems.push(`controllers ${silent.join(',')} did not answer`);
  else if (byOffset.size > 1) problems.push(`controllers did not converge on one metadata offset: ${images.map((i) => `node ${i.node} at ${i.offset}`).join(', ')}`);
  const summary = images.map((i) => `node ${i.node}: ${i.offset === null ? 'no answer' : `offset ${i.offset} digest ${i.digest.slice(0, 12)}`}`).join('; ');
  return result('controllers-agree', problems, summary);
}
