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
  timeMs: number;
}

/** A transactional read (read_committed) or a transaction's outcome, for the transaction checkers. */
export interface TxnOp {
  kind: 'txn';
  process: number;
  type: OpType;
  txn: string;
  /** Values the transaction wrote. */
  values: string[];
  timeMs: number;
}

/** A group member's view of its assignment at a generation, for the ownership checker. */
export interface OwnershipOp {
  kind: 'owns';
  member: string;
  group: string;
  generation: number;
  partitions: number[];
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

export type Op = SendOp | ReadOp | TxnOp | OwnershipOp | FaultOp;

export class History {
  readonly ops: Op[] = [];
  /** Monotonic (performance.now): a node's or this machine's wall-clock jump never bends the timeline. */
  private readonly startMs = performance.now();

  /** Milliseconds since the history began: every op's `timeMs`. */
  now(): number {
    return Math.round(performance.now() - this.startMs);
  }

  send(process: number, type: OpType, value: string, seq: number, extra: Partial<SendOp> = {}): void {
    this.ops.push({ kind: 'send', process, type, value, seq, ...extra, timeMs: this.now() });
  }

  read(process: number, session: number, partition: number, offset: number, value: string): void {
    this.ops.push({ kind: 'read', process, session, partition, offset, value, timeMs: this.now() });
  }

  fault(phase: 'start' | 'end', fault: string, detail = ''): void {
    this.ops.push({ kind: 'fault', phase, fault, detail, timeMs: this.now() });
  }

  sends(): SendOp[] {
    return this.ops.filter((o): o is SendOp => o.kind === 'send');
  }

  reads(): ReadOp[] {
    return this.ops.filter((o): o is ReadOp => o.kind === 'read');
  }
}
