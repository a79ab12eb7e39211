import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '../../src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/from '(\.{1,2}\/[^']+)'/g)].map((m) => path.relative(SRC, path.resolve(path.dirname(file), m[1]!)).split(path.sep)[0]!);
}

const layer = (file: string) => path.relative(SRC, file).split(path.sep)[0]!;

describe('architecture (design brief §2)', () => {
  it('nothing imports server/ or cli/ except themselves (cli may use server)', () => {
    const bad: string[] = [];
    for (const f of files(SRC)) {
      const l = layer(f);
      for (const target of imports(f)) {
        if (target === 'cli' && l !== 'cli') bad.push(`${path.relative(SRC, f)} imports cli/`);
        if (target === 'server' && l !== 'server' && l !== 'cli') bad.push(`${path.relative(SRC, f)} imports server/`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('imports only point down the layer list (design brief §2)', () => {
    // Highest first; protocol/ and common/ are the shared bottom (see docs/design-decisions.md).
    const ORDER = ['cli', 'server', 'client', 'controller', 'raft', 'coordinator', 'replication', 'storage', 'metadata', 'record', 'protocol', 'common'];
    const rank = (l: string) => ORDER.indexOf(l);
    const bad: string[] = [];
    for (const f of files(SRC)) {
      const l = layer(f);
      for (const target of imports(f)) {
        if (target === l) continue;
        const bottom = (x: string) => x === 'protocol' || x === 'common';
        if (bottom(l) && bottom(target)) continue;
        if (rank(target) < rank(l)) bad.push(`${path.relative(SRC, f)} (${l}) imports ${target}/`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('record/ and common/ import nothing of ours but each other', () => {
    const bad: string[] = [];
    for (const f of files(SRC)) {
      const l = layer(f);
      if (l !== 'record' && l !== 'common') continue;
      for (const target of imports(f)) if (target !== 'record' && target !== 'common') bad.push(`${path.relative(SRC, f)} imports ${target}/`);
    }
    expect(bad).toEqual([]);
  });

  it('pure cores read no clock, no randomness and arm no timers (style §11); shells say so in their name', () => {
    const PURE = ['raft', 'replication', 'coordinator', 'controller', 'metadata'];
    const FORBIDDEN = /Date\.now\(|performance\.now\(|Math\.random\(|setTimeout\(|setInterval\(/;
    const bad: string[] = [];
    for (const f of files(SRC)) {
      if (!PURE.includes(layer(f)) || /shell|driver|runtime|transport|\/io\//i.test(f)) continue;
      const lines = fs.readFileSync(f, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (FORBIDDEN.test(line) && !line.trim().startsWith('//') && !line.trim().startsWith('*')) bad.push(`${path.relative(SRC, f)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(bad).toEqual([]);
  });

  it('no console.log outside the CLI', () => {
    const bad = files(SRC).filter((f) => layer(f) !== 'cli' && /console\.log\(/.test(fs.readFileSync(f, 'utf8')));
    expect(bad).toEqual([]);
  });
});
