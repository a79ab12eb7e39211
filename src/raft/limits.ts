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
