import { CairnError, ErrorCode } from './errors';

/**
 * Topic-level configuration, with Kafka's names and defaults where Kafka has one. Values arrive as
 * strings (from the CLI, the wire and the metadata log) and are parsed and range-checked here, in
 * one place.
 */
export interface LogConfig {
  /** Roll a new segment when the active one would pass this size. */
  segmentBytes: number;
  /** Roll a new segment when the active one is older than this. */
  segmentMs: number;
  /** Delete segments whose newest record is older than this; -1 keeps forever. */
  retentionMs: number;
  /** Delete the oldest segments while the log is larger than this; -1 means no size limit. */
  retentionBytes: number;
  cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  /** Largest record batch accepted, in bytes. */
  maxMessageBytes: number;
  messageTimestampType: 'CreateTime' | 'LogAppendTime';
  /** CreateTime topics: a record timestamp more than this before the broker's clock is refused (KIP-937). */
  messageTimestampBeforeMaxMs: number;
  /** CreateTime topics: a record timestamp more than this after the broker's clock is refused (KIP-937). */
  messageTimestampAfterMaxMs: number;
  /** Bytes of log between two offset-index entries. */
  indexIntervalBytes: number;
  /** How long tombstones survive compaction. */
  deleteRetentionMs: number;
  minCleanableDirtyRatio: number;
  /** acks=all writes need at least this many in-sync replicas. */
  minInsyncReplicas: number;
  uncleanLeaderElectionEnable: boolean;
  /**
   * An idempotent producer that has not written to this partition for this long is forgotten
   * (its next batch must start a new sequence). A broker setting in Kafka
   * (producer.id.expiration.ms); a topic-level override here.
   */
  producerIdExpirationMs: number;
}

interface Spec<K extends keyof LogConfig> {
  field: K;
  parse: (raw: string) => LogConfig[K] | undefined;
  doc: string;
}

/** The largest max.message.bytes a topic may set: also a bound on every batch on disk, checked on read. */
export const MAX_MESSAGE_BYTES_LIMIT = 64 * 1024 * 1024;

const int =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (raw: string) => {
    if (!/^-?\d+$/.test(raw.trim())) return undefined;
    const n = Number(raw);
    return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
  };
const oneOf =
  <T extends string>(...values: T[]) =>
  (raw: string) =>
    values.includes(raw.trim() as T) ? (raw.trim() as T) : undefined;
const bool = (raw: string) => (raw === 'true' ? true : raw === 'false' ? false : undefined);
const ratio = (raw: string) => {
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : undefined;
};
// Kafka's unbounded default is Long.MAX_VALUE (9223372036854775807); past 2^53 a JS number cannot
// count milliseconds exactly, and a window that wide is unbounded anyway.
const long = (raw: string) => {
  const t = raw.trim();
  if (!/^\d+$/.test(t)) return undefined;
  return Math.min(Number(t), Number.MAX_SAFE_INTEGER);
};
const durationOrInfinite = (raw: string) => (raw.trim() === '-1' ? -1 : int(1)(raw));

