import { describe, expect, it } from 'vitest';
import { MAX_PRODUCER_EPOCH, PartitionSendState, type SequencedBatch } from '../../../src/client/idempotence';
import { ErrorCode } from '../../../src/common';
import { NO_SEQUENCE } from '../../../src/record';

class B implements SequencedBatch {
  producerId = -1;
  producerEpoch = -1;
  baseSequence = NO_SEQUENCE;
  constructor(
    readonly name: string,
    readonly recordCount: number,
  ) {}
}

const seqs = (bs: B[]) => bs.map((b) => [b.name, b.producerEpoch, b.baseSequence]);

function started(maxInFlight = 5): PartitionSendState<B> {
  const s = new PartitionSendState<B>(true, maxInFlight);
  s.setProducerId({ producerId: 7, producerEpoch: 0 });
  return s;
}

describe('PartitionSendState — sequences', () => {
  it('gives each batch nextSequence at its first send and advances by its record count', () => {
    const s = started();
    const [a, b, c] = [new B('a', 3), new B('b', 1), new B('c', 10)];
    for (const x of [a, b, c]) s.onSend(x);
    expect(seqs([a, b, c])).toEqual([
      ['a', 0, 0],
      ['b', 0, 3],
      ['c', 0, 4],
    ]);
    expect(s.nextSequence).toBe(14);
    expect(a.producerId).toBe(7);
  });

  it('wraps from 2^31 - 1 to 0', () => {
    const s = started();
    s.nextSequence = 2 ** 31 - 2;
    const [a, b] = [new B('a', 5), new B('b', 1)];
    s.onSend(a);
    s.onSend(b);
    expect([a.baseSequence, b.baseSequence, s.nextSequence]).toEqual([2 ** 31 - 2, 3, 4]);
  });

  it('keeps a batch sequence on retry: the failed batches come back in order, unchanged', () => {
    const s = started();
    const bs = ['a', 'b', 'c'].map((n) => new B(n, 2));
    for (const x of bs) s.onSend(x);
    expect(s.onResponse(bs[0]!, ErrorCode.NOT_LEADER_OR_FOLLOWER)).toBe('resend');
    expect(s.canSend()).toBe(false); // nothing new while a failed batch waits
    expect(s.resendDue).toBe(false); // others still in flight
    expect(s.onResponse(bs[1]!, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)).toBe('resend'); // behind an unacknowledged batch: expected
    expect(s.onResponse(bs[2]!, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)).toBe('resend');
    expect(s.resendDue).toBe(true);
    const again = s.takeResends();
    expect(seqs(again)).toEqual([
      ['a', 0, 0],
      ['b', 0, 2],
      ['c', 0, 4],
    ]);
    for (const x of again) s.onSend(x);
    expect(s.nextSequence).toBe(6);
  });

  it('refuses to send a batch ahead of an older one waiting to be resent', () => {
    const s = started();
    const [a, b] = [new B('a', 1), new B('b', 1)];
    s.onSend(a);
    s.onSend(b);
    s.onResponse(a, ErrorCode.REQUEST_TIMED_OUT);
    s.onResponse(b, ErrorCode.NONE);
    const [first] = s.takeResends();
    expect(first).toBe(a);
    expect(() => s.onSend(new B('c', 1))).toThrow(/ahead/);
  });

  it('sends nothing new while 5 batches have gone out since the oldest unacknowledged one (the leader remembers 5)', () => {
    const s = started();
    const bs = ['a', 'b', 'c', 'd', 'e'].map((n) => new B(n, 1));
    for (const x of bs) s.onSend(x);
    for (const x of bs.slice(1)) s.onResponse(x, ErrorCode.NONE); // a's answer is still out (maybe lost)
    expect(s.inFlightCount).toBe(1);
    expect(s.canSend()).toBe(false);
    s.onResponse(bs[0]!, ErrorCode.NONE);
    expect(s.canSend()).toBe(true);
  });

  it('limits batches in flight to maxInFlight', () => {
    const s = started(2);
    s.onSend(new B('a', 1));
    s.onSend(new B('b', 1));
    expect(s.canSend()).toBe(false);
    expect(() => s.onSend(new B('c', 1))).toThrow();
  });
});

