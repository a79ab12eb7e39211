export * from './batch';
export * from './crc32c';
export * from './encoding';
export * from './validate';
export * from './rewrite';
export * from './control';
export * from './aborted-filter';
