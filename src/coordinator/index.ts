/** The coordinator layer: the group coordinator's pure state machine over `__consumer_offsets` records, its assignors and reconciliation. Pure; the shell will be coordinator/io. */
export * from './assignors';
export * from './group-coordinator';
export * from './group-messages';
export * from './group-state';
export * from './reconcile';
export * from './group-record-codec';
export * from './transaction-coordinator';
export * from './txn-record-codec';
export * from './txn-state';
