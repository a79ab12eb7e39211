/**
 * The chaos scenarios, one per row of shared/reliability.md that the cluster's features reach.
 * Rows 15-18 run transactional producers as processes (chaos/txn-workload.ts, chaos/txn-faults.ts)
 * checked by chaos/checkers.ts's transaction and aborted-read checkers. Row 21 runs consumer group
 * members (chaos/group-workload.ts, chaos/group-checkers.ts).
 */
import { CHAOS_OFFSETS_PARTITIONS } from './group-faults';
import type { SeededBugName } from './seeded-bugs';
import { CHAOS_TXN_PARTITIONS } from './txn-faults';

export interface Scenario {
  name: string;
  /** Row of reliability.md's scenario table. */
  row: number;
  summary: string;
  /** Faults rotated on the seeded schedule (names in chaos/nemesis.ts); empty: none. */
  faults: string[];
  /** How long each fault is held, and the quiet spell after it (ms, inclusive ranges). */
  holdMs: [number, number];
  quietMs: [number, number];
  /** Duplicates fail the run only where something promises none (idempotent producers, transactions). */
  strictDuplicates: boolean;
  /** Storage faults need the fsync journal; disk full needs node 1 on a small tmpfs (MiB). */
  fsyncJournal?: boolean;
  tmpfsNode1MiB?: number;
  /** Skewed node clocks (ms per node, in node order). */
  clockSkewMs?: number[];
  /** A slow disk on every node: each fsync starts this much later (so power cuts find unsynced bytes). */
  fsyncDelayMs?: number;
  /** Also require every send to be acknowledged: the faults are ones retries alone must ride out. */
  noClientErrors?: boolean;
  /** Also check that every controller replayed the same metadata (row 22). */
  checkControllers?: boolean;
  /** The topic's min.insync.replicas (default 2). */
  minInsync?: number;
  /** Cluster shape (default 3 nodes, all controllers) and explicit replica placement of the topic. */
  nodes?: number;
  controllers?: number;
  assignment?: number[][];
  /** The topic's partition count (default 3, or the assignment's). */
  partitions?: number;
  /** Run consumer group members and check the group (reliability.md row 21; chaos/group-checkers.ts). */
  group?: boolean;
  /**
   * Run transactional producers (chaos/txn-workload.ts) and a read_committed reader beside the
   * plain workload, drain at read_committed, and check transactions (rows 15-18).
   */
  transactions?: boolean;
  /** Run a copy job (`cairn copy`) from the workload's topic to another, and check its output (row 20). */
  copyJob?: boolean;
  /** Server flags for every node, beside the suite's own. */
  flags?: Record<string, string>;
  /** Set when the scenario cannot run yet, with the reason. */
  notApplicable?: string;
  /**
   * The same faults against a cluster configured unsafely (`--negative-control`): the run must then
   * FAIL with `expect`, which shows the scenario can see the loss its setting guards against.
   */
  negativeControl?: NegativeControl;
  /** For storage scenarios without one: why no setting makes a sensible negative control. */
  noNegativeControl?: string;
}

export interface NegativeControl {
  /** The unsafe setting, as an operator would write it. */
  setting: string;
  /** Server flags for every node. */
  flags: Record<string, string>;
  /** Producer settings of the workload (a client-side unsafe setting). */
  producer?: { enableIdempotence?: boolean };
  /** How the group workload's members behave (an unsafe application). */
  member?: { commitBeforeProcessing?: boolean };
  /** The read_committed reader and the drain read at this isolation level instead (a reader that does not wait for commits). */
  isolationLevel?: 'read_uncommitted';
  /** A broken build: every server runs with this bug of chaos/seeded-bugs.ts patched in. */
  seededBug?: SeededBugName;
  /** The faults to rotate instead of the scenario's own. */
  faults?: string[];
  /**
   * The checker that must fail: lost-write where the unsafe setting loses acknowledged writes
   * (docs/chaos.md, "Negative controls").
   */
  expect: string;
}

/**
 * Acknowledge before fsync, and fsync only every ten minutes (so never within a run, except when a
 * node stops cleanly): a power cut then takes acknowledged writes with it.
 */
const NO_FSYNC_BEFORE_ACK: NegativeControl = {
  setting: 'log.flush.policy=interval, log.flush.interval.ms=600000',
  flags: { 'log-flush-policy': 'interval', 'log-flush-interval-ms': '600000' },
  expect: 'lost-write',
};

/**
 * The workload's producers without idempotence: a resend after a lost answer writes the batch
 * again, which the strict duplicate checker must report.
 */
const NO_IDEMPOTENCE: NegativeControl = {
  setting: 'enable.idempotence=false (producer)',
  flags: {},
  producer: { enableIdempotence: false },
  expect: 'duplicate',
};