describe('PartitionSendState — recovery (KIP-360)', () => {
  it('OUT_OF_ORDER on the first unacknowledged batch fails it, then bumps the epoch and gives up the rest: nothing sent is renumbered', () => {
    const s = started();
    const bs = ['a', 'b', 'c'].map((n) => new B(n, 2));
    for (const x of bs) s.onSend(x);
    expect(s.onResponse(bs[0]!, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)).toBe('fail');
    expect(s.bumpNeeded).toBe(true);
    // b is now the first unacknowledged, but a bump is coming: it waits for it.
    expect(s.onResponse(bs[1]!, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)).toBe('resend');
    expect(s.bumpDue).toBe(false);
    expect(s.onResponse(bs[2]!, ErrorCode.UNKNOWN_PRODUCER_ID)).toBe('resend');
    expect(s.bumpDue).toBe(true);
    expect(s.bumpEpoch()).toBe(true);
    // b and c may be in some replica's log under epoch 0: under new numbers they could be written twice.
    expect(s.takeAbandoned()).toEqual([bs[1], bs[2]]);
    expect(seqs([bs[1]!, bs[2]!])).toEqual([
      ['b', 0, 2],
      ['c', 0, 4],
    ]);
    expect(s.takeAbandoned()).toEqual([]);
    expect([s.resendDue, s.producerEpoch, s.nextSequence, s.canSend()]).toEqual([false, 1, 0, true]);
    // The next new batch starts the new epoch at 0.
    const d = new B('d', 1);
    s.onSend(d);
    expect(seqs([d])).toEqual([['d', 1, 0]]);
  });

  it('UNKNOWN_PRODUCER_ID on the first unacknowledged batch fails it and bumps', () => {
    const s = started();
    const a = new B('a', 1);
    s.onSend(a);
    expect(s.onResponse(a, ErrorCode.UNKNOWN_PRODUCER_ID)).toBe('fail');
    expect(s.bumpDue).toBe(true);
    expect(s.canSend()).toBe(false);
    s.bumpEpoch();
    expect([s.producerEpoch, s.nextSequence, s.canSend()]).toEqual([1, 0, true]);
  });

  it('a sent batch that expires (outcome unknown) bumps the epoch; one never sent does not', () => {
    const s = started();
    const a = new B('a', 1);
    s.onSend(a);
    s.onResponse(a, ErrorCode.REQUEST_TIMED_OUT);
    s.onExpired(a);
    expect(s.bumpDue).toBe(true);
    s.bumpEpoch();
    s.onExpired(new B('never-sent', 1));
    expect(s.bumpNeeded).toBe(false);
  });

  it('a sent batch that expires with later ones unacknowledged leaves them their sequences: an ack of one resolves the gap', () => {
    const s = started();
    const [a, b, c] = [new B('a', 1), new B('b', 1), new B('c', 1)];
    for (const x of [a, b, c]) s.onSend(x);
    for (const x of [a, b, c]) s.onResponse(x, ErrorCode.REQUEST_TIMED_OUT);
    // a's delivery timeout passes; b and c, later, may have been written with it: no renumbering.
    s.onExpired(a);
    expect([s.bumpNeeded, s.unresolvedGap]).toEqual([false, true]);
    expect(s.takeResends()).toEqual([b, c]);
    expect(seqs([b, c])).toEqual([
      ['b', 0, 1],
      ['c', 0, 2],
    ]);
    s.onSend(b);
    expect(s.onResponse(b, ErrorCode.NONE)).toBe('acked');
    expect([s.bumpNeeded, s.unresolvedGap]).toEqual([false, false]);
  });

  it('…and OUT_OF_ORDER_SEQUENCE_NUMBER on the first of them says this leader has a gap: bump, and give them up', () => {
    const s = started();
    const [a, b, c] = [new B('a', 1), new B('b', 1), new B('c', 1)];
    for (const x of [a, b, c]) s.onSend(x);
    for (const x of [a, b, c]) s.onResponse(x, ErrorCode.NETWORK_EXCEPTION);
    s.onExpired(a);
    s.takeResends();
    s.onSend(b);
    s.onSend(c);
    expect(s.onResponse(b, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)).toBe('resend');
    expect(s.onResponse(c, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)).toBe('resend');
    expect(s.bumpDue).toBe(true);
    s.bumpEpoch();
    // The leader that wrote a, b and c may lead again: resent as epoch 1, 0.. they would be there twice.
    expect(s.takeAbandoned()).toEqual([b, c]);
    expect(s.resendDue).toBe(false);
  });

  it('INVALID_PRODUCER_EPOCH fails the batch without a bump (this producer was fenced)', () => {
    const s = started();
    const a = new B('a', 1);
    s.onSend(a);
    expect(s.onResponse(a, ErrorCode.INVALID_PRODUCER_EPOCH)).toBe('fail');
    expect(s.bumpNeeded).toBe(false);
  });

  it('at epoch 32767 the bump asks for a new id instead; the new id starts at 0 and gives up what was sent', () => {
    const s = new PartitionSendState<B>(true, 5);
    s.setProducerId({ producerId: 7, producerEpoch: MAX_PRODUCER_EPOCH });
    const [a, b] = [new B('a', 1), new B('b', 3)];
    s.onSend(a);
    s.onSend(b);
    s.onResponse(a, ErrorCode.UNKNOWN_PRODUCER_ID);
    s.onResponse(b, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(s.bumpEpoch()).toBe(false);
    expect([s.producerId, s.producerEpoch]).toEqual([7, MAX_PRODUCER_EPOCH]);
    expect(s.canSend()).toBe(false);
    expect(s.takeAbandoned()).toEqual([]);
    s.setProducerId({ producerId: 8, producerEpoch: 0 });
    expect(s.takeAbandoned()).toEqual([b]);
    expect([s.producerId, s.producerEpoch, s.nextSequence, s.canSend()]).toEqual([8, 0, 0, true]);
  });

  it('without idempotence: no sequences, retriable errors resend in order, fatal ones fail without a bump', () => {
    const s = new PartitionSendState<B>(false, 5);
    const [a, b] = [new B('a', 1), new B('b', 1)];
    s.onSend(a);
    s.onSend(b);
    expect(a.baseSequence).toBe(NO_SEQUENCE);
    expect(s.onResponse(a, ErrorCode.NOT_LEADER_OR_FOLLOWER)).toBe('resend');
    expect(s.onResponse(b, ErrorCode.MESSAGE_TOO_LARGE)).toBe('fail');
    expect(s.bumpNeeded).toBe(false);
    expect(s.takeResends()).toEqual([a]);
  });
});
