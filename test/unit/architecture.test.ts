/**
 * The layer contract of src/ (docs/architecture.md), checked over the whole tree. The contract itself
 * is test/unit/layers.json, which eslint.config.mjs also reads; this file holds only the checks and
 * two allow-lists, MOVES and KNOWN, which are empty: src/ keeps the contract with no exceptions. Both
 * are ratchets: a new violation fails, and so does an entry that no longer violates.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import contract from './layers.json';

const ROOT = path.resolve(__dirname, '../..');

type LayerName = string;
const LAYERS: Record<LayerName, { pure: boolean; mayImport: LayerName[] }> = contract.layers;
const NAMES = Object.keys(LAYERS);

/**
 * Files that sit in the wrong folder, each judged as if it were already in `to` until it moves (a
 * shell inside a pure layer's folder goes to that layer's io/ folder). Empty since issue 16 item 6
 * moved the last ones; an entry needs a reason and an issue that removes it.
 */
const MOVES: Record<string, { to: LayerName; why: string }> = {};

/**
 * Other known violations, each with the change that removes it. Keys are what the checks report:
 * `table: A -> B` (A's layer may not import B's), `purity: F uses X` / `purity: F imports M`, and
 * `entry: F` (F is imported from another layer instead of its layer's index.ts). Empty.
 */
const KNOWN: Record<string, string> = {};

// ---------------------------------------------------------------------------------------------
// The checker. Pure over a map of sources, so that the negative controls below can feed it a bad tree.

type Sources = Record<string, string>; // 'src/raft/raft-core.ts' -> text
type Import = { spec: string; typeOnly: boolean };
type Parsed = { imports: Import[]; globals: Set<string> };

function readTree(): Sources {
  const out: Sources = {};
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) out[rel] = fs.readFileSync(path.join(ROOT, rel), 'utf8');
    }
  };
  walk('src');
  return out;
}

/** The layer a path's folder says it is in: the longest layer folder that contains it. */
function folderLayer(file: string): LayerName | undefined {
  return NAMES.filter((l) => file.startsWith(`src/${l}/`)).sort((a, b) => b.length - a.length)[0];
}

const GLOBALS = new Set(contract.pure.globals);
const PROPERTIES = contract.pure.properties.map(([o, p]) => `${o}.${p}`);

/** Imports (static, re-exports, dynamic) and the forbidden globals a file uses, from its syntax tree (comments and strings do not count). */
function parse(file: string, text: string): Parsed {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const imports: Import[] = [];
  const globals = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      imports.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      imports.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isCallExpression(node) &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0]) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      imports.push({ spec: node.arguments[0].text, typeOnly: false });
    } else if (ts.isPropertyAccessExpression(node) && PROPERTIES.includes(`${node.expression.getText(sf)}.${node.name.text}`)) {
      globals.add(`${node.expression.getText(sf)}.${node.name.text}`);
    } else if (ts.isIdentifier(node) && GLOBALS.has(node.text) && isValueUse(node)) {
      globals.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { imports, globals };
}

/** An identifier read as a value: not a property name, a declared name, or a type. */
function isValueUse(id: ts.Identifier): boolean {
  const p = id.parent;
  if ((ts.isPropertyAccessExpression(p) && p.name === id) || (ts.isQualifiedName(p) && p.right === id)) return false;
  if ((ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isPropertySignature(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p)) && p.name === id) return false;
  if ((ts.isVariableDeclaration(p) || ts.isParameter(p) || ts.isFunctionDeclaration(p) || ts.isClassDeclaration(p) || ts.isBindingElement(p)) && p.name === id) return false;
  if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p) || ts.isImportClause(p) || ts.isNamespaceImport(p)) return false;
  if (ts.isTypeReferenceNode(p) || ts.isExpressionWithTypeArguments(p) || ts.isTypeQueryNode(p)) return false;
  return true;
}

function resolve(sources: Sources, from: string, spec: string): string | undefined {
  const p = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  return [`${p}.ts`, `${p}/index.ts`, p].find((c) => c in sources);
}

const isBanned = (spec: string) => contract.pure.modules.some((m) => (m.endsWith('/*') ? spec.startsWith(m.slice(0, -1)) : spec === m));

/** ownViolations: why a file must move — its table and purity violations where its folder puts it (deep imports are not a reason to move). */
type Report = { table: string[]; purity: string[]; entry: string[]; unplaced: string[]; ownViolations: (file: string) => string[] };

