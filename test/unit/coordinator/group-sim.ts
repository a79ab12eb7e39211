/**
 * A seeded simulation of one consumer group: the shipped GroupCoordinator core against members
 * that follow the client's side of KIP-848, over a network that loses and delays heartbeats and
 * their answers, with members that crash, pause, leave, come back (static members under their
 * instance id), change subscriptions and are slow to give partitions up, topics that grow, and
 * coordinator failovers that rebuild the state from the records written so far (the whole log, or
 * only each key's last record, as compaction leaves it).
 *
 * Checked after every event:
 * - the coordinator never gives a partition two owners (assigned or pending revocation);
 * - no two running members consume the same partition, where a running member is one that is not
 *   crashed or paused and that gives up what it owns by its own deadlines: everything once no
 *   heartbeat has succeeded for min(session, rebalance timeout) − 1 ms, and everything when a
 *   revocation is not done within the rebalance timeout of its last answered heartbeat before the
 *   answer that asked for it (the coordinator asked after that heartbeat was sent).
 * After the faults stop: the group settles — every partition of a subscribed topic consumed by
 * exactly one member, the coordinator's view equal to the members', counts within one.
 */
import { GroupMemberCore, type MemberEffect } from '../../../src/client/group-member';
import { ErrorCode, SeededRandom, type Random } from '../../../src/common';
import { type ConsumerHeartbeatResponse, GroupCoordinator, type GroupCoordinatorConfig, type GroupRecord, type MemberAssignment, recordKey } from '../../../src/coordinator';
import type { TopicPartitions } from '../../../src/common';
import { countOf, describe as describeTp, equals, NO_PARTITIONS, pairsOf } from '../../../src/common/topic-partitions';

export interface GroupSimOptions {
  seed: number;
  members?: number;
  /** Fault-phase length, ms of simulated time. */
  faultMs?: number;
  bug?: GroupSimBug;
  /** Keep a trace of the last events and add it to the violations (for replaying a failing seed). */
  trace?: boolean;
}

/**
 * Seeded bugs, each a way this protocol goes wrong; each must fail the simulation (group-sim.test.ts):
 * - `noReleaseWait`: the coordinator gives a partition while another member still owns it;
 * - `noRevocationAck`: it takes a revocation as done without the member saying so;
 * - `clientIgnoresDeadlines`: a member keeps its partitions past its own session and rebalance deadlines.
 */
export const GROUP_SIM_BUGS = ['noReleaseWait', 'noRevocationAck', 'clientIgnoresDeadlines'] as const;
export type GroupSimBug = (typeof GROUP_SIM_BUGS)[number];

class NoReleaseWait extends GroupCoordinator {
  protected override reconcileMember(current: MemberAssignment, targetEpoch: number, target: TopicPartitions, owned: TopicPartitions | null): MemberAssignment {
    return super.reconcileMember(current, targetEpoch, target, owned, () => false);
  }
}

class NoRevocationAck extends GroupCoordinator {
  protected override reconcileMember(
    current: MemberAssignment,
    targetEpoch: number,
    target: TopicPartitions,
    _owned: TopicPartitions | null,
    ownedByOther: (t: string, p: number) => boolean,
  ): MemberAssignment {
    return super.reconcileMember(current, targetEpoch, target, NO_PARTITIONS, ownedByOther);
  }
}

export interface GroupSimResult {
  seed: number;
  violations: string[];
  heartbeats: number;
  failovers: number;
  records: number;
}

const GROUP = 'g';
/** Errors a member may see: fencing and unknown member ids, a static member's id still in use. */
const EXPECTED_ERRORS = new Set([ErrorCode.NONE, ErrorCode.FENCED_MEMBER_EPOCH, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.UNRELEASED_INSTANCE_ID]);
const SESSION_MS = 3000;
const HEARTBEAT_MS = 300;
const REQUEST_TIMEOUT_MS = 600;

interface SimMember {
  name: string;
  incarnation: number;
  instanceId: string | null;
  rebalanceTimeoutMs: number;
  /** The client's member core of this incarnation (src/client/group-member.ts). */
  core: GroupMemberCore;
  /** When the revocation handler in progress finishes (the simulated slow handler), or null. */
  revokeDoneAt: number | null;
  crashed: boolean;
  pausedUntil: number;
  /** The times deadline timers are set for. */
  deadlineTimers: Set<number>;
}

