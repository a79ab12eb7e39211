import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { clockSkewMs, systemClock, watchClockSkewFile } from '../../../src/common/io/system-clock';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let stop: (() => void) | null = null;
afterEach(() => stop?.());

it('a wall-clock jump (the chaos clock nemesis) moves wallMs only; nowMs stays monotonic', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-clock-')), 'skew');
  const seen: number[] = [];
  stop = watchClockSkewFile(file, (ms) => seen.push(ms), 10);
  const mono0 = systemClock.nowMs();
  const wall0 = systemClock.wallMs();
  fs.writeFileSync(file, '3600000');
  for (let i = 0; i < 100 && clockSkewMs() !== 3_600_000; i++) await sleep(10);
  expect(seen).toEqual([3_600_000]);
  expect(systemClock.wallMs() - wall0).toBeGreaterThanOrEqual(3_600_000);
  expect(systemClock.nowMs() - mono0).toBeLessThan(5_000);
  const mono1 = systemClock.nowMs();
  fs.writeFileSync(file, '-3600000'); // and back, past where it started
  for (let i = 0; i < 100 && clockSkewMs() !== -3_600_000; i++) await sleep(10);
  expect(systemClock.wallMs()).toBeLessThan(wall0);
  expect(systemClock.nowMs()).toBeGreaterThanOrEqual(mono1);
  fs.writeFileSync(file, '0');
  for (let i = 0; i < 100 && clockSkewMs() !== 0; i++) await sleep(10);
  expect(clockSkewMs()).toBe(0);
});
