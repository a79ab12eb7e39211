import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '../../../src/common';
import { decodeGroupRecord, encodeGroupRecord, type GroupRecord, offsetsPartitionFor } from '../../../src/coordinator';

const records: GroupRecord[] = [
  { kind: 'group', groupId: 'g', value: { epoch: 3, topics: { orders: 6 } } },
  { kind: 'group', groupId: 'g', value: null },
  { kind: 'targetEpoch', groupId: 'g', value: 3 },
  { kind: 'member', groupId: 'g', memberId: 'm', value: { instanceId: null, clientId: 'c', clientHost: 'h', topics: ['orders'], rebalanceTimeoutMs: 300000, serverAssignor: 'range' } },
  { kind: 'target', groupId: 'g', memberId: 'm', value: { v: [0, 2], orders: [1] } },
  { kind: 'current', groupId: 'g', memberId: 'm', value: { memberEpoch: 3, previousMemberEpoch: 2, state: 'unrevoked', assigned: { orders: [1] }, pendingRevocation: { orders: [2] } } },
  { kind: 'current', groupId: 'g', memberId: 'm', value: null },
  { kind: 'offset', groupId: 'g', topic: 'orders', partition: 4, value: { offset: 42, leaderEpoch: 7, metadata: 'x', commitTimestampMs: 1700000000000 } },
  { kind: 'offset', groupId: 'g', topic: 'orders', partition: 4, value: null },
];

describe('group record codec', () => {
  it('decodes what it encodes, tombstones as null values, keys equal for one thing', () => {
    for (const r of records) {
      const { key, value } = encodeGroupRecord(r);
      expect(decodeGroupRecord(key, value)).toEqual(r);
    }
    expect(encodeGroupRecord(records[0]!).key).toEqual(encodeGroupRecord(records[1]!).key);
  });

  it('refuses garbage with CORRUPT_MESSAGE, never a half-read record', () => {
    const good = encodeGroupRecord(records[5]!);
    const bad: [Buffer | null, Buffer | null][] = [
      [null, good.value],
      [Buffer.from('not json'), good.value],
      [Buffer.from('[2,"current","g","m"]'), good.value],
      [Buffer.from('[1,"mystery","g"]'), null],
      [Buffer.from('[1,"current","","m"]'), good.value],
      [good.key, Buffer.from('{"v":1,"memberEpoch":"3"}')],
      [good.key, Buffer.from('{"v":1,"memberEpoch":3,"previousMemberEpoch":2,"state":"dancing","assigned":{},"pendingRevocation":{}}')],
      [good.key, Buffer.from('{"v":1,"memberEpoch":3,"previousMemberEpoch":2,"state":"stable","assigned":{"t":[1.5]},"pendingRevocation":{}}')],
      [Buffer.from('[1,"offset","g","t",-0.5]'), null],
    ];
    for (const [k, v] of bad) {
      let err: unknown;
      try {
        decodeGroupRecord(k, v);
      } catch (e) {
        err = e;
      }
      expect(err, `${k?.toString()} ${v?.toString()}`).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).toBe(ErrorCode.CORRUPT_MESSAGE);
    }
  });

  it("places a group where Kafka does: abs(Java's String.hashCode) % partitions", () => {
    // Java: "my-group".hashCode() = -1906497762 and "polygenelubricants".hashCode() = Integer.MIN_VALUE
    // (worked out apart from this code: h = 31 * h + c over the UTF-16 units, in int32).
    expect(offsetsPartitionFor('my-group', 50)).toBe(1906497762 % 50);
    expect(offsetsPartitionFor('polygenelubricants', 50)).toBe(0);
    expect(offsetsPartitionFor('', 16)).toBe(0);
  });
});
