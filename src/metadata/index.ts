/** The metadata layer: metadata records, the MetadataImage they replay into, the MetadataLog port and the publisher. Pure. */
export * from './image';
export * from './metadata-log';
export * from './metadata-publisher';
export * from './records';
