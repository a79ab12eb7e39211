/**
 * A deterministic simulation of one partition replicated to three brokers (issue 4, item 6; style
 * §2). The real pure parts run inside it — LeaderState (high watermark, ISR lag), the leader's
 * fetch check and the follower's truncation rule (KIP-320/KIP-101), and the controller's
 * operations (registration, heartbeats, fencing, elections, AlterPartition) over a real
 * MetadataImage — while the simulation plays the shells: a seeded network that delays, drops and
 * partitions, fsyncs that take time, and crashes that lose everything not yet fsynced (one broker,
 * or all at once: a power cut).
 *
 * The follower here sometimes fetches again before its fsync has finished (Kafka's fetcher never
 * waits for one; Cairn's does). Then what it reports as fetched and as durable differ, so the rule
 * that the high watermark counts only durable offsets is tested rather than implied: with every
 * fetch waiting, a follower that reported its fetched offset was caught on 0 of 300 seeds.
 *
 * Invariants, checked as they can break (every event, every high-watermark move, every election):
 *  - a record is committed when a leader's high watermark passes it; at that moment it is on the
 *    durable storage of at least min.insync.replicas replicas (so no single crash or power cut
 *    can take it away, and an acks=all acknowledgement means what it says);
 *  - no committed record is lost or changed: a broker that becomes leader holds every committed
 *    record (acknowledged or only visible to consumers) at its offset; after the faults heal,
 *    every replica does;
 *  - replicas agree below their high watermarks;
 *  - a leader's high watermark never goes backwards;
 *  - at most one broker writes as leader in any leader epoch; one value per committed offset;
 *  - after the faults heal, the partition has a leader, a full ISR and identical replicas.
 *
 * `ReplicationBugs` switches on deliberately broken behaviour, for tests that show each invariant
 * catching the bug it exists for.
 */
import { SeededRandom, type Random } from '../../src/common/random';
import { brokerHeartbeat, registerBroker } from '../../src/controller/broker-ops';
import { fenceExpired } from '../../src/controller/controller-ops';
import { BrokerHeartbeatManager } from '../../src/controller/heartbeat-manager';
import { alterPartition } from '../../src/controller/isr-ops';
import { createTopics } from '../../src/controller/topic-ops';
import { MetadataImage, type PartitionRegistration, replay } from '../../src/metadata/image';
import type { MetadataRecord } from '../../src/metadata/records';
import { checkFollowerFetch, followerTruncation } from '../../src/replication/fetch-validation';
import { LeaderState } from '../../src/replication/leader-state';
import { LeaderEpochCache } from '../../src/storage/leader-epoch-cache';

const CONTROLLER = 0;
const CLIENT = 100;
const TOPIC = 't';
const MIN_ISR = 2;
const SESSION_TIMEOUT_MS = 600;
const LAG_MAX_MS = 500;
const TICK_MS = 100;
const MAX_FETCH_RECORDS = 64;

interface Rec {
  epoch: number;
  value: string;
}

/** A replica's log: records, how many are fsynced, the high watermark, the leader-epoch cache. */
class SimLog {
  recs: Rec[] = [];
  durable = 0;
  hw = 0;
  readonly epochs = LeaderEpochCache.inMemory();

  get leo(): number {
    return this.recs.length;
  }

  endOffsetFor(epoch: number) {
    return this.epochs.endOffsetFor(epoch, this.leo);
  }

  append(rec: Rec): number {
    this.epochs.assign(rec.epoch, this.leo);
    this.recs.push(rec);
    return this.leo - 1;
  }

  /** Truncation is made durable at once (the real log fsyncs after cutting). */
  truncate(offset: number): void {
    if (offset < this.leo) this.recs.length = Math.max(0, offset);
    this.durable = Math.min(this.durable, this.leo);
    this.epochs.truncateFromEnd(this.leo);
    this.hw = Math.min(this.hw, this.leo);
  }

  /** A crash loses everything not fsynced (the high watermark is kept: Kafka checkpoints it). */
  crash(): void {
    this.truncate(this.durable);
  }
}

export interface ReplicationFaults {
  crashProbability: number;
  /** Every broker loses its un-fsynced writes at once (a power cut; reliability scenario 8). */
  crashAllProbability: number;
  partitionProbability: number;
  dropProbability: number;
  maxDelayMs: number;
  maxFsyncMs: number;
  /** How often a follower fetches again without waiting for the fsync of what it just appended. */
  fetchBeforeFsyncProbability: number;
}

