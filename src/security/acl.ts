import type { AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType } from '../metadata';
import { parsePrincipal } from './principals';

/** The one cluster resource's name (Kafka's). */
export const CLUSTER_RESOURCE = 'kafka-cluster';

export const RESOURCE_TYPES: readonly AclResourceType[] = ['topic', 'group', 'transactional-id', 'cluster'];
export const OPERATIONS: readonly AclOperation[] = ['All', 'Read', 'Write', 'Create', 'Delete', 'Alter', 'Describe', 'ClusterAction', 'DescribeConfigs', 'AlterConfigs', 'IdempotentWrite'];

/** The operations that make sense on each resource type (Kafka's table in its authorization docs). */
const VALID_OPERATIONS: Record<AclResourceType, readonly AclOperation[]> = {
  topic: ['All', 'Read', 'Write', 'Create', 'Delete', 'Alter', 'Describe', 'DescribeConfigs', 'AlterConfigs'],
  group: ['All', 'Read', 'Delete', 'Describe'],
  'transactional-id': ['All', 'Write', 'Describe'],
  cluster: ['All', 'Create', 'Alter', 'Describe', 'ClusterAction', 'DescribeConfigs', 'AlterConfigs', 'IdempotentWrite'],
};

/** What an allow of one operation also allows (Kafka: Read, Write, Delete and Alter imply Describe; AlterConfigs implies DescribeConfigs). */
const IMPLIED: Partial<Record<AclOperation, readonly AclOperation[]>> = {
  Read: ['Describe'],
  Write: ['Describe'],
  Delete: ['Describe'],
  Alter: ['Describe'],
  AlterConfigs: ['DescribeConfigs'],
};

export interface Resource {
  type: AclResourceType;
  name: string;
}

/** One thing a request needs: `operation` on `resource`. */
export interface Requirement {
  resource: Resource;
  operation: AclOperation;
}

export interface AuthorizerState {
  acls: Iterable<AclBinding>;
  /** super.users (and cluster members): allowed everything. */
  superUsers: ReadonlySet<string>;
  /** allow.everyone.if.no.acl.found: what a resource no ACL names allows (false by default). */
  allowEveryoneIfNoAclFound: boolean;
}

/** Whether a binding's resource pattern covers `r`: its literal name, the literal wildcard `*`, or a prefix. */
export function coversResource(b: Pick<AclBinding, 'resourceType' | 'resourceName' | 'patternType'>, r: Resource): boolean {
  if (b.resourceType !== r.type) return false;
  if (b.patternType === 'literal') return b.resourceName === '*' || b.resourceName === r.name;
  return r.name.startsWith(b.resourceName);
}

/**
 * Kafka's authorization rule (StandardAuthorizer): super users may do anything; a resource no
 * ACL covers is allowed only with allow.everyone.if.no.acl.found; otherwise a matching deny wins
 * over any allow, and an allow of the operation, of All, or of an operation that implies it
 * (Read → Describe) is needed. An ACL matches the principal or User:*, and the host or *.
 */
export function authorize(state: AuthorizerState, principal: string, host: string, req: Requirement): boolean {
  if (state.superUsers.has(principal)) return true;
  let covered = false;
  let allowed = false;
  for (const b of state.acls) {
    if (!coversResource(b, req.resource)) continue;
    covered = true;
    if ((b.principal !== principal && b.principal !== 'User:*') || (b.host !== '*' && b.host !== host)) continue;
    if (b.permission === 'deny') {
      if (b.operation === 'All' || b.operation === req.operation) return false;
    } else if (b.operation === 'All' || b.operation === req.operation || (IMPLIED[b.operation]?.includes(req.operation) ?? false)) {
      allowed = true;
    }
  }
  return covered ? allowed : state.allowEveryoneIfNoAclFound;
}

export class AclValidationError extends Error {}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+(:\d+\.\d+\.\d+\.\d+)?$/;

