import { delegateTo, type FileSystem, nodeFileSystem } from '../../../src/storage/file-system';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock';
import { CairnError, ErrorCode } from '../../../src/common/errors';
import { silentLogger } from '../../../src/common/io/logger';
import type { TimerHandle, Timers } from '../../../src/common/timers';
import type { MetadataImage } from '../../../src/metadata/image';
import { encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { ReplicaManager } from '../../../src/replication/io/replica-manager';
import type { AlterPartitionRequest, ReplicaFetchTransport } from '../../../src/replication/replica-types';
import { DEFAULT_LOG_CONFIG } from '../../../src/common/log-config';
import { LogManager } from '../../../src/storage/log-manager';
import { tmpDir, waitFor } from '../../helpers/tmp';
import { apply, withBrokers, withPartition } from '../controller/helpers';

/** Timers on the manual clock: they fire only when the test moves time on. */
class ManualTimers implements Timers {
  private queue: { atMs: number; fn: () => void; live: boolean }[] = [];
  constructor(private readonly clock: ManualClock) {}
  after(delayMs: number, fn: () => void): TimerHandle {
    const t = { atMs: this.clock.nowMs() + delayMs, fn, live: true };
    this.queue.push(t);
    return { cancel: () => void (t.live = false) };
  }
  every(intervalMs: number, fn: () => void): TimerHandle {
    let handle: TimerHandle;
    const again = () => {
      fn();
      handle = this.after(intervalMs, again);
    };
    handle = this.after(intervalMs, again);
    return { cancel: () => handle.cancel() };
  }
  advance(ms: number): void {
    this.clock.advance(ms);
    for (;;) {
      const due = this.queue.filter((t) => t.live && t.atMs <= this.clock.nowMs()).sort((a, b) => a.atMs - b.atMs)[0];
      if (due === undefined) break;
      due.live = false;
      due.fn();
    }
    this.queue = this.queue.filter((t) => t.live);
  }
}

const open: (LogManager | ReplicaManager)[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

/**
 * Two brokers in one process: real PartitionLogs, the shipped replication shells, the leader's
 * fetch service called in process as the follower's transport, manual time.
 */
function cluster(image: MetadataImage, fetchUp: () => boolean = () => true, fileSystems: Partial<Record<number, FileSystem>> = {}) {
  const clock = new ManualClock(1_000);
  const timers = new ManualTimers(clock);
  const managers = new Map<number, ReplicaManager>();
  const alters: AlterPartitionRequest[] = [];
  /** Replica fetches sent, by leader. */
  const fetchesTo = new Map<number, number>();
  for (const id of [1, 2]) {
    const logs = new LogManager({ fs: fileSystems[id] ?? nodeFileSystem, dataDir: tmpDir('cairn-repl-shell-'), flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => clock.wallMs() });
    logs.load();
    const fetchTransport: ReplicaFetchTransport = {
      send: (leaderId, req) => {
        fetchesTo.set(leaderId, (fetchesTo.get(leaderId) ?? 0) + 1);
        return fetchUp() ? managers.get(leaderId)!.handleReplicaFetch(req) : Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, 'down'));
      },
      close: () => undefined,
    };
    const rm = new ReplicaManager({
      nodeId: id,
      incarnationId: `inc-${id}`,
      brokerEpoch: () => id,
      logs,
      logDefaults: DEFAULT_LOG_CONFIG,
      fetchTransport,
      alterPartitionTransport: { send: async (req) => (alters.push(req), { errorCode: ErrorCode.NONE, results: [] }) },
      clock,
      timers,
      logger: silentLogger,
      replicaLagTimeMaxMs: 10_000,
    });
    managers.set(id, rm);
    open.push(rm, logs);
    rm.applyImage(image, null);
  }
  return { clock, timers, managers, alters, fetchesTo };
}