export const DEFAULT_REPLICATION_FAULTS: ReplicationFaults = { crashProbability: 0.25, crashAllProbability: 0.04, partitionProbability: 0.3, dropProbability: 0.02, maxDelayMs: 8, maxFsyncMs: 6, fetchBeforeFsyncProbability: 0.5 };
export const HARSH_REPLICATION_FAULTS: ReplicationFaults = { crashProbability: 0.4, crashAllProbability: 0.1, partitionProbability: 0.4, dropProbability: 0.08, maxDelayMs: 30, maxFsyncMs: 20, fetchBeforeFsyncProbability: 0.5 };

/**
 * Deliberately broken behaviour, each the bug an invariant exists to catch (the seeded-bug tests in
 * replication-sim.test.ts). All off: the replication rules as shipped.
 */
export interface ReplicationBugs {
  /** The leader counts every follower as holding its whole log (acks=all acting as acks=1). */
  leaderTrustsFollowers?: boolean;
  /**
   * Kafka before KIP-101: a follower truncates to its high watermark when it starts following (on
   * restart, on a new leader epoch) and fetches without leader epochs, so the leader never reports
   * a divergence; past the leader's end it cuts back to it.
   */
  truncateToHighWatermark?: boolean;
  /** A follower reports what it fetched (its log end) as durable, fsynced or not. */
  followerReportsFetchedAsDurable?: boolean;
  /** The leader moves its high watermark while the ISR is below min.insync.replicas (no KIP-966 guard). */
  hwIgnoresMinIsr?: boolean;
}

export const REPLICATION_BUG_NAMES = ['leaderTrustsFollowers', 'truncateToHighWatermark', 'followerReportsFetchedAsDurable', 'hwIgnoresMinIsr'] as const satisfies readonly (keyof ReplicationBugs)[];

/** acks=all acting as acks=1: every fetch is taken as proof the follower has (durably) everything. */
class TrustsFollowers extends LeaderState {
  override updateFollower(id: number, _fetchOffset: number, _durable: number, leaderEnd: number, nowMs: number) {
    return super.updateFollower(id, leaderEnd, leaderEnd, leaderEnd, nowMs);
  }
}

type Msg =
  | { kind: 'fetch'; fetchOffset: number; durable: number; epoch: number; lastFetchedEpoch: number }
  | { kind: 'fetchResponse'; epoch: number; fetchOffset: number; error?: string; diverging?: { epoch: number; endOffset: number }; recs?: Rec[]; hw?: number; leaderStart?: number; leaderEnd?: number }
  | { kind: 'produce'; id: number; value: string }
  | { kind: 'produceResponse'; id: number; offset?: number; error?: string }
  | { kind: 'register'; incarnation: string }
  | { kind: 'registered'; brokerEpoch: number; incarnation: string }
  | { kind: 'staleEpoch' }
  | { kind: 'heartbeat'; brokerEpoch: number; metadataOffset: number }
  | { kind: 'metadata'; image: MetadataImage }
  | { kind: 'alterPartition'; requestId: number; brokerEpoch: number; leaderEpoch: number; partitionEpoch: number; newIsr: number[] }
  | { kind: 'alterResponse'; requestId: number; ok: boolean; partitionEpoch: number };

interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
}

class SimBroker {
  alive = true;
  readonly log = new SimLog();
  incarnation = 0;
  brokerEpoch = -1;
  lastImageOffset = -1;
  view: PartitionRegistration | null = null;
  leader: LeaderState | null = null;
  actingEpoch = -1;
  fetching = false;
  fetchId = 0;
  isrInFlight = false;
  isrRequestId = 0;
  flushing = false;
  /** The follower's next fetch waits for the fsync in flight (Cairn's fetcher always does). */
  fetchWaitsForFsync = true;
  pendingAcks: { offset: number; id: number }[] = [];
  constructor(readonly id: number) {}
}

export interface ReplicationResult {
  seed: number;
  violations: string[];
  acked: number;
  committed: number;
  events: number;
}

export class ReplicationSimulation {
  private readonly random: Random;
  private now = 0;
  private seq = 0;
  private readonly queue: SimEvent[] = [];
  private readonly brokers = new Map<number, SimBroker>();
  private image = MetadataImage.EMPTY;
  private readonly heartbeats = new BrokerHeartbeatManager(SESSION_TIMEOUT_MS);
  /** Directed links that are cut (`from>to`). */
  private readonly cut = new Set<string>();
  private readonly acked = new Map<number, string>();
  /** Every record a leader's high watermark has passed, by offset: visible to consumers, must never be lost. */
  private readonly committed = new Map<number, Rec>();
  private readonly writerOfEpoch = new Map<number, number>();
  private readonly hwSeen = new Map<string, number>();
  readonly violations: string[] = [];
  private events = 0;
  private nextProduceId = 1;
  private readonly inflight = new Map<number, string>();
  private healed = false;
  private produceUntilMs = Infinity;

