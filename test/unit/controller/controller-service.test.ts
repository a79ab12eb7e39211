import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock';
import { ErrorCode } from '../../../src/common/errors';
import { silentLogger } from '../../../src/common/io/logger';
import { SeededRandom } from '../../../src/common/random';
import type { HeartbeatResponse, RegisterBrokerResponse } from '../../../src/controller/broker-ops';
import { BrokerSessionClient, type ControllerTransport } from '../../../src/controller/broker-session-client';
import { CONTROLLER_TICK_MS, ControllerService } from '../../../src/controller/controller-service';
import { MetadataPublisher } from '../../../src/metadata/metadata-publisher';
import { ManualTimers, MemoryMetadataLog, settle } from './in-process';

const SESSION_MS = 9_000;
const HEARTBEAT_MS = 2_000;

/** A controller and its brokers in one process, on one manual clock: what the simulation builds. */
function setup() {
  const clock = new ManualClock(10_000);
  const timers = new ManualTimers(clock);
  const log = new MemoryMetadataLog();
  const publisher = new MetadataPublisher(silentLogger);
  log.subscribe(publisher);
  const service = new ControllerService({
    config: {
      nodeId: 1,
      brokerSessionTimeoutMs: SESSION_MS,
      uncleanLeaderElection: false,
      autoLeaderRebalance: true,
      leaderImbalanceCheckIntervalMs: 300_000,
      topicDefaults: { numPartitions: 1, replicationFactor: -1 },
    },
    log,
    publisher,
    clock,
    timers,
    random: new SeededRandom(3),
    logger: silentLogger,
  });
  service.start();
  const broker = (id: number, transport: ControllerTransport = service) =>
    new BrokerSessionClient({
      nodeId: id,
      incarnationId: `inc-${id}`,
      host: 'sim',
      port: id,
      internal: null,
      rack: null,
      heartbeatIntervalMs: HEARTBEAT_MS,
      transport,
      metadataOffset: () => publisher.image.offset,
      offlinePartitions: () => [],
      clock,
      timers,
      logger: silentLogger,
    });
  return { clock, timers, log, publisher, service, broker };
}

describe('ControllerService, in process (no gRPC)', () => {
  it('answers NOT_CONTROLLER with the leader hint when this node is not the active controller', async () => {
    const { log, service } = setup();
    log.leader = false;
    log.leaderHint = 3;
    await expect(service.registerBroker({ brokerId: 2, incarnationId: 'i', host: 'h', port: 1, rack: null })).resolves.toEqual(
      expect.objectContaining({ errorCode: ErrorCode.NOT_CONTROLLER, leaderHint: 3, brokerEpoch: -1 }),
    );
    await expect(service.brokerHeartbeat({ brokerId: 2, brokerEpoch: 1, incarnationId: 'i', metadataOffset: 0, wantFence: false, wantShutdown: false })).resolves.toEqual(
      expect.objectContaining({ errorCode: ErrorCode.NOT_CONTROLLER, leaderHint: 3 }),
    );
    const created = await service.createTopics({ topics: [{ name: 't', numPartitions: 1, replicationFactor: 1 }] });
    expect(created.results.map((r) => r.errorCode)).toEqual([ErrorCode.NOT_CONTROLLER]);
  });

  it('leadership lost before the records commit is an answer with NOT_CONTROLLER, not a rejection', async () => {
    const { log, service } = setup();
    service.tick(); // activation's own work (naming the cluster) commits first
    await settle();
    log.loseLeadershipOnNextAppend = true;
    log.leaderHint = 2;
    await expect(service.registerBroker({ brokerId: 2, incarnationId: 'i', host: 'h', port: 1, rack: null })).resolves.toEqual(
      expect.objectContaining({ errorCode: ErrorCode.NOT_CONTROLLER, leaderHint: 2 }),
    );
  });

  it('brokers register, are unfenced once caught up, and a silent one is fenced by the timer-driven tick after its session', async () => {
    const { timers, publisher, service, broker } = setup();
    const b2 = broker(2);
    const b3 = broker(3);
    await Promise.all([b2.start(), b3.start()]);
    expect([b2.brokerEpoch, b3.brokerEpoch].sort()).toEqual([1, 2]);
    await timers.advance(HEARTBEAT_MS);
    expect([b2.fenced, b3.fenced]).toEqual([false, false]);
    expect([...publisher.image.brokers.values()].map((b) => b.fenced)).toEqual([false, false]);
    const created = await service.createTopics({ topics: [{ name: 't', numPartitions: 2, replicationFactor: 2 }] });
    expect(created.results[0]!.errorCode).toBe(ErrorCode.NONE);

    b3.stop(); // it dies: no more heartbeats
    await timers.advance(SESSION_MS - CONTROLLER_TICK_MS);
    expect(publisher.image.brokers.get(3)!.fenced).toBe(false);
    await timers.advance(HEARTBEAT_MS + CONTROLLER_TICK_MS);
    expect(publisher.image.brokers.get(3)!.fenced).toBe(true);
    expect(publisher.image.brokers.get(2)!.fenced).toBe(false);
    for (const p of publisher.image.topicsByName.get('t')!.partitions) {
      expect(p.leader).toBe(2);
      expect(p.isr).toEqual([2]);
    }
    b2.stop();
  });

  it('a broker told its epoch is stale registers again and keeps one heartbeat per interval', async () => {
    const { timers, service, broker } = setup();
    let heartbeats = 0;
    let staleOnce = true;
    const transport: ControllerTransport = {
      registerBroker: (req): Promise<RegisterBrokerResponse> => service.registerBroker(req),
      brokerHeartbeat: async (req): Promise<HeartbeatResponse> => {
        heartbeats++;
        if (staleOnce && heartbeats === 3) {
          staleOnce = false;
          return { errorCode: ErrorCode.STALE_BROKER_EPOCH, isFenced: true, isCaughtUp: false, shouldShutdown: false };
        }
        return service.brokerHeartbeat(req);
      },
    };
    const b = broker(2, transport);
    await b.start();
    await timers.advance(10 * HEARTBEAT_MS);
    heartbeats = 0;
    await timers.advance(10 * HEARTBEAT_MS);
    expect(heartbeats).toBe(10);
    b.stop();
  });

  it('controlled shutdown waits on the injected clock: it gives up at its deadline in simulated time', async () => {
    const { timers, broker, service } = setup();
    const b = broker(2, {
      registerBroker: (req) => service.registerBroker(req),
      brokerHeartbeat: async () => ({ errorCode: ErrorCode.NONE, isFenced: false, isCaughtUp: true, shouldShutdown: false }),
    });
    await b.start();
    let outcome: boolean | null = null;
    void b.controlledShutdown(10_000).then((r) => (outcome = r));
    await timers.advance(9_000);
    expect(outcome).toBe(null);
    await timers.advance(1_200);
    expect(outcome).toBe(false);
    b.stop();
    await settle();
  });
});
