/**
 * The byte-level Encoder/Decoder pair every binary format in Cairn is built from (style §5):
 * big-endian fixed-width integers, zigzag varints (Kafka's encoding), length-prefixed bytes.
 *
 * 64-bit fields are carried as JavaScript numbers (see common/types.ts): exact for every value a
 * log can reach, and far cheaper than BigInt on the hot path.
 */

const TWO_32 = 4294967296;

export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

export function writeInt64(buf: Buffer, pos: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  buf.writeInt32BE(hi, pos);
  buf.writeUInt32BE(value - hi * TWO_32, pos + 4);
}

export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

/** Bytes a zigzag varint of `value` takes. */
export function sizeOfVarInt(value: number): number {
  let v = zigzag(value);
  let bytes = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    bytes++;
  }
  return bytes;
}

/** A growable writer. `finish()` returns a view of the bytes written. */
export class Encoder {
  buf: Buffer;
  pos = 0;

  constructor(initialCapacity = 1024) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  ensure(extra: number): void {
    const needed = this.pos + extra;
    if (needed <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = Buffer.allocUnsafe(capacity);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  int64(v: number): this {
    this.ensure(8);
    writeInt64(this.buf, this.pos, v);
    this.pos += 8;
    return this;
  }

  varInt(value: number): this {
    this.ensure(10);
    let v = zigzag(value);
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** A varint length (-1 for null) followed by the bytes. */
  varBytes(bytes: Uint8Array | null): this {
    if (bytes === null) return this.varInt(-1);
    this.varInt(bytes.length);
    return this.raw(bytes);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Thrown by Decoder when the input ends early or holds an impossible value. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** The mirror of Encoder. Reads never run past `end`; byte fields are views, not copies. */
export class Decoder {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.end) throw new DecodeError(`truncated: need ${n} bytes at ${this.pos}, only ${this.end - this.pos} left`);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): number {
    this.need(8);
    const v = readInt64(this.buf, this.pos);
    this.pos += 8;
    return v;
  }

  varInt(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new DecodeError(`truncated varint at ${this.pos}`);
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (result > Number.MAX_SAFE_INTEGER) throw new DecodeError(`varint out of range at ${this.pos}`);
        return unzigzag(result);
      }
      multiplier *= 128;
    }
    throw new DecodeError(`varint longer than 10 bytes at ${this.pos}`);
  }

  raw(length: number): Buffer {
    if (length < 0) throw new DecodeError(`negative length ${length} at ${this.pos}`);
    this.need(length);
    const view = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  varBytes(): Buffer | null {
    const length = this.varInt();
    if (length === -1) return null;
    if (length < -1) throw new DecodeError(`invalid length ${length} at ${this.pos}`);
    return this.raw(length);
  }

  skip(length: number): void {
    this.need(length);
    this.pos += length;
  }
}
