/** The storage layer: partition logs, segments and indexes on a FileSystem port, and the fsync journal. */
export * from './file-system';
export * from './fsync-journal';
export * from './log-manager';
export * from './partition-log';
export * from './slow-fsync';
export * from './producer-state';
export * from './producer-state-manager';
