/**
 * Style §11: the Raft core reads no clock, draws no Math.random, arms no timer and does no I/O.
 * Only files whose names say they are the edge (storage, shell, transport, driver) may.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const RAFT_DIR = path.join(__dirname, '../../../src/raft');
const EDGE = /storage|shell|transport|driver/;
const FORBIDDEN = [/\bDate\.now\b/, /\bperformance\.now\b/, /\bMath\.random\b/, /\bsetTimeout\b/, /\bsetInterval\b/, /\bsetImmediate\b/, /from ['"](node:)?(fs|net|http2?|dgram|child_process)(\/promises)?['"]/, /\bprocess\.hrtime\b/, /new Date\(/];

test('the pure Raft core files use no clock, randomness, timers or I/O', () => {
  const files = fs.readdirSync(RAFT_DIR).filter((f) => f.endsWith('.ts') && !EDGE.test(f));
  expect(files.length).toBeGreaterThan(5);
  const offences: string[] = [];
  for (const f of files) {
    const source = fs.readFileSync(path.join(RAFT_DIR, f), 'utf8');
    source.split('\n').forEach((line, i) => {
      for (const pattern of FORBIDDEN) if (pattern.test(line)) offences.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  expect(offences).toEqual([]);
});
