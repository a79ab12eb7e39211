import { describe, expect, it } from 'vitest';
import { ProducerBatch } from '../../../src/client/producer-batch';
import { Compression, isIntactBatch, readBatchHeader } from '../../../src/record/batch';

describe('ProducerBatch.wireBytes', () => {
  function batch(): ProducerBatch {
    const b = new ProducerBatch('t', 0, 1024, Compression.NONE, 0);
    b.builder.tryAppend(1, null, Buffer.from('a'), undefined);
    b.builder.tryAppend(2, null, Buffer.from('b'), undefined);
    return b;
  }

  it('builds once, at the first send, with the producer id, epoch and sequence, and a valid CRC', () => {
    const b = batch();
    Object.assign(b, { producerId: 7, producerEpoch: 2, baseSequence: 40 });
    const buf = b.wireBytes();
    expect(b.sealed).toBe(true);
    expect(readBatchHeader(buf)).toMatchObject({ producerId: 7, producerEpoch: 2, baseSequence: 40, recordCount: 2 });
    expect(isIntactBatch(buf, 0, buf.length)).toBe(true);
    expect(b.wireBytes()).toBe(buf); // a plain resend: the same bytes
  });

  it('a resend after an epoch bump carries the new epoch and sequence, re-signed', () => {
    const b = batch();
    Object.assign(b, { producerId: 7, producerEpoch: 2, baseSequence: 40 });
    b.wireBytes();
    Object.assign(b, { producerEpoch: 3, baseSequence: 0 });
    const buf = b.wireBytes();
    expect(readBatchHeader(buf)).toMatchObject({ producerId: 7, producerEpoch: 3, baseSequence: 0 });
    expect(isIntactBatch(buf, 0, buf.length)).toBe(true);
  });
});