/** The seeded client bug: a member that never applies its own deadlines. */
class IgnoresDeadlines extends GroupMemberCore {
  override checkDeadlines(): MemberEffect[] {
    return [];
  }
}

export function runGroupSim(o: GroupSimOptions): GroupSimResult {
  const r: Random = new SeededRandom(o.seed);
  const config: GroupCoordinatorConfig = { sessionTimeoutMs: SESSION_MS, heartbeatIntervalMs: HEARTBEAT_MS, maxGroupSize: 100, offsetMetadataMaxBytes: 4096 };
  const log: GroupRecord[] = [];
  let coordinator = newCoordinator(config, r, [], 0, o.bug);
  const topics: Record<string, number> = { orders: r.int(1, 8), audit: r.int(1, 4), clicks: r.int(1, 6) };
  const view = { partitionCount: (t: string) => topics[t] };
  const violations: string[] = [];
  const trace: string[] = [];
  const note = (line: string) => {
    if (o.trace) trace.push(`t=${now} ${line}`);
  };
  let now = 0;
  let seq = 0;
  let heartbeats = 0;
  let failovers = 0;
  let lossRate = 0.1;
  const queue: { at: number; seq: number; run: () => void }[] = [];
  const at = (t: number, run: () => void) => {
    queue.push({ at: t, seq: seq++, run });
  };
  const pickTopics = () => (r.bool(0.7) ? ['orders', 'clicks'] : r.shuffle(Object.keys(topics)).slice(0, r.int(1, 3)).sort());

  const newCore = (name: string, incarnation: number, instanceId: string | null, rebalanceTimeoutMs: number, subscribed: readonly string[]) => {
    const Core = o.bug === 'clientIgnoresDeadlines' ? IgnoresDeadlines : GroupMemberCore;
    // A new process names itself (KIP-1082), so a join retried after a lost answer is the same member.
    const core = new Core({ groupId: GROUP, memberId: `${name}.${incarnation}`, instanceId, rebalanceTimeoutMs, serverAssignor: null, clientId: name }, now);
    core.subscribe(subscribed);
    return core;
  };
  const members: SimMember[] = [];
  for (let i = 0; i < (o.members ?? 4); i++) {
    const instanceId = r.bool(0.4) ? `host-${i}` : null;
    const rebalanceTimeoutMs = r.pick([2000, 6000]);
    members.push({
      name: `c${i}`,
      incarnation: 0,
      instanceId,
      rebalanceTimeoutMs,
      core: newCore(`c${i}`, 0, instanceId, rebalanceTimeoutMs, ['orders', 'clicks']),
      revokeDoneAt: null,
      crashed: false,
      pausedUntil: 0,
      deadlineTimers: new Set(),
    });
  }

  const running = (m: SimMember) => !m.crashed && m.pausedUntil <= now;

  /** Carries out what the member core asks of its shell. */
  const apply = (m: SimMember, effects: MemberEffect[]) => {
    for (const e of effects) {
      if (e.kind === 'lost') {
        note(`${m.name} loses [${describeTp(e.partitions)}]: ${e.reason}`);
        m.revokeDoneAt = null;
      } else if (e.kind === 'revoke' && m.revokeDoneAt === null) {
        // The handler gives them up after a while; sometimes longer than it may take.
        const slow = r.bool(0.05) ? m.rebalanceTimeoutMs + r.int(0, 2000) : r.int(0, 400);
        m.revokeDoneAt = now + slow;
        note(`${m.name} revoking [${describeTp(e.partitions)}] until ${m.revokeDoneAt}`);
        const incarnation = m.incarnation;
        at(m.revokeDoneAt, () => finishRevocation(m, incarnation));
      } else if (e.kind === 'left') restart(m, r.int(100, 2000));
    }
    // A timer at the member's next deadline, unless one is set for then already.
    const deadline = m.core.nextDeadline();
    if (deadline > now && deadline < Infinity && !m.deadlineTimers.has(deadline)) {
      m.deadlineTimers.add(deadline);
      at(deadline, () => {
        m.deadlineTimers.delete(deadline);
        enforceDeadlines(m);
      });
    }
  };

  /** The member's own deadlines: what it must give up by now. */
  const enforceDeadlines = (m: SimMember) => {
    if (running(m)) apply(m, m.core.checkDeadlines(now));
  };

  const sendHeartbeat = (m: SimMember) => {
    enforceDeadlines(m);
    if (!running(m)) return;
    const hb = m.core.heartbeat(now);
    if (hb === null) return;
    const incarnation = m.incarnation;
    heartbeats++;
    // Request timeout: the next heartbeat may go (the same epoch and owned partitions) if nothing came back.
    at(now + REQUEST_TIMEOUT_MS, () => {
      if (m.incarnation === incarnation) m.core.onNoAnswer(hb.id);
    });
    if (r.bool(lossRate)) return;
    at(now + r.int(0, 40), () => {
      const { records, response } = coordinator.heartbeat({ ...hb.request, clientHost: '127.0.0.1' }, view, now);
      log.push(...records);
      note(
        `${m.name} hb epoch ${hb.request.memberEpoch} owned [${describeTp(hb.request.ownedPartitions)}] -> ${response.errorCode} epoch ${response.memberEpoch} assignment ${response.assignment ? `[${describeTp(response.assignment)}]` : '-'}`,
      );
      if (r.bool(lossRate)) return;
      at(now + r.int(0, 40), () => onResponse(m, incarnation, hb.id, response));
    });
  };

  const onResponse = (m: SimMember, incarnation: number, id: number, res: ConsumerHeartbeatResponse) => {
    if (m.incarnation !== incarnation || !running(m)) return;
    if (!EXPECTED_ERRORS.has(res.errorCode)) violations.push(`t=${now} ${m.name}: unexpected heartbeat error ${res.errorCode} ${res.errorMessage}`);
    apply(m, m.core.onAnswer(id, res));
  };

  const finishRevocation = (m: SimMember, incarnation: number) => {
    if (m.incarnation !== incarnation || m.revokeDoneAt === null || m.revokeDoneAt > now) return;
    if (!running(m)) {
      at(m.pausedUntil, () => finishRevocation(m, incarnation));
      return;
    }
    enforceDeadlines(m);
    if (m.revokeDoneAt === null) return;
    m.revokeDoneAt = null;
    m.core.revocationDone();
    note(`${m.name} revoked, owns [${describeTp(m.core.owned)}]`);
    sendHeartbeat(m);
  };

  const restart = (m: SimMember, afterMs: number) => {
    m.incarnation++;
    m.crashed = true;
    m.revokeDoneAt = null;
    const subscribed = m.core.subscription;
    at(now + afterMs, () => {
      m.crashed = false;
      m.core = newCore(m.name, m.incarnation, m.instanceId, m.rebalanceTimeoutMs, subscribed);
      sendHeartbeat(m);
    });
  };

  const check = () => {
    const owners = new Map<string, string>();
    for (const m of members) {
      if (!running(m)) continue;
      // A member applies its deadlines before it consumes anything (a real one checks before each poll).
      enforceDeadlines(m);
      for (const [t, p] of pairsOf(m.core.owned)) {
        const k = `${t}-${p}`;
        const other = owners.get(k);
        if (other !== undefined) violations.push(`t=${now} ${k} consumed by ${other} and ${m.name}`);
        owners.set(k, m.name);
      }
    }
  };

  // Heartbeat loops and coordinator ticks.
  for (const m of members) {
    const loop = () => {
      if (running(m)) sendHeartbeat(m);
      at(now + HEARTBEAT_MS, loop);
    };
    at(r.int(0, HEARTBEAT_MS), loop);
  }
  const tick = () => {
    const { records, response } = coordinator.tick(now);
    log.push(...records);
    for (const x of response) note(`coordinator removes ${x.memberId}: ${x.reason}`);
    at(now + 100, tick);
  };
  at(100, tick);

  // Faults, until faultMs.
  const faultMs = o.faultMs ?? 60_000;
  for (let t = 1000; t < faultMs; t += r.int(200, 2500)) {
    at(t, () => {
      const m = r.pick(members);
      const roll = r.next();
      if (roll < 0.15 && !m.crashed) restart(m, r.int(100, SESSION_MS * 2));
      else if (roll < 0.3 && running(m)) {
        m.pausedUntil = now + r.int(100, SESSION_MS * 2);
        note(`${m.name} paused until ${m.pausedUntil}`);
        at(m.pausedUntil, () => enforceDeadlines(m));
      } else if (roll < 0.4 && running(m)) {
        // A clean leave: everything is given up first, then the leave goes.
        note(`${m.name} leaves, giving up [${describeTp(m.core.leave())}]`);
        m.revokeDoneAt = null;
        sendHeartbeat(m);
      } else if (roll < 0.5) m.core.subscribe(pickTopics());
      else if (roll < 0.55) topics[r.pick(Object.keys(topics))]! += r.int(1, 3);
      else if (roll < 0.65) {
        failovers++;
        const compacted = r.bool();
        coordinator = newCoordinator(config, r, compacted ? compact(log) : log, now, o.bug);
      } else if (roll < 0.7) lossRate = r.pick([0, 0.05, 0.1, 0.3]);
    });
  }
  at(faultMs, () => {
    lossRate = 0;
    for (const m of members) {
      if (m.crashed) continue;
      m.pausedUntil = Math.min(m.pausedUntil, now);
      enforceDeadlines(m);
      if (m.revokeDoneAt !== null && m.revokeDoneAt > now + 100) {
        m.revokeDoneAt = now + 100;
        const incarnation = m.incarnation;
        at(m.revokeDoneAt, () => finishRevocation(m, incarnation));
      }
    }
  });

  const endMs = faultMs + 30_000;
  while (queue.length > 0) {
    queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const e = queue.shift()!;
    if (e.at > endMs) break;
    now = e.at;
    try {
      e.run();
    } catch (err) {
      violations.push(`t=${now} threw: ${(err as Error).message}`);
      break;
    }
    check();
    if (violations.length > 0) break;
  }
  if (violations.length === 0) checkSettled(coordinator, members, topics, violations);
  if (violations.length > 0 && o.trace) violations.push(...trace.slice(-150));
  return { seed: o.seed, violations, heartbeats, failovers, records: log.length };
}

