import { describe, expect, it } from 'vitest';
import { CairnError } from '../../../src/common';
import { ErrorCode } from '../../../src/common/errors';
import { silentLogger } from '../../../src/common/io/logger';
import { MetadataImage } from '../../../src/metadata/image';
import { ProducerIdManager } from '../../../src/controller/producer-id-manager';
import { type AllocateProducerIdsResponse, allocateProducerIds, PRODUCER_ID_BLOCK_SIZE } from '../../../src/controller/producer-id-ops';
import { apply, withBrokers } from './helpers';

describe('allocateProducerIds', () => {
  it('hands out consecutive blocks that never overlap, and the counter survives a snapshot of the image', () => {
    let image = withBrokers(3);
    const starts: number[] = [];
    for (const broker of [1, 2, 3, 1]) {
      const r = allocateProducerIds(image, { brokerId: broker, brokerEpoch: broker });
      expect(r.response.errorCode).toBe(ErrorCode.NONE);
      starts.push(r.response.producerIdStart);
      image = apply(image, r.records);
    }
    expect(starts).toEqual([0, 1, 2, 3].map((i) => i * PRODUCER_ID_BLOCK_SIZE));
    // A new controller rebuilds its image from a snapshot: the next block still comes after the last one.
    const restored = apply(MetadataImage.EMPTY, image.toRecords());
    expect(allocateProducerIds(restored, { brokerId: 2, brokerEpoch: 2 }).response.producerIdStart).toBe(4 * PRODUCER_ID_BLOCK_SIZE);
  });

  it('refuses an unregistered broker and a stale broker epoch, writing nothing', () => {
    const image = withBrokers(1);
    const unknown = allocateProducerIds(image, { brokerId: 7, brokerEpoch: 1 });
    expect(unknown.response.errorCode).toBe(ErrorCode.BROKER_ID_NOT_REGISTERED);
    expect(unknown.records).toEqual([]);
    const stale = allocateProducerIds(image, { brokerId: 1, brokerEpoch: 0 });
    expect(stale.response.errorCode).toBe(ErrorCode.STALE_BROKER_EPOCH);
    expect(stale.records).toEqual([]);
  });
});

describe('ProducerIdManager', () => {
  function manager(answers: (AllocateProducerIdsResponse | Error)[]) {
    const calls: number[] = [];
    const m = new ProducerIdManager(() => {
      calls.push(calls.length);
      const a = answers.shift();
      if (a === undefined) return new Promise<AllocateProducerIdsResponse>(() => undefined);
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    }, silentLogger);
    return { m, calls };
  }
  const block = (start: number, len: number): AllocateProducerIdsResponse => ({ errorCode: ErrorCode.NONE, producerIdStart: start, producerIdLen: len });

  it('serves a block in order and fetches the next one before the current runs out', async () => {
    const { m, calls } = manager([block(100, 10), block(500, 10)]);
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push(await m.nextId());
    expect(ids).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 500, 501]);
    expect(calls.length).toBe(2);
  });

  it('turns a refused or failed allocation into a retriable COORDINATOR_NOT_AVAILABLE and recovers on the next call', async () => {
    const { m } = manager([{ errorCode: ErrorCode.NOT_CONTROLLER, producerIdStart: -1, producerIdLen: 0 }, new Error('connection reset'), block(7, 5)]);
    const unavailable = (e: unknown) => e instanceof CairnError && e.code === ErrorCode.COORDINATOR_NOT_AVAILABLE;
    await expect(m.nextId()).rejects.toSatisfy(unavailable);
    await expect(m.nextId()).rejects.toSatisfy(unavailable);
    expect(await m.nextId()).toBe(7);
  });
});
