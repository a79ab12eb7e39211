import { UNDEFINED_EPOCH } from '../common';
import { CheckpointFormatError, writeFileAtomicSync } from './checkpoint';
import type { FileSystem } from './file-system';

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

/** Kafka's leader-epoch-checkpoint format: version, count, then `epoch startOffset` lines; written atomically. */
function checkpointWriter(fsys: FileSystem, file: string): (entries: readonly EpochEntry[]) => void {
  return (entries) => writeFileAtomicSync(fsys, file, ['0', String(entries.length), ...entries.map((e) => `${e.epoch} ${e.startOffset}`)].join('\n') + '\n');
}

export const UNDEFINED_OFFSET = -1;

/**
 * Which leader epoch wrote which range of the log (Kafka's LeaderEpochFileCache, KIP-101): an
 * ordered list of (epoch, start offset). A follower asks the leader where its latest epoch ends and
 * truncates there, so logs never diverge after a failover. Persisted atomically on every change
 * (changes happen once per leader election, not per write).
 */
export class LeaderEpochCache {
  private entries: EpochEntry[];

  /** `persist` writes the entries durably (the checkpoint file); null keeps them in memory only (simulations). */
  constructor(
    entries: EpochEntry[],
    private readonly persistTo: ((entries: readonly EpochEntry[]) => void) | null,
  ) {
    this.entries = entries;
  }

  static inMemory(entries: EpochEntry[] = []): LeaderEpochCache {
    return new LeaderEpochCache(entries, null);
  }

  static load(fsys: FileSystem, file: string): LeaderEpochCache {
    let text: string;
    try {
      text = fsys.readFile(file).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new LeaderEpochCache([], checkpointWriter(fsys, file));
      throw err;
    }
    const lines = text.split('\n').filter((l) => l.length > 0);
    if (lines[0] !== '0' || Number(lines[1]) !== lines.length - 2) throw new CheckpointFormatError(`${file}: malformed leader-epoch checkpoint`);
    const entries = lines.slice(2).map((line) => {
      const m = /^(\d+) (\d+)$/.exec(line);
      if (!m) throw new CheckpointFormatError(`${file}: malformed line "${line}"`);
      return { epoch: Number(m[1]), startOffset: Number(m[2]) };
    });
    return new LeaderEpochCache(entries, checkpointWriter(fsys, file));
  }

  private persist(): void {
    this.persistTo?.(this.entries);
  }

  get all(): readonly EpochEntry[] {
    return this.entries;
  }

  get latestEpoch(): number {
    return this.entries.length === 0 ? UNDEFINED_EPOCH : this.entries[this.entries.length - 1]!.epoch;
  }

  /** Records that `epoch` starts writing at `startOffset`. Older or equal epochs are ignored. */
  assign(epoch: number, startOffset: number): void {
    if (epoch < 0) return;
    const latest = this.entries[this.entries.length - 1];
    if (latest && epoch <= latest.epoch) return;
    // An entry whose start is at or past the new one can only come from a truncated suffix.
    this.entries = this.entries.filter((e) => e.startOffset < startOffset);
    this.entries.push({ epoch, startOffset });
    this.persist();
  }

  /**
   * Kafka's OffsetsForLeaderEpoch answer (LeaderEpochFileCache.endOffsetFor): the largest epoch
   * ≤ `requested` that this log knows, and the offset where it ends (the start of the next epoch,
   * or the log end offset for the latest). For an epoch older than every epoch kept, the answer is
   * that epoch ending where the first kept one starts — nothing this log holds belongs to it.
   * With no epochs at all (or requested −1): (UNDEFINED_EPOCH, UNDEFINED_OFFSET).
   */
  endOffsetFor(requested: number, logEndOffset: number): { epoch: number; endOffset: number } {
    if (requested === UNDEFINED_EPOCH || this.entries.length === 0) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET };
    if (requested === this.latestEpoch) return { epoch: requested, endOffset: logEndOffset };
    let i = this.entries.length - 1;
    while (i >= 0 && this.entries[i]!.epoch > requested) i--;
    if (i < 0) return { epoch: requested, endOffset: this.entries[0]!.startOffset };
    const next = this.entries[i + 1];
    return { epoch: this.entries[i]!.epoch, endOffset: next ? next.startOffset : logEndOffset };
  }

  /** After a truncation to `endOffset`: forget epochs that start at or after it. */
  truncateFromEnd(endOffset: number): void {
    const kept = this.entries.filter((e) => e.startOffset < endOffset);
    if (kept.length !== this.entries.length) {
      this.entries = kept;
      this.persist();
    }
  }

  /** After the log start moves to `startOffset`: drop whole epochs below it, clamp the one spanning it. */
  truncateFromStart(startOffset: number): void {
    let i = 0;
    while (i + 1 < this.entries.length && this.entries[i + 1]!.startOffset <= startOffset) i++;
    const kept = this.entries.slice(i);
    if (kept[0] && kept[0].startOffset < startOffset) kept[0] = { epoch: kept[0].epoch, startOffset };
    if (kept.length !== this.entries.length || kept[0]?.startOffset !== this.entries[0]?.startOffset) {
      this.entries = kept;
      this.persist();
    }
  }

  clear(): void {
    this.entries = [];
    this.persist();
  }
}
