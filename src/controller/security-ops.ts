import { ErrorCode, type Random } from '../common';
import { type AccessControlEntryRecord, type MetadataImage, type MetadataRecord, type QuotaEntity, type QuotaKey, quotaEntityKey } from '../metadata';
import type {
  AclBindingMessage,
  AlterClientQuotasRequest,
  AlterClientQuotasResponse,
  AlterUserScramCredentialsRequest,
  AlterUserScramCredentialsResponse,
  CreateAclsRequest,
  CreateAclsResponse,
  DeleteAclsRequest,
  DeleteAclsResponse,
} from '../protocol';
import { AclValidationError, filterMatches, MAX_ITERATIONS, MIN_ITERATIONS, parseMechanism, ScramError, serverCredential, validateBinding } from '../security';
import type { ControllerResult } from './topic-ops';

/** A binding as it goes back on the wire. */
export function bindingMessage(b: AccessControlEntryRecord): AclBindingMessage {
  return { resourceType: b.resourceType, resourceName: b.resourceName, patternType: b.patternType, principal: b.principal, host: b.host, operation: b.operation, permission: b.permission };
}

const sameBinding = (a: AclBindingMessage, b: AclBindingMessage) => (Object.keys(a) as (keyof AclBindingMessage)[]).every((k) => a[k] === b[k]);

/**
 * CreateAcls: each valid binding becomes an AccessControlEntry record with a fresh id, unless an
 * equal one exists (creating an ACL twice is not an error, as in Kafka). An invalid binding gets
 * INVALID_REQUEST with the reason and the others still apply.
 */
export function createAcls(image: MetadataImage, req: CreateAclsRequest, random: Random): ControllerResult<CreateAclsResponse> {
  const records: MetadataRecord[] = [];
  const existing = [...image.acls.values()].map(bindingMessage);
  const results = (req.acls ?? []).map((raw) => {
    try {
      const b = validateBinding(raw);
      const msg = bindingMessage({ type: 'AccessControlEntry', id: '', ...b });
      if (!existing.some((e) => sameBinding(e, msg))) {
        existing.push(msg);
        records.push({ type: 'AccessControlEntry', id: aclId(random), ...b });
      }
      return { errorCode: ErrorCode.NONE, errorMessage: '' };
    } catch (err) {
      if (!(err instanceof AclValidationError)) throw err;
      return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: err.message };
    }
  });
  return { records, response: { results } };
}

function aclId(random: Random): string {
  return Array.from({ length: 4 }, () => Math.floor(random.next() * 2 ** 32).toString(36)).join('-');
}

/** DeleteAcls: every binding each filter matches is removed; the response lists them per filter. */
export function deleteAcls(image: MetadataImage, req: DeleteAclsRequest): ControllerResult<DeleteAclsResponse> {
  const removed = new Set<string>();
  const records: MetadataRecord[] = [];
  const results = (req.filters ?? []).map((f) => {
    const deleted = [...image.acls.values()].filter((b) => filterMatches(f, b));
    for (const b of deleted) {
      if (removed.has(b.id)) continue;
      removed.add(b.id);
      records.push({ type: 'RemoveAccessControlEntry', id: b.id });
    }
    return { errorCode: ErrorCode.NONE, errorMessage: '', deleted: deleted.map(bindingMessage) };
  });
  return { records, response: { results } };
}

/**
 * AlterUserScramCredentials: the controller turns each salted password into StoredKey and
 * ServerKey (the only things stored) and removes deleted credentials. A bad mechanism, an
 * iteration count outside 4096–16384 (Kafka's bounds) or an unknown user to delete fail that user only.
 */