  constructor(
    readonly seed: number,
    private readonly faults: ReplicationFaults = DEFAULT_REPLICATION_FAULTS,
    private readonly bugs: ReplicationBugs = {},
    /** Off: leave the bugs to the end-to-end checks (committed records lost after a failover). */
    private readonly checkDurableCopies = true,
  ) {
    this.random = new SeededRandom(seed);
  }

  // ---- scheduling ----

  private at(delayMs: number, run: () => void): void {
    const ev = { at: this.now + Math.max(0, delayMs), seq: this.seq++, run };
    // Events with equal times run in the order they were scheduled (seq grows), so insert after them.
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.queue[mid]!.at <= ev.at) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, ev);
  }

  private send(from: number, to: number, msg: Msg): void {
    if (this.cut.has(`${from}>${to}`)) return;
    if (!this.healed && this.random.bool(this.faults.dropProbability)) return;
    this.at(this.random.int(1, this.faults.maxDelayMs), () => this.deliver(from, to, msg));
  }

  /** Per-event trace for replaying one seed (`trace` option). */
  trace: ((line: string) => void) | null = null;

  private violation(what: string): void {
    if (this.violations.length < 20) this.violations.push(`seed ${this.seed}, t=${this.now}ms: ${what}`);
  }

  // ---- setup ----

  run(durationMs = 8_000, quietMs = 6_000): ReplicationResult {
    for (const id of [1, 2, 3]) this.brokers.set(id, new SimBroker(id));
    let records: MetadataRecord[] = [];
    for (const id of [1, 2, 3]) {
      records = records.concat(registerBroker(this.apply(records, false), { brokerId: id, incarnationId: `${id}-0`, host: 'sim', port: id, rack: null }, false, () => false).records);
    }
    this.image = this.apply(records, false);
    const created = createTopics(this.image, [{ name: TOPIC, numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': String(MIN_ISR) } }], { numPartitions: 1, replicationFactor: 3 }, this.random.fork());
    this.commit(created.records);
    for (const b of this.brokers.values()) {
      b.brokerEpoch = this.image.brokers.get(b.id)!.epoch;
      this.tickBroker(b);
    }
    this.tickController();
    this.heartbeats.activate(0);
    this.produceLoop();
    this.faultLoop(durationMs);
    this.loop(durationMs);
    this.heal();
    this.produceUntilMs = durationMs + quietMs / 2;
    this.loop(durationMs + quietMs);
    this.finalChecks();
    return { seed: this.seed, violations: this.violations, acked: this.acked.size, committed: this.committed.size, events: this.events };
  }

  private loop(until: number): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= until) {
      const ev = this.queue.shift()!;
      this.now = ev.at;
      ev.run();
      this.events++;
      this.checkInvariants();
    }
    this.now = until;
  }

  private apply(records: MetadataRecord[], publish: boolean): MetadataImage {
    const next = records.length === 0 ? this.image : replay(this.image, records, this.image.offset + 1).image;
    if (publish) this.image = next;
    return next;
  }

  /** The controller commits records and pushes the new image to every broker it can reach. */
  private commit(records: MetadataRecord[]): void {
    if (records.length === 0) return;
    this.apply(records, true);
    for (const b of this.brokers.values()) this.send(CONTROLLER, b.id, { kind: 'metadata', image: this.image });
  }

  // ---- faults ----

  private faultLoop(until: number): void {
    this.at(this.random.int(100, 400), () => {
      if (this.now >= until) return;
      const r = this.random.next();
      const ids = [...this.brokers.keys()];
      if (r < this.faults.crashAllProbability) {
        for (const b of this.brokers.values()) {
          if (!b.alive) continue;
          this.crash(b);
          this.at(this.random.int(50, 600), () => this.restart(b));
        }
      } else if (r < this.faults.crashAllProbability + this.faults.crashProbability) {
        const b = this.brokers.get(this.random.pick(ids))!;
        if (b.alive) {
          this.crash(b);
          this.at(this.random.int(100, 900), () => this.restart(b));
        }
      } else if (r < this.faults.crashAllProbability + this.faults.crashProbability + this.faults.partitionProbability) {
        const victim = this.random.pick(ids);
        const others = [CONTROLLER, ...ids.filter((i) => i !== victim)];
        const oneWay = this.random.bool(0.3);
        const links: string[] = [];
        for (const o of others) {
          if (!this.random.bool(0.75)) continue;
          links.push(`${victim}>${o}`);
          if (!oneWay) links.push(`${o}>${victim}`);
        }
        for (const l of links) this.cut.add(l);
        this.at(this.random.int(100, 1200), () => {
          for (const l of links) this.cut.delete(l);
        });
      }
      this.faultLoop(until);
    });
  }

  private crash(b: SimBroker): void {
    b.alive = false;
    b.log.crash();
    this.onTruncate(b);
    b.leader = null;
    b.actingEpoch = -1;
    b.view = null;
    b.lastImageOffset = -1;
    b.pendingAcks = [];
    b.fetching = false;
    b.flushing = false;
    b.isrInFlight = false;
  }

  private restart(b: SimBroker): void {
    if (b.alive) return;
    b.alive = true;
    b.incarnation++;
    b.brokerEpoch = -1;
    this.send(b.id, CONTROLLER, { kind: 'register', incarnation: `${b.id}-${b.incarnation}` });
  }

  private heal(): void {
    this.healed = true;
    this.cut.clear();
    for (const b of this.brokers.values()) if (!b.alive) this.restart(b);
  }

  // ---- message handling ----

  private deliver(from: number, to: number, msg: Msg): void {
    if (this.trace && msg.kind !== 'metadata' && msg.kind !== 'heartbeat') {
      const brief = { ...msg } as Record<string, unknown>;
      if (Array.isArray(brief.recs)) brief.recs = `${(brief.recs as Rec[]).length} recs ${(brief.recs as Rec[])[0]?.value ?? ''}..`;
      this.trace(`t=${this.now} ${from}->${to} ${JSON.stringify(brief)}`);
    }
    if (to === CONTROLLER) return this.controllerReceive(from, msg);
    const b = this.brokers.get(to);
    // The client (CLIENT) learns nothing the checks need: acknowledgements are counted where the leader sends them.
    if (!b || !b.alive) return;
    switch (msg.kind) {
      case 'metadata':
        return this.onMetadata(b, msg.image);
      case 'registered':
        // An answer to a dead incarnation's request goes nowhere in reality.
        if (msg.incarnation === `${b.id}-${b.incarnation}`) b.brokerEpoch = msg.brokerEpoch;
        return;
      case 'staleEpoch':
        b.brokerEpoch = -1; // as BrokerLifecycle does on STALE_BROKER_EPOCH: register again
        return;
      case 'fetch':
        return this.onFetch(b, from, msg);
      case 'fetchResponse':
        return this.onFetchResponse(b, msg);
      case 'produce':
        return this.onProduce(b, from, msg);
      case 'alterResponse':
        if (msg.requestId !== b.isrRequestId || !b.isrInFlight) return; // an older request's late answer
        // Committed: the metadata settles it. Refused with nothing changed: settle now. Refused
        // because the partition moved on: the metadata says to what.
        if (!msg.ok && b.leader && b.view && msg.partitionEpoch === b.view.partitionEpoch) {
          b.isrInFlight = false;
          b.leader.setIsr(b.view.isr, b.view.replicas, true);
        }
        return;
      default:
        return;
    }
  }

  private controllerReceive(from: number, msg: Msg): void {
    switch (msg.kind) {
      case 'register': {
        const r = registerBroker(this.image, { brokerId: from, incarnationId: msg.incarnation, host: 'sim', port: from, rack: null }, true, (id) => this.heartbeats.hasLiveSession(id, this.now));
        // DUPLICATE_BROKER_REGISTRATION: the broker retries on its next tick
        if (r.response.errorCode !== 0) return;
        this.commit(r.records);
        this.heartbeats.touch(from, this.now);
        this.send(CONTROLLER, from, { kind: 'registered', brokerEpoch: r.response.brokerEpoch, incarnation: msg.incarnation });
        return;
      }
      case 'heartbeat': {
        const reg = this.image.brokers.get(from);
        if (!reg || reg.epoch !== msg.brokerEpoch) return this.send(CONTROLLER, from, { kind: 'staleEpoch' });
        this.heartbeats.touch(from, this.now);
        this.commit(brokerHeartbeat(this.image, { brokerId: from, brokerEpoch: msg.brokerEpoch, incarnationId: reg.incarnationId, metadataOffset: msg.metadataOffset, wantFence: false, wantShutdown: false }, reg.registeredAtOffset, false).records);
        return;
      }
      case 'alterPartition': {
        const p = this.image.partition(TOPIC, 0)!;
        const r = alterPartition(this.image, from, msg.brokerEpoch, [{ topicId: p.topicId, partition: 0, leaderEpoch: msg.leaderEpoch, partitionEpoch: msg.partitionEpoch, newIsr: msg.newIsr }], false);
        const item = r.response.results[0];
        if (r.response.errorCode !== 0 || !item) {
          this.send(CONTROLLER, from, { kind: 'alterResponse', requestId: msg.requestId, ok: false, partitionEpoch: p.partitionEpoch });
          return;
        }
        this.commit(r.records);
        this.send(CONTROLLER, from, { kind: 'alterResponse', requestId: msg.requestId, ok: item.errorCode === 0, partitionEpoch: item.partitionEpoch });
        return;
      }
      default:
        return;
    }
  }

  private tickController(): void {
    this.at(TICK_MS, () => {
      // Brokers follow the metadata log and always catch up eventually: resend the current image.
      for (const b of this.brokers.values()) this.send(CONTROLLER, b.id, { kind: 'metadata', image: this.image });
      const unfenced = [...this.image.brokers.values()].filter((x) => !x.fenced).map((x) => x.id);
      const expired = this.heartbeats.expired(unfenced, this.now);
      if (expired.length > 0) this.commit(fenceExpired(this.image, expired, false).records);
      this.tickController();
    });
  }

  private tickBroker(b: SimBroker): void {
    this.at(TICK_MS, () => {
      if (b.alive) {
        if (b.brokerEpoch < 0) this.send(b.id, CONTROLLER, { kind: 'register', incarnation: `${b.id}-${b.incarnation}` });
        else this.send(b.id, CONTROLLER, { kind: 'heartbeat', brokerEpoch: b.brokerEpoch, metadataOffset: b.lastImageOffset });
        if (b.leader && b.view && !b.isrInFlight) {
          const lagging = b.leader.laggingReplicas(this.now, LAG_MAX_MS);
          if (lagging.length > 0) {
            for (const id of lagging) b.leader.pendingRemovals.add(id);
            this.requestIsr(b, b.view.isr.filter((r) => !lagging.includes(r)));
          }
        }
        this.maybeFetch(b);
      }
      this.tickBroker(b);
    });
  }

  private requestIsr(b: SimBroker, newIsr: number[]): void {
    b.isrInFlight = true;
    const request = ++b.isrRequestId;
    const msg: Msg = { kind: 'alterPartition', requestId: request, brokerEpoch: b.brokerEpoch, leaderEpoch: b.view!.leaderEpoch, partitionEpoch: b.view!.partitionEpoch, newIsr };
    const attempt = () => {
      // As the real manager: an unanswered request is asked again, never assumed refused.
      if (!b.alive || !b.isrInFlight || b.isrRequestId !== request || !b.leader) return;
      this.send(b.id, CONTROLLER, msg);
      this.at(300, attempt);
    };
    attempt();
  }

  private onMetadata(b: SimBroker, image: MetadataImage): void {
    if (image.offset <= b.lastImageOffset) return;
    // As the real node does: act on partition state only once this incarnation's registration is in.
    if (image.brokers.get(b.id)?.incarnationId !== `${b.id}-${b.incarnation}`) return;
    b.lastImageOffset = image.offset;
    const reg = image.partition(TOPIC, 0)!;
    const prev = b.view;
    b.view = reg;
    if (reg.leader === b.id) {
      if (b.leader === null || b.actingEpoch !== reg.leaderEpoch) {
        // Becoming leader: by election from the ISR (or ELR) it must hold everything committed.
        for (const [offset, rec] of this.committed) {
          const has = b.log.recs[offset];
          if (has?.value !== rec.value || has.epoch !== rec.epoch) {
            const what = this.acked.get(offset) === rec.value ? 'acknowledged' : 'committed (visible, unacknowledged)';
            this.violation(`broker ${b.id} became leader at epoch ${reg.leaderEpoch} without ${what} ${rec.value} at offset ${offset} (has ${has?.value ?? 'nothing'})`);
            break;
          }
        }
        b.log.epochs.assign(reg.leaderEpoch, b.log.leo);
        const args = [b.id, reg.replicas, reg.isr, reg.leaderEpoch, b.log.hw, b.log.durable, this.now, b.log.leo, this.bugs.hwIgnoresMinIsr ? 1 : MIN_ISR] as const;
        b.leader = this.bugs.leaderTrustsFollowers ? new TrustsFollowers(...args) : new LeaderState(...args);
        b.actingEpoch = reg.leaderEpoch;
        b.isrInFlight = false;
        this.hwSeen.set(`${b.id}@${b.actingEpoch}`, b.leader.highWatermark);
      } else {
        const settled = prev !== null && prev.partitionEpoch !== reg.partitionEpoch;
        if (settled) b.isrInFlight = false;
        if (b.leader.setIsr(reg.isr, reg.replicas, settled)) this.onHw(b);
      }
    } else {
      if (b.leader !== null) {
        b.leader = null;
        b.actingEpoch = -1;
        b.pendingAcks = []; // outcome unknown to the clients
      }
      // The KIP-101 bug: whatever lies above the high watermark is thrown away on becoming a
      // follower, even records the leader has since committed.
      if (this.bugs.truncateToHighWatermark && (prev === null || prev.leaderEpoch !== reg.leaderEpoch) && b.log.hw < b.log.leo) {
        b.log.truncate(b.log.hw);
        this.onTruncate(b);
      }
    }
    this.maybeFetch(b);
  }

  // ---- the data path ----

  private produceLoop(): void {
    this.at(this.random.int(1, 4), () => {
      if (this.now >= this.produceUntilMs) return;
      {
        const leader = this.image.partition(TOPIC, 0)!.leader;
        if (leader > 0) {
          const id = this.nextProduceId++;
          const value = `v${id}`;
          this.inflight.set(id, value);
          this.send(CLIENT, leader, { kind: 'produce', id, value });
        }
      }
      this.produceLoop();
    });
  }

  private onProduce(b: SimBroker, from: number, msg: { id: number; value: string }): void {
    if (!b.leader || !b.view || b.view.leader !== b.id) return this.send(b.id, from, { kind: 'produceResponse', id: msg.id, error: 'NOT_LEADER' });
    if (b.view.isr.length < MIN_ISR) return this.send(b.id, from, { kind: 'produceResponse', id: msg.id, error: 'NOT_ENOUGH_REPLICAS' });
    const writer = this.writerOfEpoch.get(b.actingEpoch);
    if (writer !== undefined && writer !== b.id) this.violation(`brokers ${writer} and ${b.id} both wrote as leader in epoch ${b.actingEpoch}`);
    this.writerOfEpoch.set(b.actingEpoch, b.id);
    const offset = b.log.append({ epoch: b.actingEpoch, value: msg.value });
    b.pendingAcks.push({ offset, id: msg.id });
    this.flush(b);
  }

  private flush(b: SimBroker): void {
    if (b.flushing) return;
    b.flushing = true;
    const upTo = b.log.leo;
    const incarnation = b.incarnation;
    this.at(this.random.int(1, this.faults.maxFsyncMs), () => {
      if (!b.alive || b.incarnation !== incarnation) return;
      b.flushing = false;
      b.log.durable = Math.max(b.log.durable, Math.min(upTo, b.log.leo));
      // Appended while this fsync ran: fsync that too (a follower that waits, waits for it as well).
      if (b.log.durable < b.log.leo) this.flush(b);
      if (b.leader) {
        if (b.leader.updateLocal(b.log.durable)) this.onHw(b);
      } else {
        this.maybeFetch(b);
      }
    });
  }

  private onHw(b: SimBroker): void {
    if (!b.leader) return;
    const hw = b.leader.highWatermark;
    const key = `${b.id}@${b.actingEpoch}`;
    const before = this.hwSeen.get(key) ?? 0;
    if (hw < before) this.violation(`leader ${b.id} high watermark went back from ${before} to ${hw}`);
    this.hwSeen.set(key, hw);
    for (let o = before; o < Math.min(hw, b.log.leo); o++) this.onCommit(b, o);
    b.log.hw = Math.max(b.log.hw, Math.min(hw, b.log.leo));
    const still: { offset: number; id: number }[] = [];
    for (const a of b.pendingAcks) {
      if (a.offset < hw) {
        if ((b.view?.isr.length ?? 0) < MIN_ISR) continue; // NOT_ENOUGH_REPLICAS_AFTER_APPEND: not acknowledged
        const value = this.inflight.get(a.id)!;
        const previous = this.acked.get(a.offset);
        if (previous !== undefined && previous !== value) this.violation(`offset ${a.offset} acknowledged twice: ${previous} and ${value}`);
        this.acked.set(a.offset, value);
      } else {
        still.push(a);
      }
    }
    b.pendingAcks = still;
  }

  /**
   * Leader `b`'s high watermark passed `offset`. It must be on the durable storage of at least
   * min.insync.replicas replicas now — else one crash or power cut can take back what consumers
   * may have read and acks=all writers were told is safe — and no other record may ever have been
   * committed there.
   */
  private onCommit(b: SimBroker, offset: number): void {
    const rec = b.log.recs[offset]!;
    if (this.checkDurableCopies) {
      const holders = [...this.brokers.values()].filter((x) => x.log.durable > offset && x.log.recs[offset]?.value === rec.value && x.log.recs[offset]?.epoch === rec.epoch).map((x) => x.id);
      if (holders.length < MIN_ISR) {
        this.violation(`leader ${b.id} (epoch ${b.actingEpoch}, ISR ${b.view?.isr}) committed ${rec.value} at offset ${offset} with it durable on ${holders.length > 0 ? `only ${holders}` : 'no replica'} (min.insync.replicas ${MIN_ISR})`);
      }
    }
    const earlier = this.committed.get(offset);
    if (earlier !== undefined && (earlier.value !== rec.value || earlier.epoch !== rec.epoch)) {
      this.violation(`offset ${offset} committed twice: ${earlier.value}@${earlier.epoch}, then ${rec.value}@${rec.epoch} by leader ${b.id}`);
    }
    this.committed.set(offset, rec);
  }

  private maybeFetch(b: SimBroker): void {
    const v = b.view;
    if (!b.alive || b.fetching || (b.flushing && b.fetchWaitsForFsync) || !v || v.leader <= 0 || v.leader === b.id || !v.replicas.includes(b.id) || b.brokerEpoch < 0) return;
    b.fetching = true;
    const fetchId = ++b.fetchId;
    this.send(b.id, v.leader, {
      kind: 'fetch',
      fetchOffset: b.log.leo,
      durable: this.bugs.followerReportsFetchedAsDurable ? b.log.leo : b.log.durable,
      epoch: v.leaderEpoch,
      // Without leader epochs (the KIP-101 bug) the leader has nothing to find a divergence by.
      lastFetchedEpoch: this.bugs.truncateToHighWatermark ? -1 : b.log.epochs.latestEpoch,
    });
    // A lost request or answer: try again after a while (only if this very fetch is still out).
    this.at(50, () => {
      if (b.fetching && b.fetchId === fetchId) {
        b.fetching = false;
        this.maybeFetch(b);
      }
    });
  }

  private onFetch(b: SimBroker, from: number, msg: { fetchOffset: number; durable: number; epoch: number; lastFetchedEpoch: number }): void {
    const reply = (r: Omit<Extract<Msg, { kind: 'fetchResponse' }>, 'kind' | 'epoch' | 'fetchOffset'>) => this.send(b.id, from, { kind: 'fetchResponse', epoch: msg.epoch, fetchOffset: msg.fetchOffset, ...r });
    if (!b.leader || b.actingEpoch !== msg.epoch) return reply({ error: 'NOT_LEADER' });
    const check = checkFollowerFetch({ logStartOffset: 0, logEndOffset: b.log.leo, endOffsetFor: (e) => b.log.endOffsetFor(e) }, msg.fetchOffset, msg.lastFetchedEpoch);
    if (check.kind === 'diverging') return reply({ diverging: { epoch: check.epoch, endOffset: check.endOffset }, leaderStart: 0 });
    if (check.kind === 'out-of-range') return reply({ error: 'OFFSET_OUT_OF_RANGE', leaderStart: 0, leaderEnd: b.log.leo });
    const { hwChanged, shouldExpand } = b.leader.updateFollower(from, msg.fetchOffset, msg.durable, b.log.leo, this.now);
    if (hwChanged) this.onHw(b);
    if (shouldExpand && !b.isrInFlight && b.view) {
      b.leader.pendingAdditions.add(from);
      this.requestIsr(b, [...b.view.isr, from]);
    }
    reply({ recs: b.log.recs.slice(msg.fetchOffset, msg.fetchOffset + MAX_FETCH_RECORDS), hw: b.leader.highWatermark });
  }

  private onFetchResponse(b: SimBroker, msg: Extract<Msg, { kind: 'fetchResponse' }>): void {
    if (!b.fetching) return;
    b.fetching = false;
    if (!b.view || msg.epoch !== b.view.leaderEpoch || b.leader || msg.fetchOffset !== b.log.leo) return this.maybeFetch(b);
    if (msg.error === 'OFFSET_OUT_OF_RANGE' && msg.leaderEnd !== undefined && b.log.leo > msg.leaderEnd) {
      // As the real fetcher: past the leader's end with no diverging epoch to go by, cut back to it.
      b.log.truncate(msg.leaderEnd);
      this.onTruncate(b);
      return this.maybeFetch(b);
    }
    if (msg.error) return;
    if (msg.diverging) {
      const t = followerTruncation({ logEndOffset: b.log.leo, endOffsetFor: (e) => b.log.endOffsetFor(e) }, msg.diverging.epoch, msg.diverging.endOffset);
      b.log.truncate(t.kind === 'truncate' ? t.offset : 0);
      this.onTruncate(b);
      return this.maybeFetch(b);
    }
    for (const r of msg.recs ?? []) b.log.append(r);
    b.log.hw = Math.max(b.log.hw, Math.min(msg.hw ?? 0, b.log.leo));
    if (b.log.durable < b.log.leo) {
      b.fetchWaitsForFsync = !this.random.bool(this.faults.fetchBeforeFsyncProbability);
      this.flush(b);
    }
    this.maybeFetch(b);
  }

  // ---- invariants ----

  /** Per pair of brokers, the offset below which agreement was already checked (logs only change above it, except by truncation). */
  private readonly agreedUpTo = new Map<string, number>();

  /** A log was cut back: re-check its pairs from there. */
  private onTruncate(b: SimBroker): void {
    for (const [key, upTo] of this.agreedUpTo) if (key.split('-').includes(String(b.id))) this.agreedUpTo.set(key, Math.min(upTo, b.log.leo));
  }

  private checkInvariants(): void {
    const alive = [...this.brokers.values()].filter((x) => x.alive);
    for (let i = 0; i < alive.length; i++) {
      for (let j = i + 1; j < alive.length; j++) {
        const a = alive[i]!;
        const c = alive[j]!;
        const key = `${a.id}-${c.id}`;
        const upTo = Math.min(a.log.hw, c.log.hw);
        const from = Math.min(this.agreedUpTo.get(key) ?? 0, upTo);
        this.agreedUpTo.set(key, upTo);
        for (let o = from; o < upTo; o++) {
          const x = a.log.recs[o];
          const y = c.log.recs[o];
          if (x?.value !== y?.value || x?.epoch !== y?.epoch) {
            this.violation(`replicas ${a.id} and ${c.id} disagree at offset ${o} below their high watermarks (${x?.value}@${x?.epoch} vs ${y?.value}@${y?.epoch})`);
            return;
          }
        }
      }
    }
  }

  private finalChecks(): void {
    const p = this.image.partition(TOPIC, 0)!;
    if (p.leader <= 0) return this.violation(`no leader after the faults healed (isr ${p.isr})`);
    if (p.isr.length !== 3) this.violation(`ISR ${p.isr} is not full after the faults healed`);
    const leader = this.brokers.get(p.leader)!;
    for (const [offset, rec] of this.committed) {
      const has = leader.log.recs[offset];
      if (has?.value !== rec.value || has.epoch !== rec.epoch) {
        const what = this.acked.get(offset) === rec.value ? 'acknowledged' : 'committed (visible, unacknowledged)';
        this.violation(`${what} ${rec.value} at offset ${offset} is lost (final leader ${p.leader} has ${has?.value ?? 'nothing'})`);
      }
    }
    for (const b of this.brokers.values()) {
      const same = b.log.leo === leader.log.leo && b.log.recs.every((r, o) => r.value === leader.log.recs[o]?.value && r.epoch === leader.log.recs[o]?.epoch);
      if (!same) this.violation(`replica ${b.id} (end ${b.log.leo}) differs from leader ${p.leader} (end ${leader.log.leo}) after the faults healed`);
    }
  }
}

export interface ReplicationRunOptions {
  durationMs?: number;
  faults?: ReplicationFaults;
  bugs?: ReplicationBugs;
  /** Default true; off leaves a bug to the end-to-end checks alone. */
  checkDurableCopies?: boolean;
}

export function simulateReplication(seed: number, opts: ReplicationRunOptions = {}): ReplicationResult {
  return new ReplicationSimulation(seed, opts.faults, opts.bugs, opts.checkDurableCopies ?? true).run(opts.durationMs);
}
