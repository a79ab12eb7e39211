/** The pure core of security: principals, how certificates map to them, and the ACL rule. */
export * from './principals';
export * from './acl';
export * from './scram';
