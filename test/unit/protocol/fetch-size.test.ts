import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { protoRoot } from '../../../src/protocol/io/rpc';
import { encodedRecordBytes } from '../../../src/server/fetch-handler';

const bytes = fc.option(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  { nil: null },
);

describe('the encoded size of a decoded record (what bounds a plain-path fetch response)', () => {
  it('equals what protobuf encodes, for any key, value, headers, offset and timestamp', () => {
    const Result = protoRoot().lookupType('cairn.v1.FetchPartitionResult');
    fc.assert(
      fc.property(
        bytes,
        bytes,
        fc.array(fc.record({ key: fc.string({ maxLength: 40 }), value: bytes }), { maxLength: 4 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 40 })),
        fc.oneof(fc.constant(0), fc.constant(-1), fc.integer({ min: 0, max: 2 ** 45 })),
        (key, value, headers, offset, timestamp) => {
          const r = { offset, timestamp, key, value, headers };
          const msg = { records: [{ offset, timestampMs: timestamp, key, value, headers }] };
          expect(encodedRecordBytes(r)).toBe(Result.encode(msg).finish().length);
        },
      ),
      { numRuns: 500, seed: 20261130 },
    );
  });
});
