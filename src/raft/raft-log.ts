/**
 * The in-memory Raft log of one node: a snapshot offset followed by the retained entries, plus the
 * bookkeeping of what the driver has been handed to persist and what it has confirmed.
 *
 * Indexes start at 1; index 0 with term 0 is the empty prefix every log shares. Entries at or
 * below `snapshotIndex` are compacted: only their last term is known.
 */
import { invariant, type Term, term as toTerm } from '../common';
import type { Entry, Snapshot } from './types';

export interface Unpersisted {
  /** Entries at or above this index that the driver persisted earlier must be dropped first. */
  readonly truncateFrom: number | null;
  readonly entries: Entry[];
}

export class RaftLog {
  private snapshotIndexValue: number;
  private snapshotTermValue: Term;
  /** entries[i] has index snapshotIndex + 1 + i. */
  private entries: Entry[];
  /** Indexes of the retained `config` entries, ascending (membership.ts). */
  private configIndexes: number[] = [];

  /** Highest index handed to the driver for persistence (through `takeUnpersisted`). */
  private handedIndex: number;
  /** A truncation of already-handed entries that the next `takeUnpersisted` must report. */
  private pendingTruncateFrom: number | null = null;
  /** Highest index handed in the `ready()` the driver is persisting now. */
  private inProgressIndex: number;
  /** Highest index the driver confirmed durable (`advance()`). The leader counts only these for itself. */
  private stableIndexValue: number;

  constructor(snapshot: Pick<Snapshot, 'lastIndex' | 'lastTerm'> | null, entries: readonly Entry[]) {
    this.snapshotIndexValue = snapshot?.lastIndex ?? 0;
    this.snapshotTermValue = snapshot?.lastTerm ?? toTerm(0);
    this.entries = [];
    for (const e of entries) this.append(e);
    this.handedIndex = this.lastIndex();
    this.inProgressIndex = this.lastIndex();
    this.stableIndexValue = this.lastIndex();
  }

  get snapshotIndex(): number {
    return this.snapshotIndexValue;
  }

  get snapshotTerm(): Term {
    return this.snapshotTermValue;
  }

  get stableIndex(): number {
    return this.stableIndexValue;
  }

  firstIndex(): number {
    return this.snapshotIndexValue + 1;
  }

  lastIndex(): number {
    return this.snapshotIndexValue + this.entries.length;
  }

  lastTerm(): Term {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.term : this.snapshotTermValue;
  }

