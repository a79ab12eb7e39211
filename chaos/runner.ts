import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Admin } from '../src/client/admin';
import type { Logger } from '../src/common/logger';
import { SeededRandom } from '../src/common/random';
import { checkAll, checkControllersAgree, checkNoClientErrors, checkCopy, checkReplicasAgree, type CheckResult, type ControllerImage, type FinalLog, type ReplicaCopy } from './checkers';
import { checkGroupCoverage } from './group-checkers';
import { CopyJob } from './copy-job';
import { logEnds } from './group-progress';
import { GroupWorkload } from './group-workload';
import { TxnWorkload } from './txn-workload';
import { chaosScript } from './worker-process';
import { ChaosCluster } from './harness/chaos-cluster';
import { History } from './history';
import { FAULTS, type NemesisContext, restartDead } from './nemesis';
import { writeReport } from './report';
import type { Scenario } from './scenarios';
import { logBytes } from './verify';
import { drain, ProducerWorkload, ReaderWorkload } from './workloads';
import { adminClient, CHAOS_ACLS, CHAOS_USER, configureChaosClients } from './client-security';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RunOptions {
  durationS: number;
  seed: number;
  resultsDir: string;
  logger: Logger;
  producers?: number;
  ratePerProducer?: number;
  partitions?: number;
  /** Writes must succeed again within this long after the heal. */
  recoveryBoundMs?: number;
  quietAfterHealMs?: number;
  /** Keep the cluster's data directory (it is removed after a passing run). */
  keepData?: boolean;
  /** Run the scenario's negative control: the same faults against its unsafe setting (it must fail). */
  negativeControl?: boolean;
  /** TLS and mutual TLS on every link and authorization on; the workload runs as User:chaos under ACLs (docs/chaos.md). */
  secure?: boolean;
}

/**
 * The chaos topic rolls a segment every 16 KiB (about every two seconds of the workload), so
 * faults land on rolled, fsynced segments as well as on the active one.
 */
export const CHAOS_SEGMENT_BYTES = 16 * 1024;

/** The copy job's output topic (row 20). */
const COPY_OUTPUT = 'chaos-out';

export interface RunReport {
  scenario: string;
  row: number;
  /** Set on a negative-control run: the unsafe setting, and the checker that must fail. */
  negativeControl?: { setting: string; expect: string };
  seed: number;
  durationS: number;
  startedAt: string;
  verdict: 'pass' | 'fail';
  checks: CheckResult[];
  faults: { fault: string; detail: string; startMs: number; endMs: number }[];
  throughput: number[];
  stats: { invoked: number; ok: number; info: number; fail: number; reads: number; drained: number; drainComplete: boolean; fencedProducers?: number };
  healedAtMs: number;
  dataDir: string;
  reportDir: string;
}

/** A negative control did its job: the run failed, with the checker its unsafe setting must trip. */
export function controlCaught(r: RunReport): boolean {
  return r.negativeControl !== undefined && r.verdict === 'fail' && r.checks.some((c) => !c.ok && c.checker === r.negativeControl!.expect);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      if (await check()) return true;
    } catch {
      // not yet
    }
    await sleep(250);
  }
  return false;
}

/** Replicas of every partition agree, byte for byte, below the end the drain reached (read from the stopped nodes' disks). */
async function checkReplicas(cluster: ChaosCluster, topic: string, final: FinalLog, replicas: Map<number, number[]>): Promise<CheckResult> {
  const copies: ReplicaCopy[] = [];
  for (const [partition, log] of final) {
    const end = log.size === 0 ? 0 : Math.max(...log.keys()) + 1;
    const holders = (replicas.get(partition) ?? cluster.nodeIds()).filter((id) => fs.existsSync(path.join(cluster.cluster.node(id).dataDir, `${topic}-${partition}`)));
    for (const node of holders) copies.push({ partition, end, node, bytes: await logBytes(cluster.cluster.node(node).dataDir, topic, partition, end) });
  }
  return checkReplicasAgree(copies);
}