/** Where faults need a partition's replicas off the controllers: five nodes, three controllers, replicas on 4, 5 and one controller. */
const FIVE_NODES = {
  nodes: 5,
  controllers: 3,
  assignment: [
    [4, 5, 1],
    [5, 4, 2],
    [4, 1, 5],
  ],
};

/** A short group session (members are paused past it) and a small __consumer_offsets. */
const GROUP_FLAGS = {
  'group-consumer-session-timeout-ms': '4000',
  'group-consumer-heartbeat-interval-ms': '500',
  'offsets-topic-num-partitions': String(CHAOS_OFFSETS_PARTITIONS),
};

/** A small __transaction_state, transactions that time out in seconds, checked for timeouts every half second. */
const TXN_FLAGS = {
  'transaction-state-log-num-partitions': String(CHAOS_TXN_PARTITIONS),
  'transaction-abort-timed-out-transaction-cleanup-interval-ms': '500',
};

/** Rows 15-18: transactional producers beside the idempotent ones; duplicates fail the run. */
const TRANSACTIONAL = { strictDuplicates: true, transactions: true, flags: TXN_FLAGS };

/** A broken build whose abort markers commit: the transactions checker must see aborted transactions in the output. */
const ABORTS_COMMIT: NegativeControl = {
  setting: 'a broken build: every transaction marker commits (seeded bug abortMarkersCommit)',
  flags: {},
  seededBug: 'abortMarkersCommit',
  expect: 'transactions',
};

/** A broken build whose last stable offset is the high watermark: read_committed readers see open transactions that later abort. */
const LSO_AT_HW: NegativeControl = {
  setting: 'a broken build: the last stable offset is the high watermark (seeded bug lsoIsHighWatermark)',
  flags: {},
  seededBug: 'lsoIsHighWatermark',
  expect: 'aborted-read',
};

/**
 * A broken build that answers abort markers as written without writing them: each transaction
 * aborted by a bounce of the copy job hangs, and read_committed never sees the output past it.
 */
const ABORT_MARKERS_LOST: NegativeControl = {
  setting: 'a broken build: abort markers are answered as written but never written (seeded bug abortMarkersLost)',
  flags: {},
  seededBug: 'abortMarkersLost',
  expect: 'copy-exactly-once',
};

/**
 * The transaction scenarios' reader and drain at read_uncommitted: they are handed records of
 * aborted and still-open transactions, which the aborted-read checker must report.
 */
const READS_UNCOMMITTED: NegativeControl = {
  setting: 'isolation.level=read_uncommitted (reader and drain)',
  flags: {},
  isolationLevel: 'read_uncommitted',
  expect: 'aborted-read',
};

/**
 * Every workload producer is idempotent (the client's default, issue 17): a duplicate fails the run
 * in every scenario.
 */
const IDEMPOTENT = { strictDuplicates: true };

