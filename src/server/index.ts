/** The server layer: node configuration and the CairnNode that wires every layer into a process. */
export * from './config';
export * from './node';
