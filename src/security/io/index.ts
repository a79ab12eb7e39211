export * from './tls';
export * from './certificates';
export * from './dev-certificates';
