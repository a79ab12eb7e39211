import { ErrorCode } from '../common';
import { type MetadataImage, type MetadataRecord, NO_LEADER, replay } from '../metadata';
import { electForLeaderless, electLeader, isrAfter, ledBy, movePartitionsAwayFrom, partitionChange, uncleanAllowed } from './partition-ops';
import type { ControllerResult } from './topic-ops';

export interface BrokerRegistrationRequest {
  brokerId: number;
  incarnationId: string;
  host: string;
  port: number;
  /** Its internal listener, if apart from the client one (empty/0: none). */
  internalHost?: string;
  internalPort?: number;
  /** Its Prometheus endpoint, if it serves one (empty/0: none). */
  metricsHost?: string;
  metricsPort?: number;
  rack: string | null;
}

export interface RegisterBrokerResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  /** The epoch of this registration; -1 when refused. */
  brokerEpoch: number;
}

/**
 * Broker registration (KIP-631): every process start registers with a fresh incarnation id and
 * gets a new, larger broker epoch. The broker starts fenced — it leads nothing and joins no ISR —
 * until it has caught up with the metadata log and a heartbeat unfences it. A second live process
 * claiming the same id is refused.
 */
export function registerBroker(
  image: MetadataImage,
  req: BrokerRegistrationRequest,
  startFenced: boolean,
  sessionAlive: (brokerId: number) => boolean,
  uncleanDefault = false,
): ControllerResult<RegisterBrokerResponse> {
  const refuse = (errorCode: ErrorCode, errorMessage: string): ControllerResult<RegisterBrokerResponse> => ({ records: [], response: { errorCode, errorMessage, brokerEpoch: -1 } });
  if (!Number.isInteger(req.brokerId) || req.brokerId < 0) return refuse(ErrorCode.INVALID_REQUEST, `invalid broker id ${req.brokerId}`);
  const existing = image.brokers.get(req.brokerId);
  if (existing && existing.incarnationId === req.incarnationId) {
    // A retried registration of the same process: answer with the epoch it already has.
    return { records: [], response: { errorCode: ErrorCode.NONE, brokerEpoch: existing.epoch } };
  }
  if (existing && !existing.fenced && sessionAlive(req.brokerId)) {
    return refuse(ErrorCode.DUPLICATE_BROKER_REGISTRATION, `broker ${req.brokerId} is registered by another live process (incarnation ${existing.incarnationId})`);
  }
  const brokerEpoch = image.maxBrokerEpoch + 1;
  const records: MetadataRecord[] = [
    {
      type: 'RegisterBroker',
      brokerId: req.brokerId,
      brokerEpoch,
      incarnationId: req.incarnationId,
      host: req.host,
      port: req.port,
      ...(req.internalHost && req.internalPort ? { internalHost: req.internalHost, internalPort: req.internalPort } : {}),
      ...(req.metricsHost && req.metricsPort ? { metricsHost: req.metricsHost, metricsPort: req.metricsPort } : {}),
      rack: req.rack,
      fenced: startFenced,
    },
  ];
  // A restarted broker comes back fenced: whatever its old incarnation led must move now.
  if (existing && startFenced) records.push(...movePartitionsAwayFrom(replay(image, records, image.offset).image, req.brokerId, uncleanDefault));
  return { records, response: { errorCode: ErrorCode.NONE, brokerEpoch } };
}

export interface HeartbeatRequest {
  brokerId: number;
  brokerEpoch: number;
  /** The registered process's incarnation; the epoch alone is public. */
  incarnationId: string;
  metadataOffset: number;
  wantFence: boolean;
  wantShutdown: boolean;
  /** `topicId:partition` of replicas whose log is offline on this broker. */
  offlinePartitions?: string[];
}

export interface HeartbeatResponse {
  errorCode: ErrorCode;
  errorMessage?: string;
  isFenced: boolean;
  isCaughtUp: boolean;
  shouldShutdown: boolean;
}

/**
 * A heartbeat: unfences a caught-up broker (and hands it leaderless partitions), or runs a
 * controlled shutdown — leadership moves to other in-sync replicas first, and the broker is told
 * it may stop only once it leads nothing (design brief §5).
 */
