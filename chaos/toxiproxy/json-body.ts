import { ApiError, ErrBadRequestBody } from './errors';

/**
 * Request-body decoding with the leniency and the errors of Go's encoding/json, which the real
 * Toxiproxy uses: unknown fields are ignored, `null` leaves a field unchanged, a value of the wrong
 * type is a 400 "bad request body: json: cannot unmarshal ...".
 */

export type JsonObject = Record<string, unknown>;

/** Parses a body; an empty body is Go's `EOF`. */
export function parseJsonBody(text: string): unknown {
  if (text.trim().length === 0) throw ApiError.join(ErrBadRequestBody, 'EOF');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw ApiError.join(ErrBadRequestBody, err instanceof Error ? err.message : String(err));
  }
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'boolean') return 'bool';
  return typeof value; // 'string' | 'number'
}

function describe(value: unknown): string {
  return typeof value === 'number' ? `number ${String(value)}` : jsonKind(value);
}

export function typeError(value: unknown, goField: string, goType: string): ApiError {
  return ApiError.join(ErrBadRequestBody, `json: cannot unmarshal ${describe(value)} into Go ${goField} of type ${goType}`);
}

/**
 * The body as an object; `null` decodes to an empty object (Go leaves the struct at its defaults).
 */
export function asObject(value: unknown, goType: string): JsonObject {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(value, 'value', goType);
  return value as JsonObject;
}

export function readString(obj: JsonObject, key: string, struct: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw typeError(value, `struct field ${struct}.${key}`, 'string');
  return value;
}

export function readBool(obj: JsonObject, key: string, struct: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw typeError(value, `struct field ${struct}.${key}`, 'bool');
  return value;
}

/** A float32 field; JSON numbers only. */
export function readFloat(obj: JsonObject, key: string, struct: string): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw typeError(value, `struct field ${struct}.${key}`, 'float32');
  return Math.fround(value);
}

/** An int/int64 field: Go rejects fractions and out-of-range values. */
export function readInteger(obj: JsonObject, key: string, struct: string, goType: string): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw typeError(value, `struct field ${struct}.${key}`, goType);
  }
  return value;
}
