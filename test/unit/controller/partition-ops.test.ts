import { describe, expect, it } from 'vitest';
import { brokerHeartbeat, expireRegistrations, fenceBroker, offlineReplicaChanges, registerBroker } from '../../../src/controller/broker-ops';
import type { MetadataRecord } from '../../../src/metadata/records';
import { electLeader, movePartitionsAwayFrom, preferredLeaderChanges } from '../../../src/controller/partition-ops';
import { ErrorCode } from '../../../src/common/errors';
import { apply, withBrokers, withPartition } from './helpers';

describe('leader election (design brief §5)', () => {
  it('picks the first usable replica in preferred order that is in the ISR', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2, 3], [2, 3], 2);
    expect(electLeader(img, img.partition('t', 0)!, [2, 3], false)).toEqual({ leader: 2, unclean: false, fromElr: false });
    expect(electLeader(img, img.partition('t', 0)!, [2, 3], false, 2)).toEqual({ leader: 3, unclean: false, fromElr: false });
  });

  it('never elects outside the ISR unless unclean election is enabled for the topic', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2, 3], [3], 3);
    img = apply(img, fenceBroker(img, 3, false).records);
    const p = img.partition('t', 0)!;
    expect(p.leader).toBe(-1);
    expect(p.isr).toEqual([3]); // the last in-sync member stays named: it has the newest data
    expect(electLeader(img, p, p.isr, true)).toEqual({ leader: 1, unclean: true, fromElr: false });
    let unclean = withBrokers(3);
    unclean = withPartition(unclean, 'u', [1, 2, 3], [3], 3, { 'unclean.leader.election.enable': 'true' });
    unclean = apply(unclean, fenceBroker(unclean, 3, false).records);
    expect(unclean.partition('u', 0)).toMatchObject({ leader: 1, isr: [1] });
  });

  it('fencing a broker drops it from ISRs, moves its leaderships and bumps the leader epoch only on a leader change', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2, 3], [1, 2, 3], 1);
    img = withPartition(img, 't', [2, 1, 3], [2, 1, 3], 2);
    img = apply(img, fenceBroker(img, 1, false).records);
    expect(img.partition('t', 0)).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1, partitionEpoch: 1 });
    expect(img.partition('t', 1)).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 0, partitionEpoch: 1 });
    expect(img.brokers.get(1)!.fenced).toBe(true);
  });

  it('single-replica partitions of a fenced broker go offline', () => {
    let img = withBrokers(2);
    img = withPartition(img, 't', [2], [2], 2);
    img = apply(img, movePartitionsAwayFrom(apply(img, [{ type: 'BrokerRegistrationChange', brokerId: 2, brokerEpoch: 2, fenced: true }]), 2, false));
    expect(img.partition('t', 0)).toMatchObject({ leader: -1, isr: [2] });
  });

  it('moves leadership back to the preferred replica when it is in sync', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2, 3], [1, 2, 3], 2);
    img = withPartition(img, 't', [3, 1, 2], [1, 2], 1);
    img = apply(img, preferredLeaderChanges(img));
    expect(img.partition('t', 0)!.leader).toBe(1);
    expect(img.partition('t', 1)!.leader).toBe(1); // 3 is not in the ISR: no move
  });
});

