/** The controller layer: the pure controller core and its operations (records out, error codes back). Entered here by server/ and the whole-cluster simulation's shells. */
export * from './active-controller';
export * from './broker-ops';
export * from './broker-session-client';
export * from './controller-service';
export * from './isr-ops';
export * from './topic-validation';
export * from './producer-id-manager';
export * from './producer-id-ops';
export * from './security-ops';