/** A binding as a user wrote it, checked and normalized (e.g. `--operation read` → `Read`), or an AclValidationError. */
export function validateBinding(raw: { [K in keyof AclBinding]?: string }): AclBinding {
  const resourceType = raw.resourceType as AclResourceType;
  if (!RESOURCE_TYPES.includes(resourceType)) throw new AclValidationError(`resource type must be one of ${RESOURCE_TYPES.join(', ')}, not "${raw.resourceType ?? ''}"`);
  const patternType = (raw.patternType || 'literal') as AclPatternType;
  if (patternType !== 'literal' && patternType !== 'prefixed') throw new AclValidationError(`pattern type must be literal or prefixed, not "${raw.patternType}"`);
  let resourceName = raw.resourceName ?? '';
  if (resourceType === 'cluster') {
    if (resourceName !== '' && resourceName !== CLUSTER_RESOURCE) throw new AclValidationError(`the cluster resource is named ${CLUSTER_RESOURCE}`);
    resourceName = CLUSTER_RESOURCE;
  }
  if (resourceName === '') throw new AclValidationError('the resource name is empty');
  if (patternType === 'prefixed' && resourceName === '*') throw new AclValidationError('the wildcard "*" is a literal resource name, not a prefix');
  const operation = OPERATIONS.find((o) => o.toLowerCase() === (raw.operation ?? '').toLowerCase());
  if (!operation) throw new AclValidationError(`operation must be one of ${OPERATIONS.join(', ')}, not "${raw.operation ?? ''}"`);
  if (!VALID_OPERATIONS[resourceType].includes(operation)) throw new AclValidationError(`${operation} does not apply to a ${resourceType}; it takes ${VALID_OPERATIONS[resourceType].join(', ')}`);
  const permission = (raw.permission ?? '').toLowerCase() as AclPermission;
  if (permission !== 'allow' && permission !== 'deny') throw new AclValidationError(`permission must be allow or deny, not "${raw.permission ?? ''}"`);
  const principal = raw.principal ?? '';
  try {
    parsePrincipal(principal);
  } catch (err) {
    throw new AclValidationError(`principal: ${(err as Error).message}`);
  }
  const host = raw.host || '*';
  if (host !== '*' && !IPV4.test(host) && !IPV6.test(host)) throw new AclValidationError(`host must be * or an IP address, not "${host}"`);
  return { resourceType, resourceName, patternType, principal, host, operation, permission };
}

/** Which bindings a describe or delete means: empty fields match anything (Kafka's AclBindingFilter). */
export interface AclFilter {
  resourceType?: string;
  resourceName?: string;
  /** '' / 'any', 'literal', 'prefixed', or 'match': every binding that covers `resourceName`. */
  patternType?: string;
  principal?: string;
  host?: string;
  operation?: string;
  permission?: string;
}

export function filterMatches(f: AclFilter, b: AclBinding): boolean {
  const eq = (want: string | undefined, have: string) => !want || want.toLowerCase() === have.toLowerCase();
  if (!eq(f.resourceType, b.resourceType) || !eq(f.principal, b.principal) || !eq(f.host, b.host) || !eq(f.operation, b.operation) || !eq(f.permission, b.permission)) return false;
  const pattern = (f.patternType ?? '').toLowerCase();
  if (pattern === 'match') {
    if (!f.resourceName) return true;
    return coversResource(b, { type: b.resourceType, name: f.resourceName });
  }
  if (pattern !== '' && pattern !== 'any' && pattern !== b.patternType) return false;
  return eq(f.resourceName, b.resourceName);
}

/** The ACL text Kafka's kafka-acls prints: `(principal=User:alice, host=*, operation=Read, permissionType=ALLOW)` on `topic:LITERAL:orders`. */
export function describeBinding(b: AclBinding): string {
  return `${b.permission === 'allow' ? 'Allow' : 'Deny'} ${b.principal} ${b.operation} on ${b.resourceType} ${b.patternType === 'prefixed' ? `${b.resourceName}* (prefixed)` : b.resourceName} from host ${b.host}`;
}
