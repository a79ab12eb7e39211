/**
 * One node of the Raft simulation: its core (null while crashed), its disk — which holds only what
 * the driver persisted from ready(), in the contract's order — and its state machine, a running
 * digest of the entries applied (which is also what its snapshots contain).
 */
import type { NodeId } from '../../src/common/types';
import { term as toTerm } from '../../src/common/types';
import type { RaftCore } from '../../src/raft/raft-core';
import type { Entry, HardState, RaftInitialState, Ready, Snapshot } from '../../src/raft/types';
import type { NodeWatch, RaftChecker } from './raft-invariants';
import { SimViolation } from './raft-invariants';

export interface SimDisk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface MachineState {
  readonly appliedIndex: number;
  readonly digest: number;
}

function decodeState(data: Uint8Array): MachineState {
  return JSON.parse(decoder.decode(data)) as MachineState;
}

/** How many separately durable writes a ready asks for (a crash can land between any two). */
export function writeCount(rd: Ready): number {
  return (rd.hardState ? 1 : 0) + (rd.truncateFrom !== undefined ? 1 : 0) + (rd.snapshotToSave ? 1 : 0) + rd.entriesToAppend.length;
}

export class SimNode {
  core: RaftCore | null = null;
  readonly disk: SimDisk = { hardState: { term: toTerm(0), votedFor: null }, snapshot: null, entries: [] };
  watch: NodeWatch;
  appliedIndex = 0;
  digest = 0;
  restartAtMs = Number.POSITIVE_INFINITY;
  /** Asynchronous persistence: the ready being written, and when the write completes. */
  writing: { readonly rd: Ready; readonly doneAtMs: number } | null = null;

  constructor(
    readonly id: NodeId,
    readonly isLearner: boolean,
  ) {
    this.watch = this.newWatch();
  }

  /** What a restarting node loads; the state machine is rebuilt from the snapshot. */
  boot(): RaftInitialState {
    const d = this.disk;
    const s = d.snapshot ? decodeState(d.snapshot.data) : { appliedIndex: 0, digest: 0 };
    this.appliedIndex = s.appliedIndex;
    this.digest = s.digest;
    this.watch = this.newWatch();
    this.restartAtMs = Number.POSITIVE_INFINITY;
    return { hardState: d.hardState, snapshot: d.snapshot, entries: [...d.entries] };
  }

  /** Applies the first `budget` writes of `rd` to the disk, in the order the contract fixes. */
  persist(rd: Ready, budget: number): void {
    const disk = this.disk;
    let left = budget;
    if (rd.hardState && left-- > 0) disk.hardState = rd.hardState;
    if (rd.truncateFrom !== undefined && left-- > 0) {
      const from = rd.truncateFrom;
      disk.entries = disk.entries.filter((e) => e.index < from);
    }
    if (rd.snapshotToSave && left-- > 0) {
      const s = rd.snapshotToSave;
      disk.snapshot = s;
      disk.entries = disk.entries.filter((e) => e.index > s.lastIndex);
    }
    for (const e of rd.entriesToAppend) {
      if (left-- <= 0) break;
      const last = disk.entries[disk.entries.length - 1];
      const expected = last ? last.index + 1 : (disk.snapshot?.lastIndex ?? 0) + 1;
      if (e.index !== expected) throw new SimViolation(`node ${this.id} was asked to persist entry ${e.index} where ${expected} comes next`);
      disk.entries.push(e);
    }
  }

  /** Applies a ready's snapshot and committed entries; returns whether a snapshot was installed. */
  apply(rd: Ready, checker: RaftChecker): boolean {
    const term = this.core!.term;
    let installed = false;
    if (rd.snapshotToApply) {
      const s = decodeState(rd.snapshotToApply.data);
      if (s.appliedIndex !== rd.snapshotToApply.lastIndex) {
        throw new SimViolation(`node ${this.id} got snapshot ${rd.snapshotToApply.lastIndex} holding state ${s.appliedIndex}`);
      }
      checker.onSnapshotApplied(this.watch, this.appliedIndex, s.appliedIndex, s.digest);
      this.appliedIndex = s.appliedIndex;
      this.digest = s.digest;
      installed = true;
    }
    for (const e of rd.committed) {
      this.digest = checker.onApply(this.watch, term, this.appliedIndex, this.digest, e);
      this.appliedIndex = e.index;
    }
    return installed;
  }

  /** The state machine as snapshot bytes. */
  snapshotData(): Uint8Array {
    const state: MachineState = { appliedIndex: this.appliedIndex, digest: this.digest };
    return encoder.encode(JSON.stringify(state));
  }

  private newWatch(): NodeWatch {
    return { id: this.id, isLearner: this.isLearner, lastCommit: 0, commitAtLastReady: 0, verifiedCommit: 0, wasLeader: false };
  }
}