export function alterUserScramCredentials(image: MetadataImage, req: AlterUserScramCredentialsRequest): ControllerResult<AlterUserScramCredentialsResponse> {
  const records: MetadataRecord[] = [];
  const results: AlterUserScramCredentialsResponse['results'] = [];
  for (const d of req.deletions ?? []) {
    try {
      const mechanism = parseMechanism(d.mechanism);
      if (!image.scramCredentials.get(d.name)?.has(mechanism)) {
        results.push({ name: d.name, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: `user "${d.name}" has no ${mechanism} credential` });
        continue;
      }
      records.push({ type: 'RemoveUserScramCredential', name: d.name, mechanism });
      results.push({ name: d.name, errorCode: ErrorCode.NONE, errorMessage: '' });
    } catch (err) {
      if (!(err instanceof ScramError)) throw err;
      results.push({ name: d.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: err.message });
    }
  }
  for (const u of req.upsertions ?? []) {
    try {
      const mechanism = parseMechanism(u.mechanism);
      if (!u.name || u.name.length > 256) throw new ScramError('the user name must be 1-256 characters');
      if (!Number.isInteger(u.iterations) || u.iterations < MIN_ITERATIONS || u.iterations > MAX_ITERATIONS)
        throw new ScramError(`iterations must be ${MIN_ITERATIONS}-${MAX_ITERATIONS}, not ${u.iterations}`);
      const salted = Buffer.from(u.saltedPassword ?? []);
      if (salted.length !== (mechanism === 'SCRAM-SHA-512' ? 64 : 32) || (u.salt ?? []).length < 16) throw new ScramError('the salted password or salt has the wrong length');
      const { storedKey, serverKey } = serverCredential(mechanism, salted);
      records.push({
        type: 'UserScramCredential',
        name: u.name,
        mechanism,
        iterations: u.iterations,
        salt: Buffer.from(u.salt).toString('base64'),
        storedKey: storedKey.toString('base64'),
        serverKey: serverKey.toString('base64'),
      });
      results.push({ name: u.name, errorCode: ErrorCode.NONE, errorMessage: '' });
    } catch (err) {
      if (!(err instanceof ScramError)) throw err;
      results.push({ name: u.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: err.message });
    }
  }
  return { records, response: { results } };
}

export const QUOTA_KEYS: readonly QuotaKey[] = ['producer_byte_rate', 'consumer_byte_rate', 'request_rate'];

/** A quota entity from the wire: each part a name, the default, or absent; at least one part. */
export function quotaEntityFromWire(e: { user?: string; defaultUser?: boolean; clientId?: string; defaultClientId?: boolean }): QuotaEntity {
  const entity: QuotaEntity = {};
  if (e.defaultUser) entity.user = null;
  else if (e.user) entity.user = e.user;
  if (e.defaultClientId) entity.clientId = null;
  else if (e.clientId) entity.clientId = e.clientId;
  return entity;
}

/**
 * AlterClientQuotas: each alteration sets and removes quota values of one entity (a user, a
 * client id, both, or their defaults). An unknown key, a value that is not a positive number or
 * an entity with no part fails that alteration only.
 */
export function alterClientQuotas(image: MetadataImage, req: AlterClientQuotasRequest): ControllerResult<AlterClientQuotasResponse> {
  const records: MetadataRecord[] = [];
  const results = (req.alterations ?? []).map((a) => {
    const entity = quotaEntityFromWire(a.entity ?? {});
    const fail = (errorMessage: string) => ({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage });
    if (quotaEntityKey(entity) === '') return fail('a quota needs a user, a client id, or a default of either');
    const set = Object.entries(a.set ?? {});
    for (const [key, value] of set) {
      if (!QUOTA_KEYS.includes(key as QuotaKey)) return fail(`unknown quota "${key}"; known: ${QUOTA_KEYS.join(', ')}`);
      if (!Number.isFinite(value) || value <= 0) return fail(`${key} must be a positive number, not ${value}`);
    }
    for (const key of a.remove ?? []) if (!QUOTA_KEYS.includes(key as QuotaKey)) return fail(`unknown quota "${key}"; known: ${QUOTA_KEYS.join(', ')}`);
    const current = image.quotas.get(quotaEntityKey(entity))?.values;
    for (const [key, value] of set) records.push({ type: 'ClientQuota', ...entity, key: key as QuotaKey, value });
    for (const key of a.remove ?? []) if (current?.has(key as QuotaKey)) records.push({ type: 'ClientQuota', ...entity, key: key as QuotaKey, value: null });
    return { errorCode: ErrorCode.NONE, errorMessage: '' };
  });
  return { records, response: { results } };
}