/** Every violation of the contract in `sources`, with the files of `moves` judged at their destination. */
function analyse(sources: Sources, moves: Record<string, { to: LayerName }> = MOVES): Report {
  const parsed = new Map(Object.entries(sources).map(([f, t]) => [f, parse(f, t)]));
  const layerOf = (file: string, ignoreMove = false) => (!ignoreMove && moves[file]?.to) || folderLayer(file);

  /** The table and purity violations of one file, as if it were in `layer`. */
  const violationsOf = (file: string, layer: LayerName | undefined): { table: string[]; purity: string[]; entry: string[] } => {
    const out = { table: [] as string[], purity: [] as string[], entry: [] as string[] };
    if (!layer) return out;
    const { pure, mayImport } = LAYERS[layer]!;
    const { imports, globals } = parsed.get(file)!;
    for (const { spec, typeOnly } of imports) {
      if (!spec.startsWith('.')) {
        if (pure && isBanned(spec) && !(typeOnly && contract.pure.typeImportsAllowed.includes(spec))) out.purity.push(`purity: ${file} imports ${spec}`);
        continue;
      }
      const target = resolve(sources, file, spec);
      const to = target && layerOf(target);
      if (!target || !to || to === layer) continue;
      if (!mayImport.includes(to)) out.table.push(`table: ${file} -> ${target}`);
      else if (target !== `src/${to}/index.ts`) out.entry.push(`entry: ${target}`);
    }
    if (pure) for (const g of globals) out.purity.push(`purity: ${file} uses ${g}`);
    return out;
  };

  const report: Report = { table: [], purity: [], entry: [], unplaced: [], ownViolations: (file) => ((v) => [...v.table, ...v.purity])(violationsOf(file, layerOf(file, true))) };
  for (const file of parsed.keys()) {
    const layer = layerOf(file);
    if (!layer || path.posix.dirname(moves[file] ? `src/${layer}/x.ts` : file) !== `src/${layer}`) report.unplaced.push(file);
    const v = violationsOf(file, layer);
    report.table.push(...v.table);
    report.purity.push(...v.purity);
    report.entry.push(...v.entry);
  }
  const uniqueSorted = (xs: string[]) => [...new Set(xs)].sort();
  return { ...report, table: uniqueSorted(report.table), purity: uniqueSorted(report.purity), entry: uniqueSorted(report.entry), unplaced: uniqueSorted(report.unplaced) };
}

/** What `actual` adds to the known list, and which known entries of this kind it no longer shows. */
function ratchet(actual: string[], kind: string) {
  const known = Object.keys(KNOWN).filter((k) => k.startsWith(`${kind}: `));
  return { new: actual.filter((v) => !(v in KNOWN)), fixed_remove_from_KNOWN: known.filter((k) => !actual.includes(k)) };
}

// ---------------------------------------------------------------------------------------------

describe('the table (test/unit/layers.json) is a layering', () => {
  it('names only layers, never itself, and has no cycle', () => {
    const problems: string[] = [];
    for (const [name, l] of Object.entries(LAYERS)) for (const m of l.mayImport) if (!(m in LAYERS) || m === name) problems.push(`${name} -> ${m}`);
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (n: string, trail: string[]): void => {
      if (state.get(n) === 'done') return;
      if (state.get(n) === 'visiting') return void problems.push(`cycle: ${[...trail, n].join(' -> ')}`);
      state.set(n, 'visiting');
      for (const m of LAYERS[n]?.mayImport ?? []) visit(m, [...trail, n]);
      state.set(n, 'done');
    };
    for (const n of NAMES) visit(n, []);
    expect(problems).toEqual([]);
  });

  it('a pure layer imports only pure layers; an io/ layer may import its core; nothing imports cli/, only cli/ imports server/', () => {
    const problems: string[] = [];
    for (const [name, l] of Object.entries(LAYERS)) {
      if (l.pure) for (const m of l.mayImport) if (!LAYERS[m]?.pure) problems.push(`pure ${name} may import impure ${m}`);
      if (name.endsWith('/io') && !l.mayImport.includes(name.slice(0, -3))) problems.push(`${name} may not import its core`);
      if (name.endsWith('/io') && l.pure) problems.push(`${name} is an io/ folder marked pure`);
      if (l.mayImport.includes('cli')) problems.push(`${name} may import cli`);
      if (name !== 'cli' && l.mayImport.includes('server')) problems.push(`${name} may import server`);
    }
    expect(problems).toEqual([]);
  });
});

