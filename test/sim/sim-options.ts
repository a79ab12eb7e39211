/** The knobs of the Raft simulation: fault profiles, run options, results, timing constants. */
import type { RaftCore } from '../../src/raft/raft-core';
import type { RaftCoreOptions } from '../../src/raft/options';
import type { NetworkFaults } from './sim-network';

export interface FaultProfile extends NetworkFaults {
  /** Mean time between partition / heal / crash events during chaos. */
  faultMeanIntervalMs: number;
  crashProbability: number;
  /** A crash in the middle of persisting a ready: only a prefix of its writes reaches the disk. */
  tornWriteProbability: number;
  maxDownMs: number;
}

export const DEFAULT_FAULTS: FaultProfile = {
  dropProbability: 0.05,
  duplicateProbability: 0.03,
  minDelayMs: 1,
  maxDelayMs: 15,
  longDelayProbability: 0.02,
  longDelayMaxMs: 600,
  faultMeanIntervalMs: 400,
  crashProbability: 0.35,
  tornWriteProbability: 0.001,
  maxDownMs: 2000,
};

/** Harsher than the default: more loss, more duplicates, long stalls, frequent crashes and torn writes. */
export const HARSH_FAULTS: FaultProfile = {
  ...DEFAULT_FAULTS,
  dropProbability: 0.2,
  duplicateProbability: 0.2,
  longDelayProbability: 0.1,
  longDelayMaxMs: 1_500,
  crashProbability: 0.5,
  faultMeanIntervalMs: 200,
  tornWriteProbability: 0.005,
};

export interface SimulationOptions {
  seed: number;
  /** Voters. */
  nodes?: 3 | 5;
  learners?: number;
  /**
   * Nodes started outside the membership. With any, an operator changes the membership during the
   * chaos phase (add a learner, promote a caught-up one, remove a member), one change at a time
   * through the leader, as `cairn cluster add-controller` / `remove-controller` do.
   */
  spares?: number;
  /** Events in the chaos phase. */
  steps?: number;
  faults?: Partial<FaultProfile>;
  /** Compact every this many applied entries; null never; undefined picks from the seed. */
  snapshotEvery?: number | null;
  /** Builds each node's core; tests pass deliberately broken subclasses. */
  createCore?: (options: RaftCoreOptions) => RaftCore;
  /**
   * Writes take simulated time, and the node keeps taking input while one is under way (as a
   * production driver awaiting fsync does); undefined picks from the seed.
   */
  asyncPersistence?: boolean;
  /** Election timeout range; narrow ranges provoke split votes. */
  electionTimeoutMinMs?: number;
  electionTimeoutMaxMs?: number;
  /** Receives one line per event. */
  trace?: (line: string) => void;
}

export interface SimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  /** Present on failure; always names the seed. */
  readonly violation?: string;
  readonly steps: number;
  readonly simulatedMs: number;
  readonly stats: SimulationStats;
}

export interface SimulationStats {
  messagesSent: number;
  messagesDropped: number;
  crashes: number;
  tornWrites: number;
  partitions: number;
  proposalsAccepted: number;
  maxCommitIndex: number;
  maxTerm: number;
  snapshotsInstalled: number;
  membershipChanges: number;
}

export const ELECTION_TIMEOUT_MIN_MS = 150;
export const ELECTION_TIMEOUT_MAX_MS = 300;
export const HEARTBEAT_INTERVAL_MS = 50;
export const QUIET_PERIOD_MS = 1_000;
export const LIVENESS_BOUND_MS = 6_000;
/** With the client stopped, every node must hold and apply the leader's whole log within this. */
export const CONVERGENCE_MS = 2_000;
/** Async persistence: a write takes up to this long. */
export const MAX_WRITE_MS = 8;
/** ready() rounds per input before the driver declares the core stuck in a loop. */
export const MAX_READY_ROUNDS = 64;
/** Full (not incremental) prefix checks every this many steps. */
export const FULL_CHECK_EVERY_STEPS = 64;
