import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { dropUnfsyncedIn } from '../../../chaos/harness/chaos-cluster';

it('a dropped page cache cuts data files back to their fsynced size and leaves server.log whole', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-page-cache-'));
  const file = (rel: string, bytes: number) => {
    const full = path.join(dir, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, Buffer.alloc(bytes, 1));
    return full;
  };
  const log = file('server.log', 500);
  const rolled = file('chaos-0/00000000000000000000.log', 100);
  const active = file('chaos-0/00000000000000000042.log', 80);
  const fresh = file('chaos-0/00000000000000000077.log', 30);
  const index = file('chaos-0/00000000000000000042.index', 16);
  const raft = file('__cluster_metadata-0/raft-entries.log', 60);
  const meta = file('meta.properties', 20);
  const durable = new Map([
    [rolled, 100],
    [active, 50],
    [raft, 60],
    [log, 0], // never fsynced, yet not the node's data
  ]);
  expect(dropUnfsyncedIn(dir, durable)).toEqual({ files: 2, bytes: 30 + 30 });
  const size = (f: string) => fs.statSync(f).size;
  expect([size(log), size(rolled), size(active), size(fresh), size(raft), size(meta)]).toEqual([500, 100, 50, 0, 60, 20]);
  expect(fs.existsSync(index)).toBe(false);
});