describe('src/ keeps the contract (docs/architecture.md)', () => {
  const report = analyse(readTree());

  it('every file is in a layer folder, directly (the lint patterns rely on it)', () => {
    expect(report.unplaced).toEqual([]);
  });

  it('MOVES names only files that still violate where they are, bound for a layer that exists', () => {
    const stale = Object.entries(MOVES).flatMap(([file, { to }]) => {
      if (!(to in LAYERS)) return [`${file}: no layer ${to}`];
      if (!fs.existsSync(path.join(ROOT, file))) return [`${file}: gone (moved?) — remove it from MOVES`];
      if (folderLayer(file) === to) return [`${file}: already in ${to} — remove it from MOVES`];
      return report.ownViolations(file).length === 0 ? [`${file}: no longer violates in ${folderLayer(file)} — remove it from MOVES`] : [];
    });
    expect(stale).toEqual([]);
  });

  it('imports follow the table', () => {
    expect(ratchet(report.table, 'table')).toEqual({ new: [], fixed_remove_from_KNOWN: [] });
  });

  it('pure layers import no fs, net, child_process, perf_hooks, @grpc/*, pino (but its types) and use no timers, Date, performance, process, Math.random', () => {
    expect(ratchet(report.purity, 'purity')).toEqual({ new: [], fixed_remove_from_KNOWN: [] });
  });

  it('another layer is entered through its index.ts', () => {
    expect(ratchet(report.entry, 'entry')).toEqual({ new: [], fixed_remove_from_KNOWN: [] });
  });

  it('no console.log outside the CLI', () => {
    const bad = Object.entries(readTree()).filter(([f, text]) => folderLayer(f) !== 'cli' && /console\.log\(/.test(text));
    expect(bad.map(([f]) => f)).toEqual([]);
  });
});

describe('negative controls: each check catches a deliberately bad file', () => {
  const tree = readTree();
  const before = analyse(tree);
  const added = (extra: Sources) => {
    const after = analyse({ ...tree, ...extra });
    return {
      table: after.table.filter((v) => !before.table.includes(v)),
      purity: after.purity.filter((v) => !before.purity.includes(v)),
      entry: after.entry.filter((v) => !before.entry.includes(v)),
      unplaced: after.unplaced,
    };
  };

  it('a pure layer importing a layer outside its row, and importing node:fs, pino or @grpc', () => {
    const bad = {
      'src/raft/bad.ts':
        "import * as fs from 'node:fs';\nimport pino from 'pino';\nimport type { Logger } from 'pino';\nimport * as grpc from '@grpc/grpc-js';\nimport { LogSegment } from '../storage/log-segment';\n",
    };
    const r = added(bad);
    expect(r.table).toEqual(['table: src/raft/bad.ts -> src/storage/log-segment.ts']);
    expect(r.purity).toEqual(['purity: src/raft/bad.ts imports @grpc/grpc-js', 'purity: src/raft/bad.ts imports node:fs', 'purity: src/raft/bad.ts imports pino']);
  });

  it('a pure layer reading the clock, arming a timer, drawing Math.random — but not a property or a type of the same name', () => {
    const bad = {
      'src/controller/bad.ts':
        'export const t = Date.now();\nsetTimeout(() => Math.random(), 1);\nconst o = { process: 1, Date: 2 };\nexport let d: Date | undefined = o.process ? undefined : undefined;\n',
    };
    expect(added(bad).purity).toEqual(['purity: src/controller/bad.ts uses Date', 'purity: src/controller/bad.ts uses Math.random', 'purity: src/controller/bad.ts uses setTimeout']);
  });

  it('a file in an io/ folder may do all of that; the same file one folder up may not', () => {
    const text = "import * as fs from 'node:fs';\nexport const t = Date.now();\n";
    expect(added({ 'src/raft/io/ok.ts': text }).purity).toEqual([]);
    expect(added({ 'src/raft/not-ok.ts': text }).purity.length).toBe(2);
  });

  it('a deep import into another layer, where its index.ts would do', () => {
    const bad = { 'src/controller/bad.ts': "import { RaftCore } from '../raft/raft-core';\nimport { RaftCore as Ok } from '../raft';\n" };
    // controller may not import raft at all: the table wins over the entry rule.
    expect(added(bad).table).toEqual(['table: src/controller/bad.ts -> src/raft/index.ts', 'table: src/controller/bad.ts -> src/raft/raft-core.ts']);
    const deep = { 'src/server/bad.ts': "import { majority } from '../raft/quorum';\nimport { RaftCore } from '../raft/index';\n" };
    expect(added(deep).entry).toEqual(['entry: src/raft/quorum.ts']);
  });

  it('a file outside every layer folder, or nested below one', () => {
    expect(added({ 'src/elsewhere/x.ts': '', 'src/raft/deeper/x.ts': '' }).unplaced).toEqual(['src/elsewhere/x.ts', 'src/raft/deeper/x.ts']);
  });
});
