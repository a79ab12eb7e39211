/** The protocol layer: the message types shared by server and client. Pure. */
export * from './messages';
export * from './partition-set';
