/** The shell of raft/: the driver that runs RaftCore on timers and a metadata log, its file storage and gRPC transport. */
export * from './raft-driver';
export * from './raft-storage';
export * from './raft-transport';