export const SCENARIOS: Scenario[] = [
  {
    name: 'partition-leader',
    row: 1,
    summary: 'partition a partition leader from the other brokers; acks=all, unique values',
    faults: ['partition-leader'],
    holdMs: [3_000, 10_000],
    quietMs: [2_000, 5_000],
    ...IDEMPOTENT,
    checkControllers: true,
  },
  {
    name: 'isr-shrink-kill-leader',
    row: 2,
    summary: "kill a partition's followers one by one, each time until the ISR has shrunk, then kill -9 the leader (5 nodes, 3 controllers)",
    faults: ['shrink-isr-then-kill-leader'],
    holdMs: [2_000, 5_000],
    quietMs: [5_000, 8_000],
    ...IDEMPOTENT,
    ...FIVE_NODES,
  },
  { name: 'pause', row: 3, summary: 'SIGSTOP the leader, a minority or every node, then SIGCONT', faults: ['pause'], holdMs: [1_000, 8_000], quietMs: [2_000, 5_000], ...IDEMPOTENT },
  {
    name: 'kill-random',
    row: 4,
    summary: 'kill -9 random nodes in a loop, and all at once',
    faults: ['kill', 'kill', 'kill-all'],
    holdMs: [1_000, 6_000],
    quietMs: [3_000, 6_000],
    ...IDEMPOTENT,
    checkControllers: true,
  },
  {
    name: 'bounce',
    row: 4,
    summary: 'clean rolling restarts (SIGTERM, one node at a time) and kill -9 of partition leaders',
    faults: ['rolling-restart', 'kill-leader'],
    holdMs: [1_000, 4_000],
    quietMs: [3_000, 6_000],
    ...IDEMPOTENT,
    checkControllers: true,
  },
  {
    name: 'rolling-restart',
    row: 4,
    summary: 'the rolling restart of docs/operations.md under steady acks=all load: SIGTERM a node, restart it, wait until it is back and every ISR is full, then the next; no send may fail',
    faults: ['rolling-restart'],
    holdMs: [0, 0],
    quietMs: [2_000, 4_000],
    ...IDEMPOTENT,
    noClientErrors: true,
    checkControllers: true,
  },
  {
    name: 'client-link-cut',
    row: 5,
    summary: 'cut client-to-leader connections mid-request (reset_peer, limit_data)',
    faults: ['reset-client-leader'],
    holdMs: [2_000, 6_000],
    quietMs: [1_000, 3_000],
    ...IDEMPOTENT,
  },
  {
    name: 'client-answer-cut',
    row: 5,
    summary: 'the leader writes, the answer to the client is lost (a downstream timeout or limit_data): the idempotent producer resends and the batch is written once',
    faults: ['drop-client-answers'],
    holdMs: [1_000, 4_000],
    quietMs: [1_000, 3_000],
    ...IDEMPOTENT,
    negativeControl: NO_IDEMPOTENCE,
  },
  {
    name: 'one-way-ring',
    row: 6,
    summary: 'one-way partitions and ring (bridge) partitions between brokers',
    faults: ['one-way', 'bridge'],
    holdMs: [3_000, 10_000],
    quietMs: [2_000, 5_000],
    ...IDEMPOTENT,
    checkControllers: true,
  },
  {
    name: 'lose-unfsynced-one',
    row: 7,
    summary: 'one node loses its un-fsynced writes while another is paused',
    faults: ['lose-unfsynced'],
    holdMs: [1_000, 4_000],
    quietMs: [4_000, 8_000],
    ...IDEMPOTENT,
    fsyncJournal: true,
    noNegativeControl:
      'one node in three loses its page cache while one other is paused, so the third always holds every acknowledged write, whatever the flush policy; the unsafe setting once failed replicas-agree here through a recovery bug (the victim kept a hole), which recovery now catches as an offset gap and repairs from the leader',
  },
  {
    name: 'lose-unfsynced-all',
    row: 8,
    summary: 'every node loses its un-fsynced writes at once',
    faults: ['lose-unfsynced-all'],
    holdMs: [500, 2_000],
    quietMs: [6_000, 10_000],
    ...IDEMPOTENT,
    fsyncJournal: true,
    negativeControl: NO_FSYNC_BEFORE_ACK,
  },
  {
    name: 'torn-tail',
    row: 9,
    summary: 'ISR down to one (min.insync.replicas=1, so it keeps writing), it loses power mid-write, the others return',
    faults: ['torn-tail'],
    holdMs: [500, 1_500],
    quietMs: [6_000, 10_000],
    ...IDEMPOTENT,
    fsyncJournal: true,
    minInsync: 1,
    fsyncDelayMs: 40,
    ...FIVE_NODES,
    negativeControl: NO_FSYNC_BEFORE_ACK,
  },
  {
    name: 'kill-leader-twice',
    row: 10,
    summary: 'kill the leader, then the new leader as soon as it is elected',
    faults: ['kill-leader-twice'],
    holdMs: [1_000, 4_000],
    quietMs: [4_000, 8_000],
    ...IDEMPOTENT,
  },
  {
    name: 'corrupt-minority',
    row: 11,
    summary: 'flip bits in or truncate a segment on a minority, then restart it',
    faults: ['corrupt-minority'],
    holdMs: [2_000, 5_000],
    quietMs: [4_000, 8_000],
    ...IDEMPOTENT,
    noNegativeControl:
      "what catches the damage (CRC checks of every segment after an unclean shutdown, a damaged replica out of the ISR and leadership) is code, not a setting; the checkers' own tests cover a replica that differs",
  },
  {
    name: 'disk-full',
    row: 12,
    summary: "fill one node's disk (a small tmpfs), then free it",
    faults: ['disk-full'],
    holdMs: [2_000, 6_000],
    quietMs: [3_000, 6_000],
    ...IDEMPOTENT,
    tmpfsNode1MiB: 256,
    noNegativeControl: 'a full disk fails writes before they are acknowledged under either flush policy; no setting acknowledges a write its leader could not write',
  },
  {
    name: 'latency-skew',
    row: 13,
    summary: '100 ± 50 ms on every link, bandwidth limits, node clocks skewed by seconds and jumping forward and back',
    faults: ['latency', 'bandwidth', 'clock-jump'],
    holdMs: [4_000, 10_000],
    quietMs: [2_000, 4_000],
    ...IDEMPOTENT,
    clockSkewMs: [0, 7_000, -13_000],
  },
  {
    name: 'reassign-under-faults',
    row: 14,
    summary: "move a replica to a broker outside the partition's replica set (4 nodes, 3 controllers) while nodes are killed and partitioned",
    faults: ['reassign', 'kill', 'partition-leader'],
    holdMs: [2_000, 6_000],
    quietMs: [3_000, 6_000],
    ...IDEMPOTENT,
    nodes: 4,
    controllers: 3,
  },
  {
    name: 'txn-pause-commit',
    row: 15,
    summary: "SIGSTOP or kill -9 a transactional producer mid-commit, or SIGSTOP its coordinator's broker; transactions with random aborts",
    faults: ['pause-txn-client', 'kill-txn-client', 'pause-txn-coordinator'],
    holdMs: [1_000, 9_000],
    quietMs: [2_000, 5_000],
    ...TRANSACTIONAL,
    negativeControl: READS_UNCOMMITTED,
  },
  {
    name: 'txn-slow-coordinator',
    row: 16,
    summary: "delay the client's link to the transaction coordinator, or to a partition leader that is not the coordinator (late produce, late end)",
    faults: ['slow-txn-link'],
    holdMs: [2_000, 8_000],
    quietMs: [1_000, 3_000],
    ...TRANSACTIONAL,
    negativeControl: LSO_AT_HW,
  },
  {
    name: 'txn-kill-after-commit',
    row: 17,
    summary: "the coordinator's answers are lost after it decided (requests still arrive), then it is killed -9: retried commits go to the next coordinator",
    faults: ['kill-txn-coordinator-after-commit'],
    holdMs: [1_000, 4_000],
    quietMs: [3_000, 6_000],
    ...TRANSACTIONAL,
    negativeControl: ABORTS_COMMIT,
  },
  {
    name: 'txn-zombie',
    row: 18,
    summary: 'a transactional producer is paused and a second one starts with the same transactional id; the first is resumed and must be fenced',
    faults: ['zombie'],
    holdMs: [2_000, 8_000],
    quietMs: [2_000, 4_000],
    ...TRANSACTIONAL,
    negativeControl: ABORTS_COMMIT,
  },
  {
    name: 'steady',
    row: 19,
    summary: 'no fault at all: no uncommitted read, no bogus offset, no stuck client',
    faults: [],
    holdMs: [0, 0],
    quietMs: [5_000, 5_000],
    ...IDEMPOTENT,
    checkControllers: true,
  },
  {
    name: 'copy-job-bounces',
    row: 20,
    summary: 'a transactional copy job (cairn copy chaos → chaos-out) killed -9 and restarted cleanly, while brokers are killed -9 and restarted one by one',
    faults: ['kill-copy-job', 'restart-copy-job', 'kill-copy-job', 'kill', 'rolling-restart'],
    holdMs: [1_000, 4_000],
    quietMs: [2_000, 4_000],
    ...IDEMPOTENT,
    flags: TXN_FLAGS,
    copyJob: true,
    negativeControl: ABORT_MARKERS_LOST,
  },
  {
    name: 'group-coordinator',
    row: 21,
    summary: "kill -9 or SIGSTOP the group coordinator's broker; kill -9, SIGSTOP, close and add members of a group reading six partitions",
    faults: ['kill-coordinator', 'pause-coordinator', 'kill-member', 'pause-member', 'member-leaves', 'member-joins'],
    holdMs: [1_000, 8_000],
    quietMs: [2_000, 5_000],
    ...IDEMPOTENT,
    partitions: 6,
    group: true,
    flags: GROUP_FLAGS,
    negativeControl: {
      setting: 'members commit what poll returned before processing it (at most once)',
      flags: {},
      member: { commitBeforeProcessing: true },
      faults: ['kill-member'],
      expect: 'group-coverage',
    },
  },
  {
    name: 'controller-failover',
    row: 22,
    summary: 'isolate or kill the controller leader while metadata changes',
    faults: ['partition-controller', 'kill', 'reassign'],
    holdMs: [2_000, 6_000],
    quietMs: [3_000, 6_000],
    ...IDEMPOTENT,
    checkControllers: true,
  },
  {
    name: 'mixed',
    row: 0,
    summary: 'every fault above, on one seeded schedule',
    faults: [
      'partition-leader',
      'partition-controller',
      'split-majority',
      'one-way',
      'bridge',
      'pause',
      'kill',
      'kill-leader',
      'kill-leader-twice',
      'rolling-restart',
      'reset-client-leader',
      'drop-client-answers',
      'latency',
      'clock-jump',
      'lose-unfsynced',
      'torn-tail',
      'corrupt-minority',
    ],
    holdMs: [1_000, 6_000],
    quietMs: [2_000, 5_000],
    ...IDEMPOTENT,
    fsyncJournal: true,
    checkControllers: true,
  },
];

/** The short selection CI runs (a few minutes in all). */
export const SMOKE = ['partition-leader', 'kill-random', 'lose-unfsynced-all', 'group-coordinator', 'txn-zombie'];

/** The negative controls CI runs: each must fail with its checker. */
export const SMOKE_CONTROLS = ['lose-unfsynced-all', 'txn-zombie'];

export function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario "${name}"; npm run chaos -- --list`);
  return s;
}
