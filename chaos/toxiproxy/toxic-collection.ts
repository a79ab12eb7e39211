import type { Logger } from '../../src/common/logger';
import { ErrInvalidStream, ErrInvalidToxicType, ErrToxicAlreadyExists, ErrToxicNotFound } from './errors';
import { asObject, readFloat, readInteger, readString, typeError } from './json-body';
import type { Connection } from './link';
import type { Direction, ToxicWrapper } from './stage';
import { TOXIC_TYPES, isToxicType } from './toxics';

/** A toxic as the API returns it, fields in Toxiproxy's order. */
export interface ToxicJson {
  attributes: Record<string, number>;
  name: string;
  type: string;
  stream: string;
  toxicity: number;
}

export function toxicJson(toxic: ToxicWrapper): ToxicJson {
  return {
    attributes: { ...toxic.attributes },
    name: toxic.name,
    type: toxic.type,
    stream: toxic.stream,
    toxicity: toxic.toxicity,
  };
}

/** Toxiproxy's stream.ParseDirection: case-insensitive. */
function parseDirection(stream: string): Direction | undefined {
  const lower = stream.toLowerCase();
  return lower === 'upstream' || lower === 'downstream' ? lower : undefined;
}

/**
 * `attributes` decoded onto `base` like Go decodes JSON into the toxic's struct: listed fields
 * replace, absent or null ones keep their value, unknown ones are ignored.
 */
function decodeAttributes(type: string, value: unknown, base: Record<string, number>): Record<string, number> {
  const spec = TOXIC_TYPES[type]!;
  const attributes = { ...base };
  if (value === undefined || value === null) return attributes;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(value, 'struct field ToxicWrapper.attributes', `toxics.${spec.goStruct}`);
  }
  const obj = value as Record<string, unknown>;
  for (const [field, goType] of spec.fields) {
    const decoded = readInteger(obj, field, `${spec.goStruct}.attributes`, goType);
    if (decoded !== undefined) attributes[field] = decoded;
  }
  return attributes;
}

function zeroAttributes(type: string): Record<string, number> {
  const attributes: Record<string, number> = {};
  for (const [field] of TOXIC_TYPES[type]!.fields) attributes[field] = 0;
  return attributes;
}

/**
 * A proxy's toxics, one ordered chain per direction (Toxiproxy's ToxicCollection). Every change is
 * applied to the proxy's open connections at once: new toxics go to the end of each link's chain.
 */
export class ToxicCollection {
  private readonly chains: Record<Direction, ToxicWrapper[]> = { upstream: [], downstream: [] };

  constructor(
    private readonly connections: () => Iterable<Connection>,
    private readonly logger: Logger,
  ) {}

  /** Upstream toxics first, then downstream, each in the order added. */
  list(): ToxicWrapper[] {
    return [...this.chains.upstream, ...this.chains.downstream];
  }

  chain(direction: Direction): readonly ToxicWrapper[] {
    return [...this.chains[direction]];
  }

  get(name: string): ToxicWrapper | undefined {
    return this.list().find((toxic) => toxic.name === name);
  }

  /** POST /proxies/{proxy}/toxics, with the defaults and checks of AddToxicJson. */
  add(body: unknown): ToxicWrapper {
    const obj = asObject(body, 'toxics.ToxicWrapper');
    const type = readString(obj, 'type', 'ToxicWrapper') ?? '';
    const stream = readString(obj, 'stream', 'ToxicWrapper') ?? 'downstream';
    const toxicity = readFloat(obj, 'toxicity', 'ToxicWrapper') ?? 1;
    let name = readString(obj, 'name', 'ToxicWrapper') ?? '';
    const rawAttributes = obj['attributes'];
    if (rawAttributes !== undefined && rawAttributes !== null && (typeof rawAttributes !== 'object' || Array.isArray(rawAttributes))) {
      throw typeError(rawAttributes, 'struct field ToxicWrapper.attributes', 'toxics.Toxic');
    }

    const direction = parseDirection(stream);
    if (direction === undefined) throw ErrInvalidStream;
    if (name === '') name = `${type}_${stream}`;
    if (!isToxicType(type)) throw ErrInvalidToxicType;
    if (this.get(name) !== undefined) throw ErrToxicAlreadyExists;
    const attributes = decodeAttributes(type, rawAttributes, zeroAttributes(type));

    const toxic: ToxicWrapper = { name, type, stream, direction, toxicity, attributes };
    this.chains[direction].push(toxic);
    for (const connection of this.connections()) connection.link(direction).addToxic(toxic);
    this.logger.info({ toxic: name, type, stream, toxicity, attributes }, 'toxic added');
    return toxic;
  }

  /** POST/PATCH /proxies/{proxy}/toxics/{toxic}: only attributes and toxicity can change. */
  update(name: string, body: unknown): ToxicWrapper {
    const toxic = this.get(name);
    if (toxic === undefined) throw ErrToxicNotFound;
    const obj = asObject(body, 'struct { Attributes interface {}; Toxicity float32 }');
    const attributes = decodeAttributes(toxic.type, obj['attributes'], toxic.attributes);
    const toxicity = readFloat(obj, 'toxicity', 'Toxicity') ?? toxic.toxicity;

    toxic.attributes = attributes;
    toxic.toxicity = toxicity;
    for (const connection of this.connections()) connection.link(toxic.direction).updateToxic(toxic);
    this.logger.info({ toxic: name, toxicity, attributes }, 'toxic updated');
    return toxic;
  }

  remove(name: string): void {
    const toxic = this.get(name);
    if (toxic === undefined) throw ErrToxicNotFound;
    this.removeToxic(toxic);
  }

  /** Removes every toxic (POST /reset). */
  reset(): void {
    for (const toxic of this.list()) this.removeToxic(toxic);
  }

  private removeToxic(toxic: ToxicWrapper): void {
    const chain = this.chains[toxic.direction];
    const index = chain.indexOf(toxic);
    if (index < 0) throw new Error(`toxic ${toxic.name} is missing from its ${toxic.direction} chain`);
    chain.splice(index, 1);
    for (const connection of this.connections()) connection.link(toxic.direction).removeToxic(toxic);
    this.logger.info({ toxic: toxic.name }, 'toxic removed');
  }
}
