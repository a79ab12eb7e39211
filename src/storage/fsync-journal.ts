import * as fs from 'node:fs';

/**
 * Fault injection for the chaos suite (reliability.md, scenarios 7-9): when CAIRN_FAULT_FSYNC_JOURNAL
 * names a file, every completed fsync of a log or Raft file appends `path<TAB>size` to it. After a
 * kill -9, the harness cuts each file back to its last recorded size — what a power cut that
 * drops the page cache would leave — and the node must recover without losing anything it
 * acknowledged. Off (and free) unless the variable is set.
 */
const journal = process.env.CAIRN_FAULT_FSYNC_JOURNAL;

export function recordDurable(file: string, size: number): void {
  if (!journal) return;
  fs.appendFileSync(journal, `${file}\t${size}\n`);
}

/** Last durable size per file, from a journal. */
export function readFsyncJournal(file: string): Map<string, number> {
  const out = new Map<string, number>();
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const i = line.lastIndexOf('\t');
    if (i > 0) out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
