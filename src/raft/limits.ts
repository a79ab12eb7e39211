/**
 * Bounds of the Raft core (style §3). Every queue and batch the core builds is capped by one of
 * these; the caps are generous for a metadata log and small enough that a single message stays
 * well under gRPC's default 4 MiB limit.
 */

/** Entries carried by one AppendEntries message. */
export const MAX_APPEND_ENTRIES = 64;

/** Data bytes carried by one AppendEntries message. One entry is always sent, however large. */
export const MAX_APPEND_BYTES = 1024 * 1024;

/** Unacknowledged AppendEntries messages per follower while pipelining (progress state `replicate`). */
export const MAX_INFLIGHT_APPENDS = 8;

/** Largest proposal the leader accepts. */
export const MAX_ENTRY_BYTES = 1024 * 1024;

/** The leader refuses proposals while this many entries wait to commit (back-pressure, style §9). */
export const MAX_UNCOMMITTED_ENTRIES = 4096;

/** Committed entries handed to the driver in one `ready()`; the rest follow in the next one. */
export const MAX_COMMITTED_PER_READY = 1024;

/**
 * The largest term or index a message may carry, and the largest term a node campaigns for:
 * 2^52, half of what a double holds exactly, so every accepted value can still grow by one (a
 * forged term of 2^53 - 1 once left no next term, and elections stopped for good).
 */
export const MAX_WIRE_VALUE = 2 ** 52;

/**
 * How far one message may move a node's term. A legitimate term grows by one per election, and
 * a node that slept through a million elections is not a case to serve; a message claiming more
 * is dropped, so a forger needs millions of accepted forgeries to use up the term space.
 */
export const MAX_TERM_JUMP = 2 ** 20;
