import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileIO } from './file-io';

/**
 * Checkpoints are written atomically (design brief §4): a temporary file, fsync, rename over the
 * old one, fsync the directory. A crash leaves either the old or the new file, never a mix.
 */
export function writeFileAtomicSync(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDirSync(path.dirname(file));
}

export function fsyncDirSync(dir: string): void {
  fileIO.fsyncDirSync(dir);
}

export class CheckpointFormatError extends Error {}

/**
 * Kafka's offset-checkpoint text format: a version line, a count line, then one
 * `topic partition offset` line each. Used for recovery points, log start offsets and high
 * watermarks, one file per data directory.
 */
export class OffsetCheckpointFile {
  static readonly VERSION = 0;

  constructor(readonly file: string) {}

  write(entries: Map<string, { topic: string; partition: number; offset: number }>): void {
    const lines = [String(OffsetCheckpointFile.VERSION), String(entries.size)];
    for (const e of entries.values()) lines.push(`${e.topic} ${e.partition} ${e.offset}`);
    writeFileAtomicSync(this.file, lines.join('\n') + '\n');
  }

  /** Entries keyed `topic-partition`; a missing file reads as empty, a malformed one throws. */
  read(): Map<string, number> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
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
