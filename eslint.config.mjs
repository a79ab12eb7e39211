// Lint for Cairn. The layer contract (which layer may import which, purity by folder, entry through
// index.ts) is not written here: it is generated from test/unit/layers.json, the one table that
// test/unit/architecture.test.ts also reads. See docs/architecture.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const contract = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'test/unit/layers.json'), 'utf8'));
const layerNames = Object.keys(contract.layers);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The layers nested inside `name` (raft/io inside raft), as folder names relative to it. */
const sublayersOf = (name) => layerNames.filter((l) => l.startsWith(`${name}/`)).map((l) => l.slice(name.length + 1));

/**
 * Import patterns for files directly in src/<from>/: another layer not in the table is refused, and an
 * allowed one is entered only through its index.ts. Relative specifiers are matched as written, so this
 * assumes a layer's files sit directly in its folder (the architecture test checks that they do).
 */
function layerPatterns(from) {
  const allowed = new Set(contract.layers[from].mayImport);
  const patterns = [];
  for (const to of layerNames) {
    if (to === from) continue;
    let rel = path.posix.relative(`src/${from}`, `src/${to}`);
    if (!rel.startsWith('.')) rel = `./${rel}`;
    // Stay inside `to`: not into its own sublayers, and (when `to` is an ancestor, rel = '..') not back out.
    const exclude = [...sublayersOf(to).map(escape), ...(rel.split('/').every((p) => p === '..') ? ['\\.\\.'] : [])];
    const inside = exclude.length ? `(?!/(?:${exclude.join('|')})(?:/|$))` : '';
    if (!allowed.has(to)) {
      patterns.push({ regex: `^${escape(rel)}${inside}(?:/.*)?$`, message: `layer ${from} may not import layer ${to} (test/unit/layers.json).` });
    } else {
      patterns.push({ regex: `^${escape(rel)}${inside}/(?!index$).+$`, message: `enter layer ${to} through its index.ts: import '${rel}', not one of its files.` });
    }
  }
  return patterns;
}

function pureRestrictions() {
  const typeOk = new Set(contract.pure.typeImportsAllowed);
  const paths = contract.pure.modules
    .filter((m) => !m.includes('*'))
    .map((name) => ({ name, allowTypeImports: typeOk.has(name), message: `pure layer: no ${name} here (its shell lives in an io/ folder).` }));
  const patterns = contract.pure.modules.filter((m) => m.includes('*')).map((m) => ({ group: [m], message: `pure layer: no ${m} here (its shell lives in an io/ folder).` }));
  return { paths, patterns };
}

const layerConfigs = layerNames.map((name) => {
  const { pure } = contract.layers[name];
  const purity = pure ? pureRestrictions() : { paths: [], patterns: [] };
  return {
    name: `cairn/layer/${name}`,
    files: [`src/${name}/**/*.ts`],
    ignores: sublayersOf(name).map((sub) => `src/${name}/${sub}/**`),
    rules: {
      // One rule entry per file (flat config replaces, not merges, a rule's options), so layer and purity patterns go together.
      '@typescript-eslint/no-restricted-imports': ['error', { paths: purity.paths, patterns: [...layerPatterns(name), ...purity.patterns] }],
      ...(pure
        ? {
            'no-restricted-globals': [
              'error',
              ...contract.pure.globals.map((g) => ({ name: g, message: `pure layer: ${g} is an input here (time, timers, environment come from the shell; style §11).` })),
            ],
            'no-restricted-properties': [
              'error',
              ...contract.pure.properties.map(([object, property]) => ({ object, property, message: 'pure layer: take a seeded Random (common/random) instead.' })),
            ],
          }
        : {}),
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'chaos/results/**', 'bench/results/**', 'data/**', '.vitest-tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    name: 'cairn/base',
    files: ['**/*.ts', '**/*.mts'],
    rules: {
      'no-restricted-imports': 'off',
      // `_`-prefixed names are deliberately unused (ignored arguments, destructured-away fields).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  ...layerConfigs,
);
