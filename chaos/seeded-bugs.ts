/**
 * Broken builds for the chaos suite's negative controls: preloaded into each server process
 * (`node --require dist/chaos/seeded-bugs.js`, with CAIRN_SEEDED_BUG naming the bug), this module
 * patches one method of the shipped code before the server starts, so that a scenario can show its
 * checker failing on a real cluster with a real bug in it (reliability.md: a checker is trusted
 * only after it has failed on a bad history). Nothing in src/ knows of it.
 */
import { ReplicaManager } from '../src/replication/io/replica-manager';
import type { TxnMarker } from '../src/record';
import { PartitionLog } from '../src/storage/partition-log';

export const SEEDED_BUGS = {
  /** Every transaction marker commits: aborted transactions become visible. */
  abortMarkersCommit: () => {
    const append = ReplicaManager.prototype.appendMarkerAsLeader;
    ReplicaManager.prototype.appendMarkerAsLeader = function (this: ReplicaManager, p, marker: TxnMarker, ...rest) {
      return append.call(this, p, { ...marker, commit: true }, ...rest);
    };
  },
  /**
   * Abort markers are answered as written but never written: every aborted transaction stays open
   * in its partitions and holds their last stable offset back for good (a hanging transaction).
   */
  abortMarkersLost: () => {
    const append = ReplicaManager.prototype.appendMarkerAsLeader;
    ReplicaManager.prototype.appendMarkerAsLeader = function (this: ReplicaManager, p, marker: TxnMarker, ...rest) {
      if (marker.commit) return append.call(this, p, marker, ...rest);
      return { info: { firstOffset: -1, lastOffset: -1, logAppendTimeMs: -1, recordCount: 0 }, acked: Promise.resolve() };
    };
  },
  /** The last stable offset is the high watermark: read_committed reads records of open transactions, aborted ones included. */
  lsoIsHighWatermark: () => {
    Object.defineProperty(PartitionLog.prototype, 'lastStableOffset', {
      configurable: true,
      get(this: PartitionLog) {
        return this.highWatermark;
      },
    });
  },
};

export type SeededBugName = keyof typeof SEEDED_BUGS;

const name = process.env.CAIRN_SEEDED_BUG;
if (name !== undefined) {
  const bug = SEEDED_BUGS[name as SeededBugName];
  if (!bug) throw new Error(`unknown seeded bug "${name}" (known: ${Object.keys(SEEDED_BUGS).join(', ')})`);
  bug();
}