function newCoordinator(config: GroupCoordinatorConfig, r: Random, records: readonly GroupRecord[], nowMs: number, bug: GroupSimOptions['bug']): GroupCoordinator {
  const Coordinator = bug === 'noReleaseWait' ? NoReleaseWait : bug === 'noRevocationAck' ? NoRevocationAck : GroupCoordinator;
  const c = new Coordinator(config, r.fork());
  for (const rec of records) c.replay(rec);
  c.onLoaded(nowMs);
  return c;
}

/** What compaction leaves: each key's last record, in the order of those last records. */
function compact(log: readonly GroupRecord[]): GroupRecord[] {
  const last = new Map<string, number>();
  log.forEach((rec, i) => last.set(recordKey(rec), i));
  return log.filter((rec, i) => last.get(recordKey(rec)) === i);
}

function checkSettled(c: GroupCoordinator, members: SimMember[], topics: Record<string, number>, violations: string[]): void {
  const d = c.describeGroup(GROUP);
  const live = members.filter((m) => !m.crashed);
  if (!d) {
    if (live.length > 0) violations.push('settled: the group is gone while members run');
    return;
  }
  if (d.state !== 'stable')
    violations.push(`settled: group state ${d.state}, epochs ${d.groupEpoch}/${d.assignmentEpoch}: ${JSON.stringify(d.members.map((m) => [m.memberId, m.memberEpoch, m.state]))}`);
  const subscribed = new Set(live.flatMap((m) => m.core.subscription));
  const consumed = new Map<string, string>();
  for (const m of live) {
    const described = d.members.find((x) => x.memberId === m.core.settings.memberId);
    if (!described) violations.push(`settled: ${m.name} (${m.core.settings.memberId}) is not a member`);
    else if (!equals(described.assigned, m.core.owned)) violations.push(`settled: ${m.name} consumes ${describeTp(m.core.owned)}, the coordinator says ${describeTp(described.assigned)}`);
    for (const [t, p] of pairsOf(m.core.owned)) consumed.set(`${t}-${p}`, m.name);
  }
  for (const t of subscribed) for (let p = 0; p < topics[t]!; p++) if (!consumed.has(`${t}-${p}`)) violations.push(`settled: ${t}-${p} is consumed by nobody`);
  const homogeneous = new Set(live.map((m) => m.core.subscription.join(','))).size === 1;
  if (homogeneous && live.length > 0) {
    const counts = live.map((m) => countOf(m.core.owned));
    if (Math.max(...counts) - Math.min(...counts) > 1)
      violations.push(
        `settled: unbalanced ${counts.join('/')}: ${JSON.stringify(d.members.map((x) => [x.memberId, x.subscribedTopics, x.target]))} ${JSON.stringify(live.map((m) => [m.name, m.core.subscription]))}`,
      );
  }
}