export function brokerHeartbeat(image: MetadataImage, req: HeartbeatRequest, registrationOffset: number, uncleanDefault: boolean): ControllerResult<HeartbeatResponse> {
  const b = image.brokers.get(req.brokerId);
  const refuse = (errorCode: ErrorCode, errorMessage: string): ControllerResult<HeartbeatResponse> => ({
    records: [],
    response: { errorCode, errorMessage, isFenced: true, isCaughtUp: false, shouldShutdown: false },
  });
  if (!b) return refuse(ErrorCode.BROKER_ID_NOT_REGISTERED, `broker ${req.brokerId} is not registered`);
  if (b.incarnationId !== req.incarnationId) return refuse(ErrorCode.BROKER_ID_NOT_REGISTERED, `broker ${req.brokerId} is registered by another incarnation`);
  if (b.epoch !== req.brokerEpoch) return refuse(ErrorCode.STALE_BROKER_EPOCH, `broker ${req.brokerId} epoch ${req.brokerEpoch} is not the current ${b.epoch}`);
  const caughtUp = req.metadataOffset >= registrationOffset;
  // Each step sees the records of the steps before it.
  const records: MetadataRecord[] = [];
  let working = image;
  const add = (more: MetadataRecord[]) => {
    if (more.length === 0) return;
    records.push(...more);
    working = replay(working, more, working.offset).image;
  };
  add(offlineReplicaChanges(working, b.id, req.offlinePartitions ?? [], uncleanDefault));
  if (req.wantShutdown) {
    if (!b.inControlledShutdown || !b.fenced) {
      add([{ type: 'BrokerRegistrationChange', brokerId: b.id, brokerEpoch: b.epoch, inControlledShutdown: true }]);
      add(movePartitionsAwayFrom(working, b.id, uncleanDefault));
    }
    return { records, response: { errorCode: ErrorCode.NONE, isFenced: b.fenced, isCaughtUp: caughtUp, shouldShutdown: ledBy(working, b.id).length === 0 } };
  }
  if (b.inControlledShutdown && !b.fenced) {
    // The broker heartbeats on without wanting to stop (a shutdown it called off): it leads again
    // once the preferred-leader rebalance or an election picks it.
    add([{ type: 'BrokerRegistrationChange', brokerId: b.id, brokerEpoch: b.epoch, inControlledShutdown: false }]);
  }
  if (b.fenced && caughtUp && !req.wantFence) {
    add([{ type: 'BrokerRegistrationChange', brokerId: b.id, brokerEpoch: b.epoch, fenced: false, inControlledShutdown: false }]);
    add(electForLeaderless(working, uncleanDefault));
    return { records, response: { errorCode: ErrorCode.NONE, isFenced: false, isCaughtUp: true, shouldShutdown: false } };
  }
  return { records, response: { errorCode: ErrorCode.NONE, isFenced: b.fenced, isCaughtUp: caughtUp, shouldShutdown: false } };
}

/**
 * Replicas a broker reports offline (a corrupt or failed log): out of the ISR (even as its last
 * member — a corrupt replica must never lead, reliability.md scenario 11) and out of leadership.
 * The broker then rebuilds them from the leader and rejoins the ISR once caught up.
 */
export function offlineReplicaChanges(image: MetadataImage, brokerId: number, offline: readonly string[], uncleanDefault: boolean): MetadataRecord[] {
  const out: MetadataRecord[] = [];
  for (const key of offline) {
    const p = image.partitionByKey(key);
    if (!p || !p.replicas.includes(brokerId)) continue;
    if (!p.isr.includes(brokerId) && !p.elr.includes(brokerId) && p.leader !== brokerId) continue;
    // Even as the last in-sync member it leaves the ISR (and the ELR): rather offline, or led by an
    // eligible replica, than led by a replica that has lost data (it wipes and refetches next).
    let isr = p.isr.filter((r) => r !== brokerId);
    let leader = p.leader;
    if (p.leader === brokerId || p.leader === NO_LEADER) {
      const e = electLeader(image, { ...p, elr: p.elr.filter((r) => r !== brokerId) }, isr, uncleanAllowed(image, p.topic, uncleanDefault), brokerId);
      leader = e.leader;
      if (e.leader !== NO_LEADER) isr = isrAfter(e, isr);
    }
    const c = partitionChange(image, p, { leader, isr }, [brokerId]);
    if (c) out.push(c);
  }
  return out;
}

/** The broker's session expired: fence it and move its partitions (design brief §5). */
export function fenceBroker(image: MetadataImage, brokerId: number, uncleanDefault: boolean): ControllerResult<void> {
  const b = image.brokers.get(brokerId);
  if (!b || b.fenced) return { records: [], response: undefined };
  const step: MetadataRecord = { type: 'BrokerRegistrationChange', brokerId, brokerEpoch: b.epoch, fenced: true };
  return { records: [step, ...movePartitionsAwayFrom(replay(image, [step], image.offset).image, brokerId, uncleanDefault)], response: undefined };
}

/**
 * Registrations nobody keeps alive: of `silent` brokers (no heartbeat for a session), the fenced
 * ones that host no replica leave the image. A stranger's RegisterBroker for a made-up id (or a
 * broker retired for good) would otherwise stay there forever, counted among the brokers the
 * cluster expects; a real broker that returns simply registers again.
 */
export function expireRegistrations(image: MetadataImage, silent: readonly number[]): ControllerResult<number[]> {
  const hosting = new Set<number>();
  for (const t of image.topicsById.values()) for (const p of t.partitions) for (const r of [...p.replicas, ...p.addingReplicas]) hosting.add(r);
  const gone = silent.filter((id) => image.brokers.get(id)?.fenced === true && !hosting.has(id));
  return { records: gone.map((id) => ({ type: 'UnregisterBroker', brokerId: id, brokerEpoch: image.brokers.get(id)!.epoch })), response: gone };
}

/** Names the cluster once, on the first controller's first start. */
export function ensureClusterId(image: MetadataImage, clusterId: string): ControllerResult<string> {
  if (image.clusterId !== null) return { records: [], response: image.clusterId };
  return { records: [{ type: 'ClusterId', clusterId }], response: clusterId };
}