export const TOPIC_CONFIGS: { [name: string]: Spec<keyof LogConfig> } = {
  'segment.bytes': { field: 'segmentBytes', parse: int(14, 2 ** 31 - 1), doc: 'segment file size before a roll' },
  'segment.ms': { field: 'segmentMs', parse: int(1), doc: 'segment age before a roll' },
  'retention.ms': { field: 'retentionMs', parse: durationOrInfinite, doc: 'age after which old segments are deleted (-1: forever)' },
  'retention.bytes': { field: 'retentionBytes', parse: durationOrInfinite, doc: 'partition size above which old segments are deleted (-1: no limit)' },
  'cleanup.policy': {
    field: 'cleanupPolicy',
    parse: (raw) => oneOf('delete', 'compact', 'compact,delete')(raw.replace(/\s/g, '') === 'delete,compact' ? 'compact,delete' : raw.replace(/\s/g, '')),
    doc: 'delete, compact, or compact,delete',
  },
  'max.message.bytes': { field: 'maxMessageBytes', parse: int(64, MAX_MESSAGE_BYTES_LIMIT), doc: 'largest record batch accepted' },
  'message.timestamp.type': { field: 'messageTimestampType', parse: oneOf('CreateTime', 'LogAppendTime'), doc: 'CreateTime (producer clock) or LogAppendTime (broker clock)' },
  'message.timestamp.before.max.ms': { field: 'messageTimestampBeforeMaxMs', parse: long, doc: 'CreateTime: largest allowed age of a record timestamp, in ms (default unbounded)' },
  'message.timestamp.after.max.ms': { field: 'messageTimestampAfterMaxMs', parse: long, doc: 'CreateTime: how far a record timestamp may be ahead of the broker clock, in ms' },
  'index.interval.bytes': { field: 'indexIntervalBytes', parse: int(0), doc: 'log bytes between offset-index entries' },
  'delete.retention.ms': { field: 'deleteRetentionMs', parse: int(0), doc: 'how long tombstones survive compaction' },
  'min.cleanable.dirty.ratio': { field: 'minCleanableDirtyRatio', parse: ratio, doc: 'share of uncompacted bytes that triggers compaction' },
  'min.insync.replicas': { field: 'minInsyncReplicas', parse: int(1, 100), doc: 'in-sync replicas an acks=all write needs' },
  'unclean.leader.election.enable': { field: 'uncleanLeaderElectionEnable', parse: bool, doc: 'allow an out-of-sync replica to lead (may lose data)' },
  'producer.id.expiration.ms': {
    field: 'producerIdExpirationMs',
    parse: int(1),
    doc: "how long a partition remembers an idle idempotent producer's sequences (a broker setting in Kafka; a topic-level override here)",
  },
};

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  cleanupPolicy: 'delete',
  maxMessageBytes: 1024 * 1024 + 12,
  messageTimestampType: 'CreateTime',
  messageTimestampBeforeMaxMs: Number.MAX_SAFE_INTEGER,
  messageTimestampAfterMaxMs: 3_600_000,
  indexIntervalBytes: 4096,
  deleteRetentionMs: 24 * 3600 * 1000,
  minCleanableDirtyRatio: 0.5,
  minInsyncReplicas: 1,
  uncleanLeaderElectionEnable: false,
  producerIdExpirationMs: 86_400_000,
});

/** Throws INVALID_CONFIG naming the bad entry. */
export function validateTopicConfigs(configs: Record<string, string>): void {
  for (const [name, raw] of Object.entries(configs)) {
    const spec = TOPIC_CONFIGS[name];
    if (!spec) throw new CairnError(ErrorCode.INVALID_CONFIG, `unknown topic config "${name}"; known: ${Object.keys(TOPIC_CONFIGS).join(', ')}`);
    if (spec.parse(String(raw)) === undefined) throw new CairnError(ErrorCode.INVALID_CONFIG, `invalid value "${raw}" for ${name} (${spec.doc})`);
  }
}

/** Layers topic overrides over defaults. Configs must have passed validateTopicConfigs. */
export function resolveLogConfig(overrides: Record<string, string> = {}, defaults: Readonly<LogConfig> = DEFAULT_LOG_CONFIG): LogConfig {
  const config: LogConfig = { ...defaults };
  for (const [name, raw] of Object.entries(overrides)) {
    const spec = TOPIC_CONFIGS[name];
    const value = spec?.parse(String(raw));
    if (spec && value !== undefined) (config as unknown as Record<string, unknown>)[spec.field] = value;
  }
  return config;
}

export const isCompacted = (c: LogConfig) => c.cleanupPolicy !== 'delete';
export const deletesByRetention = (c: LogConfig) => c.cleanupPolicy !== 'compact';
