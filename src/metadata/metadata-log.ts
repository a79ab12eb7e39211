import type { MetadataImage } from './image';
import type { MetadataRecord } from './records';

/** A batch of records committed to the metadata log at `offset` (its entry index). */
export interface CommittedBatch {
  offset: number;
  records: MetadataRecord[];
}

/**
 * The metadata log as the controller and brokers see it, whatever replicates it (the Raft quorum;
 * see src/raft). Committed batches are delivered in order, exactly once per process lifetime;
 * after a snapshot is loaded, delivery continues from the snapshot's offset.
 */
export interface MetadataLog {
  /** Appends records as one atomic entry; resolves with its offset once committed. Rejects with NOT_CONTROLLER when this node is not (or stops being) the leader. */
  append(records: MetadataRecord[]): Promise<number>;
  /** True while this node is the quorum leader and may append. */
  isLeader(): boolean;
  /** The current quorum leader's node id, -1 if unknown. */
  leaderId(): number;
  /** The Raft term of the current leadership (the "controller epoch"). */
  leaderEpoch(): number;
  /** Delivers committed batches; `onSnapshot` replaces the image wholesale (a snapshot was installed). */
  subscribe(listener: MetadataListener): void;
  /** Like subscribe, but only for what commits from now on; returns the way to stop. */
  follow(listener: MetadataListener): () => void;
  /** Committed, applied batches from offset `from` on, or null when the log no longer holds them (send a snapshot). */
  readCommitted?(from: number): CommittedBatch[] | null;
}

export interface MetadataListener {
  onCommit(batch: CommittedBatch): void;
  onSnapshot(image: MetadataImage): void;
  /** Leadership of the quorum changed (this node or another became leader). */
  onLeaderChange?(leaderId: number, epoch: number): void;
}

/** The listeners of a MetadataLog implementation: added by subscribe()/follow(), told in order. */
export class MetadataListeners {
  private readonly list: MetadataListener[] = [];

  /** Adds a listener; returns the way to remove it (what follow() returns). */
  add(listener: MetadataListener): () => void {
    this.list.push(listener);
    return () => {
      const i = this.list.indexOf(listener);
      if (i >= 0) this.list.splice(i, 1);
    };
  }

  commit(batch: CommittedBatch): void {
    for (const l of this.list) l.onCommit(batch);
  }

  snapshot(image: MetadataImage): void {
    for (const l of this.list) l.onSnapshot(image);
  }

  leaderChange(leaderId: number, epoch: number): void {
    for (const l of this.list) l.onLeaderChange?.(leaderId, epoch);
  }
}
