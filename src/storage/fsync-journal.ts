import { delegateTo, type FileSystem } from './file-system';

/**
 * Fault injection for the chaos suite (reliability.md, scenarios 7-9): every completed fsync of a
 * file appends `path<TAB>size` to a journal file. After a kill -9, the harness cuts each data file
 * back to its last recorded size — what a power cut that drops the page cache would leave — and
 * the node must recover without losing anything it acknowledged. The process entry turns
 * CAIRN_FAULT_FSYNC_JOURNAL into one of these (src/cli/server.ts); nothing reads the environment here.
 */
export class FsyncJournal {
  private fd: number | null = null;

  /** `fsys` is the real disk the journal file lives on (not the wrapped one: its own writes are not journaled). */
  constructor(
    private readonly fsys: FileSystem,
    readonly file: string,
  ) {}

  record(file: string, size: number): void {
    if (this.fd === null) this.fd = this.fsys.open(this.file, 'a+');
    const line = Buffer.from(`${file}\t${size}\n`, 'utf8');
    // An O_APPEND descriptor: the position is ignored, each line lands whole at the end.
    let written = 0;
    while (written < line.length) written += this.fsys.write(this.fd, line, written, line.length - written, 0);
  }
}

/**
 * `inner` with every completed fsync of a file recorded in `journal`, with the size the file had
 * when the fsync started (what it covers).
 */
export function withFsyncJournal(inner: FileSystem, journal: FsyncJournal): FileSystem {
  const paths = new Map<number, string>();
  return {
    ...delegateTo(inner),
    open: (p, mode) => {
      const fd = inner.open(p, mode);
      paths.set(fd, p);
      return fd;
    },
    close: (fd) => {
      paths.delete(fd);
      inner.close(fd);
    },
    fsync: (fd, callback) => {
      const file = paths.get(fd);
      const size = inner.fileSize(fd);
      inner.fsync(fd, (err) => {
        if (!err && file !== undefined) journal.record(file, size);
        callback(err);
      });
    },
    fsyncSync: (fd) => {
      inner.fsyncSync(fd);
      const file = paths.get(fd);
      if (file !== undefined) journal.record(file, inner.fileSize(fd));
    },
  };
}

/**
 * The journal Raft's storage records into: raft-storage.ts does not take a FileSystem yet, so the
 * process entry installs it here, once, before the node starts. Null (the default) records nothing.
 */
let raftJournal: FsyncJournal | null = null;

export function setRaftFsyncJournal(journal: FsyncJournal | null): void {
  raftJournal = journal;
}

export function recordDurable(file: string, size: number): void {
  raftJournal?.record(file, size);
}

/** Last durable size per file, from a journal. */
export function readFsyncJournal(fsys: FileSystem, file: string): Map<string, number> {
  const out = new Map<string, number>();
  let text: string;
  try {
    text = fsys.readFile(file).toString('utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const i = line.lastIndexOf('\t');
    if (i > 0) out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