function batch(values: string[]) {
  const buf = encodeBatch(values.map((v) => ({ value: Buffer.from(v), timestamp: 1_000 })));
  const v = validateBatches(buf, { maxBatchBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  return { buf, validated: v.batches };
}

describe('replication shells in process (no gRPC): ReplicaManager.appendAsLeader and handleReplicaFetch', () => {
  it('an acks=all write completes once the follower has fetched it and fsynced it; both logs then hold it below the high watermark', async () => {
    const image = withPartition(withBrokers(2), 't', [1, 2], [1, 2], 1, { 'min.insync.replicas': '2' });
    const { managers } = cluster(image);
    const leader = managers.get(1)!;
    const p = leader.lookup('t', 0);
    const { buf, validated } = batch(['a', 'b', 'c']);
    const { info, acked } = leader.appendAsLeader(p, buf, validated, -1, 30_000, 1_000);
    expect(info.firstOffset).toBe(0);
    let done = false;
    void acked.then(() => (done = true));
    await waitFor(() => done, 'the acks=all write to complete');
    expect(p.highWatermark).toBe(3);
    const follower = managers.get(2)!.lookup('t', 0);
    expect(follower.log.durableEndOffset).toBe(3);
    expect(follower.log.read(0, 1 << 20, 3, true).equals(p.log.read(0, 1 << 20, 3, true))).toBe(true);
  });

  it('an acks=all write whose follower cannot fetch times out on the (manual) clock, and the lagging follower is dropped from the ISR', async () => {
    const image = withPartition(withBrokers(2), 't', [1, 2], [1, 2], 1);
    let up = true;
    const { managers, timers, alters } = cluster(image, () => up);
    up = false;
    const leader = managers.get(1)!;
    const p = leader.lookup('t', 0);
    const { buf, validated } = batch(['x']);
    const { acked } = leader.appendAsLeader(p, buf, validated, -1, 5_000, 1_000);
    let outcome: unknown = null;
    acked.then(
      () => (outcome = 'acked'),
      (err: unknown) => (outcome = err),
    );
    await waitFor(() => p.log.durableEndOffset === 1, 'the local fsync');
    timers.advance(4_999);
    await Promise.resolve();
    expect(outcome).toBeNull();
    timers.advance(1);
    await waitFor(() => outcome !== null, 'the produce to be answered');
    expect((outcome as CairnError).code).toBe(ErrorCode.REQUEST_TIMED_OUT);
    for (let i = 0; i < 6; i++) timers.advance(2_500);
    await waitFor(() => alters.length > 0, 'an ISR shrink request');
    expect(alters[0]!.partitions[0]).toMatchObject({ topicId: 't-id', partition: 0, newIsr: [1] });
  });

  it('a follower elected while its fetched tail is not fsynced yet: that fsync alone moves the high watermark, with no write after it', async () => {
    // Found by the decommission test: a retried idempotent batch that is already in the new
    // leader's log writes nothing, and its producer waits for the high watermark to pass it. If
    // only a leader append told the core about local fsyncs, that wait lasted until the timeout,
    // and again on every retry.
    const image = withPartition(withBrokers(2), 't', [1, 2], [1, 2], 1);
    const held: (() => void)[] = [];
    let hold = false;
    const follower: FileSystem = { ...delegateTo(nodeFileSystem), fsync: (fd, cb) => (hold ? held.push(() => nodeFileSystem.fsync(fd, cb)) : nodeFileSystem.fsync(fd, cb)) };
    const { managers, fetchesTo } = cluster(image, () => true, { 2: follower });
    const p1 = managers.get(1)!.lookup('t', 0);
    const p2 = managers.get(2)!.lookup('t', 0);
    hold = true;
    const { buf, validated } = batch(['a', 'b', 'c']);
    managers.get(1)!.appendAsLeader(p1, buf, validated, 1, 30_000, 1_000);
    await waitFor(() => p2.log.logEndOffset === 3 && held.length > 0, 'the follower to fetch the batch, its fsync held');
    expect(p2.log.durableEndOffset).toBe(0);
    // Broker 2 is elected; broker 1, which has the batch fsynced, follows it.
    const moved = apply(image, [{ type: 'PartitionChange', topicId: 't-id', partition: 0, leader: 2 }]);
    for (const id of [2, 1]) managers.get(id)!.applyImage(moved, null);
    expect(p2.role).toBe('leader');
    await waitFor(() => (fetchesTo.get(2) ?? 0) > 0, 'broker 1 to fetch from the new leader');
    expect(p2.highWatermark).toBe(0);
    hold = false;
    for (const release of held.splice(0)) release();
    await waitFor(() => p2.highWatermark === 3, 'the new leader to count its own fsync');
  });
});

describe('ReplicaManager.applyImage on a large topic', () => {
  it('applies what fits in a slice, the rest after the event loop has had a turn, and tells its listeners again once all are in', () => {
    let image = withBrokers(1);
    for (let i = 0; i < 40; i++) image = withPartition(image, 'wide', [1], [1], 1);
    const clock = new ManualClock(1_000);
    const timers = new ManualTimers(clock);
    // Every reading of the clock finds 10 ms gone: the work of a loaded disk, on manual time.
    const slowClock = { nowMs: () => (clock.advance(10), clock.nowMs()), wallMs: () => clock.wallMs() };
    const logs = new LogManager({ fs: nodeFileSystem, dataDir: tmpDir('cairn-repl-slices-'), flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => clock.wallMs() });
    logs.load();
    const rm = new ReplicaManager({
      nodeId: 1,
      incarnationId: 'inc-1',
      brokerEpoch: () => 1,
      logs,
      logDefaults: DEFAULT_LOG_CONFIG,
      fetchTransport: { send: () => Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, 'no peers')), close: () => undefined },
      alterPartitionTransport: { send: async () => ({ errorCode: ErrorCode.NONE, results: [] }) },
      clock: slowClock,
      timers,
      logger: silentLogger,
      replicaLagTimeMaxMs: 10_000,
    });
    open.push(rm, logs);
    const heard: number[] = [];
    rm.addListener(() => heard.push(rm.all().length));

    rm.applyImage(image, null);
    const first = rm.all().length;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(40);
    expect(() => rm.lookup('wide', 39)).toThrow(expect.objectContaining({ code: ErrorCode.NOT_LEADER_OR_FOLLOWER }));
    expect(heard).toEqual([first]);

    for (let turns = 0; rm.all().length < 40 && turns < 40; turns++) timers.advance(0);
    expect(rm.all()).toHaveLength(40);
    expect(rm.lookup('wide', 39).role).toBe('leader');
    expect(heard.at(-1)).toBe(40);
  });
});