/** Every controller replayed the same metadata (reliability.md row 22): waits up to 20 s for them to converge. */
async function checkControllers(cluster: ChaosCluster): Promise<CheckResult> {
  let images: ControllerImage[] = [];
  await waitFor(async () => {
    const qs = await Promise.all(cluster.nodeIds().map((id) => cluster.quorum(id)));
    images = qs.map((q, i) => ({ node: cluster.nodeIds()[i]!, offset: q?.metadataOffset ?? null, digest: q?.imageDigest ?? '' }));
    return checkControllersAgree(images).ok;
  }, 20_000);
  return checkControllersAgree(images);
}

export async function runScenario(s: Scenario, o: RunOptions): Promise<RunReport> {
  const startedAt = new Date().toISOString();
  const stamp = startedAt.replace(/[:.]/g, '-');
  const control = o.negativeControl ? s.negativeControl : undefined;
  if (o.negativeControl && !control) throw new Error(`scenario ${s.name} has no negative control${s.noNegativeControl ? `: ${s.noNegativeControl}` : ''}`);
  const reportDir = path.join(o.resultsDir, `${stamp}-${s.name}${control ? '-negative-control' : ''}-seed${o.seed}`);
  const dataDir = path.join(reportDir, 'cluster');
  const partitions = s.assignment?.length ?? s.partitions ?? o.partitions ?? 3;
  const nodes = s.nodes ?? 3;
  const random = new SeededRandom(o.seed);
  const history = new History();
  const logger = o.logger.child({ scenario: s.name, seed: o.seed });
  const env = new Map<number, Record<string, string>>();
  for (let id = 1; id <= nodes; id++) {
    const e: Record<string, string> = {};
    if (s.fsyncDelayMs) e.CAIRN_FAULT_FSYNC_DELAY_MS = String(s.fsyncDelayMs);
    if (control?.seededBug) e.CAIRN_SEEDED_BUG = control.seededBug;
    env.set(id, e);
  }
  const cluster = await ChaosCluster.create({
    nodes,
    controllers: s.controllers,
    baseDir: dataDir,
    logger,
    fsyncJournal: s.fsyncJournal,
    tmpfsMiB: s.tmpfsNode1MiB ? new Map([[1, s.tmpfsNode1MiB]]) : undefined,
    env,
    clockSkewMs: new Map((s.clockSkewMs ?? []).map((ms, i) => [i + 1, ms])),
    nodeArgs: control?.seededBug ? ['--require', chaosScript('seeded-bugs.js')] : undefined,
    secure: o.secure,
    flags: {
      'broker-session-timeout-ms': '4000',
      'broker-heartbeat-interval-ms': '500',
      'replica-lag-time-max-ms': '5000',
      'controller-quorum-election-timeout-ms': '1000',
      'controller-quorum-heartbeat-interval-ms': '200',
      'metadata-snapshot-max-entries': '200',
      ...s.flags,
      ...control?.flags,
    },
  });
  configureChaosClients(cluster.certificates, cluster.bootstrap);
  const topic = 'chaos';
  let producers: ProducerWorkload | null = null;
  let reader: ReaderWorkload | null = null;
  let group: GroupWorkload | null = null;
  let txns: TxnWorkload | null = null;
  let committedReader: ReaderWorkload | null = null;
  let copyJob: CopyJob | null = null;
  // Transaction scenarios drain (and read) at read_committed; their negative control does not.
  const isolationLevel = s.transactions ? (control?.isolationLevel ?? 'read_committed') : 'read_uncommitted';
  const checks: CheckResult[] = [];
  let healedAtMs = 0;
  let final: FinalLog = new Map();
  let drainComplete = false;
  try {
    await cluster.startAll();
    const admin = new Admin({ ...adminClient(cluster.bootstrap), requestTimeoutMs: 10_000 });
    try {
      // The workload's user and ACLs first: by the time the topic is everywhere, so are they.
      if (cluster.certificates) {
        await admin.upsertUser(CHAOS_USER.username, CHAOS_USER.password);
        await admin.createAcls(CHAOS_ACLS);
      }
      await admin.createTopic({
        name: topic,
        partitions,
        replicationFactor: 3,
        assignments: s.assignment,
        configs: { 'min.insync.replicas': String(s.minInsync ?? 2), 'segment.bytes': String(CHAOS_SEGMENT_BYTES) },
      });
      if (s.copyJob) await admin.createTopic({ name: COPY_OUTPUT, partitions, replicationFactor: 3, configs: { 'min.insync.replicas': String(s.minInsync ?? 2) } });
      await waitFor(async () => (await admin.describeTopics([topic]))[0]!.partitions.every((p) => p.leaderId > 0 && p.isr.length === 3), 30_000);
    } finally {
      admin.close();
    }
    producers = new ProducerWorkload({
      bootstrap: cluster.bootstrap,
      topic,
      partitions,
      producers: o.producers ?? 3,
      ratePerProducer: o.ratePerProducer ?? 100,
      concurrency: 8,
      history,
      enableIdempotence: control?.producer?.enableIdempotence,
    });
    reader = new ReaderWorkload({ bootstrap: cluster.bootstrap, topic, partitions, history, process: 100 });
    producers.start();
    reader.start();
    if (s.group) {
      group = new GroupWorkload({
        bootstrap: cluster.bootstrap,
        topic,
        group: 'chaos-group',
        history,
        logDir: path.join(reportDir, 'members'),
        commitBeforeProcessing: control?.member?.commitBeforeProcessing,
      });
      group.start(3);
    }
    if (s.transactions) {
      txns = new TxnWorkload({ bootstrap: cluster.bootstrap, topic, partitions, slots: 2, history, logDir: path.join(reportDir, 'txn-clients'), seed: o.seed });
      committedReader = new ReaderWorkload({ bootstrap: cluster.bootstrap, topic, partitions, history, process: 101, isolationLevel, mustReadCommitted: true });
      txns.start();
      committedReader.start();
    }
    if (s.copyJob) {
      copyJob = new CopyJob({ bootstrap: cluster.bootstrap, input: topic, output: COPY_OUTPUT, group: 'chaos-copy', transactionalId: 'chaos-copy', logDir: path.join(reportDir, 'copy-job') });
      copyJob.start();
    }
    const ctx: NemesisContext = { cluster, random, topic, partitions, history, ...(group ? { group } : {}), ...(txns ? { txns } : {}), ...(copyJob ? { copyJob } : {}) };
    const endAt = performance.now() + o.durationS * 1000;
    await sleep(2_000);
    const faults = control?.faults ?? s.faults;
    while (performance.now() < endAt && faults.length > 0) {
      const fault = FAULTS[random.pick(faults)]!;
      let detail: string;
      try {
        detail = await fault.apply(ctx);
      } catch (err) {
        detail = `could not apply: ${(err as Error).message}`;
      }
      history.fault('start', fault.name, detail);
      logger.info({ fault: fault.name, detail }, 'fault started');
      await sleep(random.int(s.holdMs[0], s.holdMs[1]));
      await fault.heal(ctx).catch((err) => logger.warn({ err: (err as Error).message }, 'heal failed'));
      history.fault('end', fault.name);
      await sleep(random.int(s.quietMs[0], s.quietMs[1]));
    }
    if (s.faults.length === 0) await sleep(Math.max(0, endAt - performance.now()));
    // Heal everything, then a quiet period with the workload still running.
    await cluster.healNetwork();
    await restartDead(ctx);
    txns?.heal();
    copyJob?.heal();
    for (const id of cluster.nodeIds()) cluster.freeDisk(id);
    cluster.resetClocks();
    healedAtMs = history.now();
    history.fault('start', 'heal', 'network healed, every node resumed or restarted, disk freed, clocks reset');
    await sleep(o.quietAfterHealMs ?? 10_000);
    await producers.stop();
    await reader.stop();
    await txns?.stop();
    await committedReader?.stop();
    const drained = await drain(cluster.bootstrap, topic, partitions, [...producers.lastAcked(), ...(txns?.lastCommitted() ?? [])], 60_000, isolationLevel);
    final = drained.log;
    drainComplete = drained.complete;
    if (copyJob) {
      // The job copies on until its group has committed every input partition's end; then the output is read at read_committed.
      await copyJob.waitCaughtUp(logEnds(final), 90_000);
      const output = await drain(cluster.bootstrap, COPY_OUTPUT, partitions, [], 60_000, 'read_committed');
      await copyJob.stop();
      checks.push(checkCopy(final, output.log));
    }
    if (group) {
      // The members read on until the group has committed every partition's end, then leave.
      const committed = await group.waitCaughtUp(logEnds(final), 60_000);
      await group.stop();
      checks.push(checkGroupCoverage(history.groupOps(), final, committed));
    }
    checks.push(...checkAll(history, final, { strictDuplicates: s.strictDuplicates, healedAtMs, recoveryBoundMs: o.recoveryBoundMs ?? 30_000 }));
    if (s.noClientErrors) checks.push(checkNoClientErrors(history.sends()));
    if (s.checkControllers) checks.push(await checkControllers(cluster));
    const admin2 = new Admin({ ...adminClient(cluster.bootstrap), requestTimeoutMs: 5_000 });
    // Replicas converge (reassignments finished, every ISR full again), then compare the logs on disk with the nodes stopped.
    const replicas = new Map<number, number[]>();
    const converged = await waitFor(async () => {
      const ps = (await admin2.describeTopics([topic]))[0]!.partitions;
      for (const p of ps) replicas.set(p.partition, p.replicas);
      return ps.every((p) => p.replicas.length === 3 && p.isr.length === 3 && p.addingReplicas.length === 0 && p.removingReplicas.length === 0);
    }, 60_000);
    admin2.close();
    await cluster.cluster.stopAll('SIGTERM');
    checks.push(
      converged
        ? await checkReplicas(cluster, topic, final, replicas)
        : {
            checker: 'replicas-agree',
            ok: false,
            summary: 'ISRs never became full again',
            problems: ['replicas did not all rejoin the ISR (or a reassignment did not finish) within 60 s of the drain'],
          },
    );
  } catch (err) {
    checks.push({ checker: 'run', ok: false, summary: 'the run itself failed', problems: [(err as Error).stack ?? String(err)] });
  } finally {
    await producers?.stop().catch(() => undefined);
    await reader?.stop().catch(() => undefined);
    await group?.stop().catch(() => undefined);
    await txns?.stop().catch(() => undefined);
    await committedReader?.stop().catch(() => undefined);
    await copyJob?.stop().catch(() => undefined);
    await cluster.stop();
    configureChaosClients(null);
  }
  const sends = history.sends();
  const faults: RunReport['faults'] = [];
  for (const op of history.ops) {
    if (op.kind !== 'fault') continue;
    if (op.phase === 'start') faults.push({ fault: op.fault, detail: op.detail, startMs: op.timeMs, endMs: op.fault === 'heal' ? op.timeMs : -1 });
    else {
      const open = [...faults].reverse().find((f) => f.fault === op.fault && f.endMs < 0);
      if (open) open.endMs = op.timeMs;
    }
  }
  const seconds = Math.ceil(history.now() / 1000);
  const throughput = new Array<number>(seconds).fill(0);
  for (const op of sends) if (op.type === 'ok') throughput[Math.floor(op.timeMs / 1000)]!++;
  const report: RunReport = {
    scenario: s.name,
    row: s.row,
    ...(control ? { negativeControl: { setting: control.setting, expect: control.expect } } : {}),
    seed: o.seed,
    durationS: o.durationS,
    startedAt,
    verdict: checks.every((c) => c.ok) ? 'pass' : 'fail',
    checks,
    faults,
    throughput,
    stats: {
      invoked: sends.filter((x) => x.type === 'invoke').length,
      ok: sends.filter((x) => x.type === 'ok').length,
      info: sends.filter((x) => x.type === 'info').length,
      fail: sends.filter((x) => x.type === 'fail').length,
      reads: history.reads().length,
      drained: [...final.values()].reduce((n, l) => n + l.size, 0),
      drainComplete,
      ...(txns ? { fencedProducers: txns.fenced } : {}),
    },
    healedAtMs,
    dataDir,
    reportDir,
  };
  writeReport(report, history);
  if ((report.verdict === 'pass' || controlCaught(report)) && !o.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
  return report;
}
