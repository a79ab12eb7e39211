/** The replication layer: the pure per-partition replica core (ISR, roles, fetch scheduling, high watermark) and its types. */
export * from './replica-core';
export * from './replica-types';
