/** The replication layer: the pure replication core of a broker (roles, ISR, the high watermark, the acks=all wait, follower fetch scheduling) and its types. */
export * from './replica-core';
export * from './replica-types';