describe('broker lifecycle (KIP-631)', () => {
  it('registration: a retry keeps the epoch, a new incarnation gets a larger one and starts fenced, a live duplicate is refused', () => {
    let img = withBrokers(2);
    img = withPartition(img, 't', [2, 1], [2, 1], 2);
    const same = registerBroker(img, { brokerId: 2, incarnationId: 'inc-2', host: 'h', port: 1, rack: null }, true, () => true);
    expect(same).toEqual({ records: [], response: { errorCode: ErrorCode.NONE, brokerEpoch: 2 } });
    expect(registerBroker(img, { brokerId: 2, incarnationId: 'new', host: 'h', port: 1, rack: null }, true, () => true)).toEqual({
      records: [],
      response: expect.objectContaining({ errorCode: ErrorCode.DUPLICATE_BROKER_REGISTRATION, brokerEpoch: -1 }),
    });
    const restarted = registerBroker(img, { brokerId: 2, incarnationId: 'new', host: 'h', port: 1, rack: null }, true, () => false);
    expect(restarted.response.brokerEpoch).toBe(3);
    img = apply(img, restarted.records);
    expect(img.brokers.get(2)).toMatchObject({ fenced: true, epoch: 3 });
    expect(img.partition('t', 0)).toMatchObject({ leader: 1, isr: [1] });
  });

  it('heartbeat: unfences only once caught up, then gives the broker the leaderless partitions it can lead', () => {
    let img = withBrokers(1);
    img = apply(img, [{ type: 'RegisterBroker', brokerId: 2, brokerEpoch: 9, incarnationId: 'x', host: 'h', port: 1, rack: null, fenced: true }]);
    const registeredAt = img.brokers.get(2)!.registeredAtOffset;
    img = withPartition(img, 't', [2], [2], -1);
    const behind = brokerHeartbeat(img, { brokerId: 2, brokerEpoch: 9, incarnationId: 'x', metadataOffset: registeredAt - 1, wantFence: false, wantShutdown: false }, registeredAt, false);
    expect(behind).toEqual({ records: [], response: { errorCode: ErrorCode.NONE, isFenced: true, isCaughtUp: false, shouldShutdown: false } });
    const caughtUp = brokerHeartbeat(img, { brokerId: 2, brokerEpoch: 9, incarnationId: 'x', metadataOffset: registeredAt, wantFence: false, wantShutdown: false }, registeredAt, false);
    img = apply(img, caughtUp.records);
    expect(img.brokers.get(2)!.fenced).toBe(false);
    expect(img.partition('t', 0)!.leader).toBe(2);
    expect(brokerHeartbeat(img, { brokerId: 2, brokerEpoch: 8, incarnationId: 'x', metadataOffset: 99, wantFence: false, wantShutdown: false }, 0, false)).toEqual({
      records: [],
      response: expect.objectContaining({ errorCode: ErrorCode.STALE_BROKER_EPOCH }),
    });
  });

  it('controlled shutdown moves every leadership away before telling the broker it may stop', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2], [1, 2], 1);
    img = withPartition(img, 't', [1, 3], [1, 3], 1);
    const hb = brokerHeartbeat(img, { brokerId: 1, brokerEpoch: 1, incarnationId: 'inc-1', metadataOffset: 100, wantFence: false, wantShutdown: true }, 0, false);
    expect(hb.response.shouldShutdown).toBe(true);
    img = apply(img, hb.records);
    expect(img.brokers.get(1)!.inControlledShutdown).toBe(true);
    expect(img.partition('t', 0)).toMatchObject({ leader: 2, isr: [2] });
    expect(img.partition('t', 1)).toMatchObject({ leader: 3, isr: [3] });
    // A partition with nowhere to go keeps the broker from being told to stop... it stays leaderless instead.
    let lone = withBrokers(1);
    lone = withPartition(lone, 'l', [1], [1], 1);
    const h2 = brokerHeartbeat(lone, { brokerId: 1, brokerEpoch: 1, incarnationId: 'inc-1', metadataOffset: 100, wantFence: false, wantShutdown: true }, 0, false);
    lone = apply(lone, h2.records);
    expect(lone.partition('l', 0)!.leader).toBe(-1);
    expect(h2.response.shouldShutdown).toBe(true);
  });

  it('a heartbeat with the public broker epoch but not the registered incarnation changes nothing (a forged want_shutdown)', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2], [1, 2], 1);
    const forged = { brokerId: 1, brokerEpoch: 1, incarnationId: 'guessed', metadataOffset: 100, wantFence: false, wantShutdown: true };
    expect(brokerHeartbeat(img, forged, 0, false)).toEqual({ records: [], response: expect.objectContaining({ errorCode: ErrorCode.BROKER_ID_NOT_REGISTERED }) });
    expect(brokerHeartbeat(img, { ...forged, incarnationId: '' }, 0, false)).toEqual({ records: [], response: expect.objectContaining({ errorCode: ErrorCode.BROKER_ID_NOT_REGISTERED }) });
  });

  it('a silent, fenced registration that hosts nothing leaves the image; one that hosts a replica stays', () => {
    let img = withBrokers(2);
    img = withPartition(img, 't', [1], [1], 1);
    img = apply(img, [
      { type: 'RegisterBroker', brokerId: 77, brokerEpoch: 10, incarnationId: 'phantom', host: 'h', port: 1, rack: null, fenced: true },
      { type: 'BrokerRegistrationChange', brokerId: 1, brokerEpoch: 1, fenced: true },
    ]);
    const res = expireRegistrations(img, [1, 2, 77]);
    expect(res.response).toEqual([77]); // 1 hosts a replica; 2 is not fenced
    img = apply(img, res.records);
    expect([...img.brokers.keys()].sort()).toEqual([1, 2]);
  });

  it('a broker that heartbeats on without wanting to stop leaves controlled shutdown', () => {
    let img = withBrokers(2);
    img = withPartition(img, 't', [1, 2], [1, 2], 1);
    img = apply(img, brokerHeartbeat(img, { brokerId: 1, brokerEpoch: 1, incarnationId: 'inc-1', metadataOffset: 100, wantFence: false, wantShutdown: true }, 0, false).records);
    expect(img.brokers.get(1)!.inControlledShutdown).toBe(true);
    img = apply(img, brokerHeartbeat(img, { brokerId: 1, brokerEpoch: 1, incarnationId: 'inc-1', metadataOffset: 100, wantFence: false, wantShutdown: false }, 0, false).records);
    expect(img.brokers.get(1)!.inControlledShutdown).toBe(false);
  });
});

