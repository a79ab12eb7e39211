import { describe, expect, it } from 'vitest';
import type { AclBinding } from '../../../src/metadata/records';
import { authorize, filterMatches, validateBinding, type Requirement } from '../../../src/security/acl';

const allow = (principal: string, operation: string, resourceType: string, resourceName: string, patternType = 'literal', host = '*'): AclBinding =>
  validateBinding({ principal, operation, resourceType, resourceName, patternType, host, permission: 'allow' });
const deny = (principal: string, operation: string, resourceType: string, resourceName: string): AclBinding =>
  validateBinding({ principal, operation, resourceType, resourceName, permission: 'deny' });
const topic = (name: string, operation: AclBinding['operation']): Requirement => ({ resource: { type: 'topic', name }, operation });

function may(acls: AclBinding[], principal: string, r: Requirement, host = '10.0.0.1', opts: { superUsers?: string[]; open?: boolean } = {}): boolean {
  return authorize({ acls, superUsers: new Set(opts.superUsers ?? []), allowEveryoneIfNoAclFound: opts.open ?? false }, principal, host, r);
}

describe('authorize (Kafka StandardAuthorizer rules)', () => {
  it('needs an allow; Write implies Describe but not Read', () => {
    const acls = [allow('User:alice', 'Write', 'topic', 'orders')];
    expect(may(acls, 'User:alice', topic('orders', 'Write'))).toBe(true);
    expect(may(acls, 'User:alice', topic('orders', 'Describe'))).toBe(true);
    expect(may(acls, 'User:alice', topic('orders', 'Read'))).toBe(false);
    expect(may(acls, 'User:bob', topic('orders', 'Write'))).toBe(false);
  });

  it('a resource no ACL names follows allow.everyone.if.no.acl.found; super users pass everything', () => {
    expect(may([], 'User:alice', topic('free', 'Read'))).toBe(false);
    expect(may([], 'User:alice', topic('free', 'Read'), '1.2.3.4', { open: true })).toBe(true);
    // Once any ACL names the resource, the default no longer applies.
    expect(may([allow('User:bob', 'Read', 'topic', 'free')], 'User:alice', topic('free', 'Read'), '1.2.3.4', { open: true })).toBe(false);
    expect(may([deny('User:root', 'All', 'topic', 'orders')], 'User:root', topic('orders', 'Delete'), '1.2.3.4', { superUsers: ['User:root'] })).toBe(true);
  });

  it('a deny wins over any allow, for the operation or All', () => {
    const acls = [allow('User:*', 'All', 'topic', '*'), deny('User:mallory', 'Write', 'topic', 'orders')];
    expect(may(acls, 'User:alice', topic('orders', 'Write'))).toBe(true);
    expect(may(acls, 'User:mallory', topic('orders', 'Write'))).toBe(false);
    expect(may(acls, 'User:mallory', topic('orders', 'Read'))).toBe(true);
    expect(may([...acls, deny('User:mallory', 'All', 'topic', 'orders')], 'User:mallory', topic('orders', 'Read'))).toBe(false);
  });

  it('literal, wildcard and prefixed patterns; hosts', () => {
    const acls = [allow('User:alice', 'Read', 'topic', 'team-', 'prefixed'), allow('User:bob', 'Read', 'topic', 'logs', 'literal', '10.0.0.9')];
    expect(may(acls, 'User:alice', topic('team-a', 'Read'))).toBe(true);
    expect(may(acls, 'User:alice', topic('team', 'Read'))).toBe(false);
    expect(may(acls, 'User:bob', topic('logs', 'Read'), '10.0.0.9')).toBe(true);
    expect(may(acls, 'User:bob', topic('logs', 'Read'), '10.0.0.8')).toBe(false);
    expect(may(acls, 'User:bob', { resource: { type: 'group', name: 'logs' }, operation: 'Read' })).toBe(false);
  });
});

describe('validateBinding and filters', () => {
  it('normalizes and refuses what Kafka refuses', () => {
    expect(validateBinding({ principal: 'User:a', operation: 'read', resourceType: 'topic', resourceName: 't', permission: 'ALLOW' })).toMatchObject({
      operation: 'Read',
      permission: 'allow',
      host: '*',
      patternType: 'literal',
    });
    expect(validateBinding({ principal: 'User:a', operation: 'Alter', resourceType: 'cluster', permission: 'allow' }).resourceName).toBe('kafka-cluster');
    expect(() => validateBinding({ principal: 'User:a', operation: 'Write', resourceType: 'group', resourceName: 'g', permission: 'allow' })).toThrow(/does not apply to a group/);
    expect(() => validateBinding({ principal: 'alice', operation: 'Read', resourceType: 'topic', resourceName: 't', permission: 'allow' })).toThrow(/principal/);
    expect(() => validateBinding({ principal: 'User:a', operation: 'Read', resourceType: 'topic', resourceName: '*', patternType: 'prefixed', permission: 'allow' })).toThrow(/wildcard/);
    expect(() => validateBinding({ principal: 'User:a', operation: 'Read', resourceType: 'topic', resourceName: 't', host: 'example.com', permission: 'allow' })).toThrow(/host/);
    expect(() => validateBinding({ principal: 'User:a', operation: 'Fly', resourceType: 'topic', resourceName: 't', permission: 'allow' })).toThrow(/operation/);
  });

  it('filters match fields, and "match" finds the bindings covering a name', () => {
    const lit = allow('User:a', 'Read', 'topic', 'team-a');
    const pre = allow('User:a', 'Read', 'topic', 'team-', 'prefixed');
    const star = allow('User:a', 'Read', 'topic', '*');
    const other = allow('User:b', 'Write', 'topic', 'x');
    const all = [lit, pre, star, other];
    expect(all.filter((b) => filterMatches({}, b))).toHaveLength(4);
    expect(all.filter((b) => filterMatches({ principal: 'User:b' }, b))).toEqual([other]);
    expect(all.filter((b) => filterMatches({ resourceName: 'team-a' }, b))).toEqual([lit]);
    expect(all.filter((b) => filterMatches({ resourceName: 'team-a', patternType: 'match' }, b))).toEqual([lit, pre, star]);
    expect(all.filter((b) => filterMatches({ patternType: 'prefixed' }, b))).toEqual([pre]);
  });
});
