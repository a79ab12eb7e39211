import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../src/common/clock';
import { silentLogger } from '../../../src/common/io/logger';
import { SeededRandom } from '../../../src/common/random';
import type { CommittedBatch } from '../../../src/metadata/metadata-log';
import { MetadataPublisher } from '../../../src/metadata/metadata-publisher';
import { RaftDriver } from '../../../src/raft/io/raft-driver';
import { loadNodeConfig } from '../../../src/server/config';
import { ControllerRole, LegacyMetadataLogError } from '../../../src/server/controller-role';

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-single-voter-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('a one-voter metadata log is Raft with one voter', () => {
  it('elects itself at once and commits on its own fsync: no election timeout passes on its clock', async () => {
    // The clock never moves: had the node to wait out an election timeout (a minute here) before
    // campaigning, it would never lead.
    const clock = new ManualClock(1_000);
    const log = await RaftDriver.open({
      nodeId: 1,
      voters: [1],
      dir: path.join(tmp(), '__cluster_metadata-0'),
      transport: { send: () => undefined, close: () => undefined },
      electionTimeoutMs: 60_000,
      heartbeatIntervalMs: 1_000,
      snapshotEvery: 1_000,
      snapshotData: () => new Uint8Array(),
      logger: silentLogger,
      clock,
      random: new SeededRandom(1),
      onFatal: (err) => {
        throw err;
      },
    });
    const committed: CommittedBatch[] = [];
    log.subscribe({ onCommit: (b) => committed.push(b), onSnapshot: () => undefined });
    log.start();
    try {
      await vi.waitFor(() => expect(log.isLeader()).toBe(true), { timeout: 5_000, interval: 5 });
      expect(log.leaderId()).toBe(1);
      const offset = await log.append([{ type: 'ClusterId', clusterId: 'c' }]);
      expect(offset).toBe(2); // after the leader's no-op
      expect(committed.map((b) => b.offset)).toEqual([1, 2]);
      expect(committed[1]!.records).toEqual([{ type: 'ClusterId', clusterId: 'c' }]);
    } finally {
      await log.close();
    }
  });

  it('a node refuses, with a typed error, a metadata directory written by the old single-node metadata log', async () => {
    const dataDir = tmp();
    const metaDir = path.join(dataDir, '__cluster_metadata-0');
    fs.mkdirSync(metaDir, { recursive: true });
    fs.writeFileSync(path.join(metaDir, 'metadata.log'), Buffer.from([0, 0, 0, 2, 1, 2, 3, 4, 5, 6]));
    const config = loadNodeConfig({ 'node.id': '1', 'log.dir': dataDir, listeners: '127.0.0.1:0' }, {});
    const lines: string[] = [];
    const logger = silentLogger.child({});
    logger.level = 'fatal';
    const fatal = vi.spyOn(logger, 'fatal').mockImplementation(((obj: unknown, msg: string) => void lines.push(msg)) as never);
    const opened = ControllerRole.open(config, new MetadataPublisher(silentLogger), new ManualClock(0), logger, 1, () => undefined);
    await expect(opened).rejects.toBeInstanceOf(LegacyMetadataLogError);
    await expect(opened).rejects.toThrow(/metadata\.log was written by an older single-node Cairn/);
    expect(lines).toEqual(['metadata directory holds a legacy single-node metadata log']);
    // Nothing was written beside it: no Raft files, the old file untouched.
    expect(fs.readdirSync(metaDir)).toEqual(['metadata.log']);
    fatal.mockRestore();
  });
});
