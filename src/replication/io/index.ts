/** The shell of replication/: partitions over their PartitionLog, the replica manager, the driver that runs the core's effects, the follower fetch loop and its gRPC transport. */
export * from './partition';
export * from './replica-driver';
export * from './replica-fetcher-transport';
export * from './replica-manager';