  /** The term at `index`, or undefined when it is compacted away or beyond the end. */
  termAt(index: number): Term | undefined {
    if (index === this.snapshotIndexValue) return this.snapshotTermValue;
    return this.entryAt(index)?.term;
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.snapshotIndexValue) return undefined;
    return this.entries[index - this.snapshotIndexValue - 1];
  }

  matchTerm(index: number, t: Term): boolean {
    return this.termAt(index) === t;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: Term): boolean {
    const ours = this.lastTerm();
    return lastTerm > ours || (lastTerm === ours && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in [from, to], at most `maxCount` of them and — except for the first — at most
   * `maxBytes` of data in total. `from` must not be compacted.
   */
  slice(from: number, to: number, maxBytes = Number.POSITIVE_INFINITY, maxCount = Number.POSITIVE_INFINITY): Entry[] {
    invariant(from >= this.firstIndex(), 'slice below the first retained entry', { from, firstIndex: this.firstIndex() });
    const last = Math.min(to, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = from; i <= last && out.length < maxCount; i++) {
      const e = this.entries[i - this.snapshotIndexValue - 1]!;
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  append(entry: Entry): void {
    invariant(entry.index === this.lastIndex() + 1, 'append out of order', { index: entry.index, lastIndex: this.lastIndex() });
    invariant(entry.term >= this.lastTerm(), 'append with a term below the last term', { term: entry.term, lastTerm: this.lastTerm() });
    this.entries.push(entry);
    if (entry.kind === 'config') this.configIndexes.push(entry.index);
  }

  /** The newest retained `config` entry at or below `index`, if any. */
  configEntryAtOrBelow(index: number = this.lastIndex()): Entry | undefined {
    for (let i = this.configIndexes.length - 1; i >= 0; i--) {
      if (this.configIndexes[i]! <= index) return this.entryAt(this.configIndexes[i]!);
    }
    return undefined;
  }

  /**
   * Appends a leader's entries after a successful consistency check: entries we already hold with
   * the same term are kept (a delayed, shorter AppendEntries must not cut a longer log), the first
   * conflicting one and everything after it are replaced (Raft Figure 2, AppendEntries step 3).
   * Returns the index truncated from, or null.
   */
  appendFromLeader(entries: readonly Entry[]): number | null {
    let truncatedFrom: number | null = null;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.snapshotIndexValue) continue;
      const existing = this.termAt(e.index);
      if (existing === e.term) continue;
      if (existing !== undefined) {
        truncatedFrom = e.index;
        this.truncateFrom(e.index);
      }
      for (let j = i; j < entries.length; j++) this.append(entries[j]!);
      break;
    }
    return truncatedFrom;
  }

  /** Drops the entries at and after `index`. */
  truncateFrom(index: number): void {
    invariant(index > this.snapshotIndexValue, 'truncate into the snapshot', { index, snapshotIndex: this.snapshotIndexValue });
    if (index > this.lastIndex()) return;
    this.entries.length = index - this.snapshotIndexValue - 1;
    this.configIndexes = this.configIndexes.filter((i) => i < index);
    this.forgetFrom(index);
  }

  /**
   * The largest index at or below `index` whose term is at most `t` (etcd-io/raft's
   * findConflictByTerm). Both sides of the rejection hint use it. When even the snapshot's term is
   * above `t`, returns snapshotIndex - 1 so that the caller falls back to sending the snapshot.
   */
  findConflictByTerm(index: number, t: Term): number {
    for (let i = Math.min(index, this.lastIndex()); i > this.snapshotIndexValue; i--) {
      if (this.entries[i - this.snapshotIndexValue - 1]!.term <= t) return i;
    }
    if (index < this.snapshotIndexValue) return index;
    return this.snapshotTermValue <= t ? this.snapshotIndexValue : this.snapshotIndexValue - 1;
  }

  /** Forgets the entries up to `index`; a snapshot now covers them. */
  compact(index: number): void {
    if (index <= this.snapshotIndexValue) return;
    invariant(index <= this.lastIndex(), 'compact beyond the last entry', { index, lastIndex: this.lastIndex() });
    const t = this.termAt(index)!;
    this.entries = this.entries.slice(index - this.snapshotIndexValue);
    this.configIndexes = this.configIndexes.filter((i) => i > index);
    this.snapshotIndexValue = index;
    this.snapshotTermValue = t;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(snapshot: Pick<Snapshot, 'lastIndex' | 'lastTerm'>): void {
    const hadBeyond = this.handedIndex > snapshot.lastIndex || this.pendingTruncateFrom !== null;
    this.entries = [];
    this.configIndexes = [];
    this.snapshotIndexValue = snapshot.lastIndex;
    this.snapshotTermValue = snapshot.lastTerm;
    if (hadBeyond) {
      this.pendingTruncateFrom = Math.min(this.pendingTruncateFrom ?? Number.POSITIVE_INFINITY, snapshot.lastIndex + 1);
    }
    // The snapshot stands in for every entry up to its last index; storage saves it in the same ready.
    this.handedIndex = snapshot.lastIndex;
    this.inProgressIndex = Math.min(this.inProgressIndex, snapshot.lastIndex);
    this.stableIndexValue = Math.min(this.stableIndexValue, snapshot.lastIndex);
  }

  hasUnpersisted(): boolean {
    return this.pendingTruncateFrom !== null || this.handedIndex < this.lastIndex();
  }

  /** Hands everything not yet handed to the driver; called by `ready()`. */
  takeUnpersisted(): Unpersisted {
    const from = Math.max(this.handedIndex + 1, this.firstIndex());
    const out: Unpersisted = {
      truncateFrom: this.pendingTruncateFrom,
      entries: from <= this.lastIndex() ? this.slice(from, this.lastIndex()) : [],
    };
    this.pendingTruncateFrom = null;
    this.handedIndex = this.lastIndex();
    this.inProgressIndex = this.lastIndex();
    return out;
  }

  /** The driver made the last handed batch durable; called by `advance()`. */
  markPersisted(): void {
    this.stableIndexValue = Math.max(this.stableIndexValue, this.inProgressIndex);
  }

  private forgetFrom(index: number): void {
    if (index <= this.handedIndex) {
      this.pendingTruncateFrom = Math.min(this.pendingTruncateFrom ?? index, index);
      this.handedIndex = index - 1;
    }
    this.inProgressIndex = Math.min(this.inProgressIndex, index - 1);
    this.stableIndexValue = Math.min(this.stableIndexValue, index - 1);
  }
}
