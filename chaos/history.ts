/**
 * Everything the workloads did, as Jepsen records it (reliability.md "How a run works"): an
 * operation is invoked, then completes as `ok`, `fail` (it certainly did not happen) or `info`
 * (outcome unknown: a timeout, a dropped connection, NOT_LEADER_OR_FOLLOWER after the send). Checkers read the
 * history and the final state; they never trust the workload's own view.
 */
import { performance } from 'node:perf_hooks';

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

export interface SendOp {
  kind: 'send';
  process: number;
  type: OpType;
  value: string;
  /** The producer's send sequence for this value (per process). */
  seq: number;
  partition?: number;
  offset?: number;
  error?: string;
  timeMs: number;
}

/** One record a reader saw, in the order it saw them. */
export interface ReadOp {
  kind: 'read';
  process: number;
  /** A reader restarts its session after errors or seeks; order is checked within a session. */
  session: number;
  partition: number;
  offset: number;
  value: string;
  /** Set for a reader held to read_committed's promise (the aborted-read checker looks at these only). */
  readCommitted?: boolean;
  timeMs: number;
}

/**
 * A transaction of the transaction workload (chaos/txn-workload.ts): `invoke` as it began (and
 * again, with `commitAttempt`, as its producer asks to commit), then `ok` (committed), `fail` (its
 * abort was confirmed) or `info` (not known; its process may have been killed before any of
 * these), for the transaction checkers.
 */
export interface TxnOp {
  kind: 'txn';
  /** The transactional id's slot in the workload. */
  process: number;
  type: OpType;
  txn: string;
  /** Values the transaction wrote (on every op of it). */
  values: string[];
  /** On an `invoke` op: the producer is asking to commit (0, then each retry). Before the first, nothing can commit the transaction. */
  commitAttempt?: number;
  error?: string;
  timeMs: number;
}

export type GroupEvent = 'assigned' | 'revoked' | 'lost' | 'read' | 'committed' | 'observed';

/**
 * What a consumer group member did (chaos/group-member.ts), or what the observer read of the
 * group's committed offsets, for the group checkers (chaos/group-checkers.ts):
 * - `assigned` / `revoked` / `lost`: `partitions` given to, given up by, or lost by `member`;
 * - `read`: the member was handed the record `value` at `partition`:`offset` (stamped as poll returned);
 * - `committed`: the coordinator acknowledged `offsets` (partition → next offset), sent at `sentMs`;
 * - `observed`: the observer asked at `timeMs` and the group's committed offsets were `offsets`.
 */
export interface GroupOp {
  kind: 'group';
  member: string;
  event: GroupEvent;
  partitions?: number[];
  partition?: number;
  offset?: number;
  value?: string;
  offsets?: Record<number, number>;
  sentMs?: number;
  timeMs: number;
}

/** A fault the nemesis started or ended, for the report's timeline. */
export interface FaultOp {
  kind: 'fault';
  phase: 'start' | 'end';
  fault: string;
  detail: string;
  timeMs: number;
}

export type Op = SendOp | ReadOp | TxnOp | GroupOp | FaultOp;

export class History {
  readonly ops: Op[] = [];
  /** Monotonic (performance.now): a node's or this machine's wall-clock jump never bends the timeline. */
  private readonly startMs = performance.now();
  /** The same instant on process.hrtime's clock (ms). */
  private readonly monotonicStartMs = Number(process.hrtime.bigint()) / 1e6 - (performance.now() - this.startMs);

  /** Milliseconds since the history began: every op's `timeMs`. */
  now(): number {
    return Math.round(performance.now() - this.startMs);
  }

  /**
   * A time another process read from the machine's monotonic clock (process.hrtime, in ms) on this
   * history's clock, unrounded, so that events of different processes keep their order.
   */
  fromMonotonic(ms: number): number {
    return ms - this.monotonicStartMs;
  }

  send(process: number, type: OpType, value: string, seq: number, extra: Partial<SendOp> = {}): void {
    this.ops.push({ kind: 'send', process, type, value, seq, ...extra, timeMs: this.now() });
  }

  read(process: number, session: number, partition: number, offset: number, value: string, readCommitted = false): void {
    this.ops.push({ kind: 'read', process, session, partition, offset, value, ...(readCommitted ? { readCommitted } : {}), timeMs: this.now() });
  }

  fault(phase: 'start' | 'end', fault: string, detail = ''): void {
    this.ops.push({ kind: 'fault', phase, fault, detail, timeMs: this.now() });
  }

  group(op: Omit<GroupOp, 'kind'>): void {
    this.ops.push({ kind: 'group', ...op });
  }

  txn(op: Omit<TxnOp, 'kind'>): void {
    this.ops.push({ kind: 'txn', ...op });
  }

  txnOps(): TxnOp[] {
    return this.ops.filter((o): o is TxnOp => o.kind === 'txn');
  }

  groupOps(): GroupOp[] {
    return this.ops.filter((o): o is GroupOp => o.kind === 'group');
  }

  sends(): SendOp[] {
    return this.ops.filter((o): o is SendOp => o.kind === 'send');
  }

  reads(): ReadOp[] {
    return this.ops.filter((o): o is ReadOp => o.kind === 'read');
  }
}
