import * as path from 'node:path';
import { type FileSystem, writeFully } from './file-system';

/**
 * Checkpoints are written atomically (design brief §4): a temporary file, fsync, rename over the
 * old one, fsync the directory. A crash leaves either the old or the new file, never a mix.
 */
export function writeFileAtomicSync(fsys: FileSystem, file: string, data: string | Buffer): void {
  const { tmp, fd } = writeTemporary(fsys, file, data);
  try {
    fsys.fsyncSync(fd);
  } finally {
    fsys.close(fd);
  }
  fsys.rename(tmp, file);
  fsys.fsyncDir(path.dirname(file));
}

/** The first step of both atomic writes: `data` written to `<file>.tmp`, left open (closed if the write fails). */
function writeTemporary(fsys: FileSystem, file: string, data: string | Buffer): { tmp: string; fd: number } {
  const tmp = `${file}.tmp`;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = fsys.open(tmp, 'w');
  try {
    writeFully(fsys, fd, bytes, 0, bytes.length, 0);
  } catch (err) {
    fsys.close(fd);
    throw err;
  }
  return { tmp, fd };
}

/**
 * writeFileAtomicSync with its two fsyncs off the event loop, for the periodic checkpoints: the
 * temporary file is written (page cache) and renamed on the loop, the file and then the directory
 * are fsynced in the thread pool. The same guarantee once it resolves, and until then a crash
 * leaves the old file or the new one, as with the synchronous write. Callers must not start a
 * second write of the same file before the first settles (they share the temporary file).
 */
export function writeFileAtomic(fsys: FileSystem, file: string, data: string | Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { tmp, fd } = writeTemporary(fsys, file, data);
    fsys.fsync(fd, (err) => {
      try {
        fsys.close(fd);
        if (err) throw err;
        fsys.rename(tmp, file);
      } catch (e) {
        reject(e as Error);
        return;
      }
      fsys.fsyncDirAsync(path.dirname(file), (dirErr) => (dirErr ? reject(dirErr) : resolve()));
    });
  });
}

export class CheckpointFormatError extends Error {}

/**
 * Kafka's offset-checkpoint text format: a version line, a count line, then one
 * `topic partition offset` line each. Used for recovery points, log start offsets and high
 * watermarks, one file per data directory.
 */
export class OffsetCheckpointFile {
  static readonly VERSION = 0;

  constructor(
    private readonly fsys: FileSystem,
    readonly file: string,
  ) {}

  write(entries: Map<string, { topic: string; partition: number; offset: number }>): void {
    writeFileAtomicSync(this.fsys, this.file, OffsetCheckpointFile.format(entries));
  }

  /** `write` with its fsyncs off the event loop (see writeFileAtomic). */
  writeAsync(entries: Map<string, { topic: string; partition: number; offset: number }>): Promise<void> {
    return writeFileAtomic(this.fsys, this.file, OffsetCheckpointFile.format(entries));
  }

  private static format(entries: Map<string, { topic: string; partition: number; offset: number }>): string {
    const lines = [String(OffsetCheckpointFile.VERSION), String(entries.size)];
    for (const e of entries.values()) lines.push(`${e.topic} ${e.partition} ${e.offset}`);
    return lines.join('\n') + '\n';
  }

  /** Entries keyed `topic-partition`; a missing file reads as empty, a malformed one throws. */
  read(): Map<string, number> {
    let text: string;
    try {
      text = this.fsys.readFile(this.file).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    const lines = text.split('\n').filter((l) => l.length > 0);
    if (lines[0] !== String(OffsetCheckpointFile.VERSION)) throw new CheckpointFormatError(`${this.file}: unknown version line "${lines[0]}"`);
    const count = Number(lines[1]);
    if (!Number.isInteger(count) || lines.length !== count + 2) throw new CheckpointFormatError(`${this.file}: expected ${lines[1]} entries, found ${lines.length - 2}`);
    const out = new Map<string, number>();
    for (const line of lines.slice(2)) {
      const m = /^(\S+) (\d+) (-?\d+)$/.exec(line);
      if (!m) throw new CheckpointFormatError(`${this.file}: malformed line "${line}"`);
      out.set(`${m[1]}-${m[2]}`, Number(m[3]));
    }
    return out;
  }
}