describe('eligible leader replicas (KIP-966)', () => {
  const minIsr2 = { 'min.insync.replicas': '2' };

  it('a replica that leaves an ISR already below min.insync.replicas becomes eligible; a healthy ISR clears the ELR', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2, 3], [1, 2, 3], 1, minIsr2);
    img = apply(img, fenceBroker(img, 3, false).records); // ISR {1,2}: still at min, no ELR
    expect(img.partition('t', 0)).toMatchObject({ isr: [1, 2], elr: [] });
    img = apply(img, fenceBroker(img, 2, false).records); // ISR {1}: below min, 2 holds everything committed
    expect(img.partition('t', 0)).toMatchObject({ isr: [1], elr: [2] });
    img = apply(img, fenceBroker(img, 1, false).records); // the last member stays in the ISR, no leader
    expect(img.partition('t', 0)).toMatchObject({ leader: -1, isr: [1], elr: [2] });
  });

  it('when no ISR member can lead, an eligible replica does, with an ISR of its own', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2, 3], [1, 2, 3], 1, minIsr2);
    img = apply(img, fenceBroker(img, 3, false).records);
    img = apply(img, fenceBroker(img, 2, false).records);
    img = apply(img, fenceBroker(img, 1, false).records);
    // Broker 2 comes back: it is in the ELR, so it may lead although the ISR names only 1.
    const reg = img.brokers.get(2)!;
    const back = brokerHeartbeat(
      apply(img, [{ type: 'BrokerRegistrationChange', brokerId: 2, brokerEpoch: reg.epoch, fenced: true }]),
      { brokerId: 2, brokerEpoch: reg.epoch, incarnationId: reg.incarnationId, metadataOffset: 1e9, wantFence: false, wantShutdown: false },
      0,
      false,
    );
    img = apply(img, back.records);
    // Broker 1, the former last ISR member, holds everything below the high watermark: eligible in turn.
    expect(img.partition('t', 0)).toMatchObject({ leader: 2, isr: [2], elr: [1] });
  });

  it('a damaged replica leaves the ISR even as its last member, and the ELR leads instead', () => {
    let img = withBrokers(3);
    img = withPartition(img, 't', [1, 2, 3], [1, 2, 3], 1, minIsr2);
    img = apply(img, fenceBroker(img, 3, false).records);
    img = apply(img, fenceBroker(img, 2, false).records);
    const unfence: MetadataRecord = { type: 'BrokerRegistrationChange', brokerId: 2, brokerEpoch: 2, fenced: false };
    img = apply(img, [unfence]);
    const t = img.topicsByName.get('t')!;
    img = apply(img, offlineReplicaChanges(img, 1, [`${t.id}:0`], false));
    expect(img.partition('t', 0)).toMatchObject({ leader: 2, isr: [2], elr: [] });
  });
});
