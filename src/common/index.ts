/** The common layer: ports (Clock, Timers, Logger, Random), error codes, branded ids and the topic config schema. Pure; the real clock, timers and logger are common/io. */
export * from './clock';
export * from './errors';
export * from './log-config';
export * from './logger';
export * from './random';
export * from './serial';
export * from './timers';
export * from './types';
export * as TopicPartitionSets from './topic-partitions';
export type { TopicPartitions } from './topic-partitions';
