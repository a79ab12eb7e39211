/**
 * Writes the error-code contract out of its one source, src/common/errors.ts: the ErrorCode enum
 * in proto/cairn.proto and the table in docs/errors.md. `npm run gen:errors` runs it;
 * test/unit/protocol/error-contract.test.ts fails when either file differs from what this renders.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CAIRN_CODES_START, ErrorCode, errorTable } from '../../src/common/errors';

const ROOT = [path.resolve(__dirname, '../..'), path.resolve(__dirname, '../../..')].find((d) => fs.existsSync(path.join(d, 'proto', 'cairn.proto')))!;
export const PROTO_FILE = path.join(ROOT, 'proto', 'cairn.proto');
export const DOCS_FILE = path.join(ROOT, 'docs', 'errors.md');

const PROTO_BEGIN = '  // BEGIN GENERATED from src/common/errors.ts by `npm run gen:errors`: edit there, not here.';
const PROTO_END = '  // END GENERATED';
const DOCS_BEGIN = '<!-- BEGIN GENERATED from src/common/errors.ts by `npm run gen:errors`: edit there, not here. -->';
const DOCS_END = '<!-- END GENERATED -->';

/** proto3 wants the zero value first; the rest follow in numeric order. */
function protoOrder() {
  const rows = errorTable();
  return [...rows.filter((r) => r.code === ErrorCode.NONE), ...rows.filter((r) => r.code !== ErrorCode.NONE)];
}

export function renderProtoEnum(): string {
  const lines: string[] = [];
  for (const r of protoOrder()) {
    if (r.code === CAIRN_CODES_START) lines.push(`  // Cairn's own codes, from ${CAIRN_CODES_START} up (Kafka has no such error).`);
    lines.push(`  // ${r.info.retriable ? '(R) ' : ''}${r.info.meaning}`);
    lines.push(`  ${r.name} = ${r.code};`);
  }
  return lines.join('\n');
}

export function renderDocsTable(): string {
  const lines = ['| code | name | retriable | refresh metadata | meaning |', '| ---: | --- | --- | --- | --- |'];
  for (const r of errorTable()) {
    lines.push(`| ${r.code} | \`${r.name}\` | ${r.info.retriable ? 'yes' : 'no'} | ${r.info.refreshMetadata ? 'yes' : 'no'} | ${r.info.meaning.replace(/\|/g, '\\|')} |`);
  }
  return lines.join('\n');
}

/** `text` with what lies between the two marker lines replaced by `body`. */
export function splice(text: string, begin: string, end: string, body: string, file: string): string {
  const i = text.indexOf(begin);
  const j = text.indexOf(end, i + begin.length);
  if (i < 0 || j < 0) throw new Error(`${file}: missing the generated-section markers "${begin}" / "${end}"`);
  return `${text.slice(0, i + begin.length)}\n${body}\n${text.slice(j)}`;
}

export function generatedProto(current = fs.readFileSync(PROTO_FILE, 'utf8')): string {
  return splice(current, PROTO_BEGIN, PROTO_END, renderProtoEnum(), PROTO_FILE);
}

export function generatedDocs(current = fs.readFileSync(DOCS_FILE, 'utf8')): string {
  return splice(current, DOCS_BEGIN, DOCS_END, renderDocsTable(), DOCS_FILE);
}

if (require.main === module) {
  fs.writeFileSync(PROTO_FILE, generatedProto());
  fs.writeFileSync(DOCS_FILE, generatedDocs());
  process.stdout.write(`wrote the ErrorCode enum of ${PROTO_FILE} and the table of ${DOCS_FILE}\n`);
}
