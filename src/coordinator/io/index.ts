/** The coordinator layer's shell: the group coordinators of the `__consumer_offsets` partitions this broker leads. */
export * from './group-coordinator-shell';
export * from './coordinator-partitions';
export * from './txn-verifier';
export * from './transaction-coordinator-shell';
export * from './txn-marker-writer';
