/** Construction options of RaftCore and their validation. */
import { CairnError, ErrorCode, type NodeId, type Random } from '../common';
import type { RaftInitialState } from './types';

export interface RaftCoreOptions {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  /** Non-voting members: replicated to, never counted, never vote, never campaign. */
  readonly learners?: readonly NodeId[];
  /**
   * Voters and learners are the bootstrap membership, in force until the log holds a config entry
   * (membership.ts). Other nodes whose messages are heard even when the membership in force does
   * not name them (a voter added while this node was down): `controller.quorum.voters`.
   */
  readonly knownPeers?: readonly NodeId[];
  /** Election timeouts are drawn uniformly from [min, max] on every reset (Raft §5.2). */
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
  readonly heartbeatIntervalMs: number;
  readonly random: Random;
  /** What storage loaded; an empty log is `{ hardState: { term: 0, votedFor: null }, snapshot: null, entries: [] }`. */
  readonly initial: RaftInitialState;
  readonly nowMs: number;
}

const invalid = (message: string) => new CairnError(ErrorCode.INVALID_CONFIG, `raft: ${message}`);

/** Throws CairnError(INVALID_CONFIG) with a message a person can act on. */
export function validateOptions(o: RaftCoreOptions): void {
  const learners = o.learners ?? [];
  if (o.voters.length === 0) throw invalid('the voter set is empty');
  if (new Set(o.voters).size !== o.voters.length) throw invalid(`duplicate voter in [${o.voters.join(', ')}]`);
  if (new Set(learners).size !== learners.length) throw invalid(`duplicate learner in [${learners.join(', ')}]`);
  for (const l of learners) if (o.voters.includes(l)) throw invalid(`node ${l} is both voter and learner`);
  if (!(o.heartbeatIntervalMs > 0)) throw invalid('heartbeatIntervalMs must be positive');
  if (!(o.electionTimeoutMinMs > o.heartbeatIntervalMs)) {
    throw invalid(`electionTimeoutMinMs (${o.electionTimeoutMinMs}) must exceed heartbeatIntervalMs (${o.heartbeatIntervalMs})`);
  }
  if (!(o.electionTimeoutMaxMs >= o.electionTimeoutMinMs)) {
    throw invalid(`electionTimeoutMaxMs (${o.electionTimeoutMaxMs}) must be at least electionTimeoutMinMs (${o.electionTimeoutMinMs})`);
  }
  const { hardState, snapshot, entries } = o.initial;
  let expected = (snapshot?.lastIndex ?? 0) + 1;
  let lastTerm = snapshot?.lastTerm ?? 0;
  for (const e of entries) {
    if (e.index !== expected) throw invalid(`initial entries are not contiguous: expected index ${expected}, found ${e.index}`);
    if (e.term < lastTerm) throw invalid(`initial entry ${e.index} has term ${e.term} below the previous ${lastTerm}`);
    expected++;
    lastTerm = e.term;
  }
  if (hardState.term < lastTerm) throw invalid(`hard state term ${hardState.term} is below the last log term ${lastTerm}`);
}
