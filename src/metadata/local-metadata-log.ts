import * as fs from 'node:fs';
import * as path from 'node:path';
import { CairnError, ErrorCode } from '../common/errors';
import type { Logger } from '../common/logger';
import { crc32c } from '../record/crc32c';
import { type CommittedBatch, type MetadataListener, MetadataListeners, type MetadataLog } from './metadata-log';
import { decodeRecords, encodeRecords, type MetadataRecord } from './records';

/**
 * A metadata log for a node that is the whole quorum by itself: entries are framed (length, CRC)
 * in one file and fsynced before they count as committed. Same contract as the Raft-backed log,
 * without the network.
 */
export class LocalMetadataLog implements MetadataLog {
  private fd: number;
  private nextOffset = 1;
  private size = 0;
  private readonly listeners = new MetadataListeners();
  private readonly entries: { offset: number; records: MetadataRecord[] }[] = [];

  constructor(
    private readonly dir: string,
    private readonly nodeId: number,
    private readonly logger: Logger,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'metadata.log');
    this.fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'w+');
    this.load();
  }

  private load(): void {
    const data = fs.readFileSync(path.join(this.dir, 'metadata.log'));
    let pos = 0;
    while (pos + 8 <= data.length) {
      const length = data.readUInt32BE(pos);
      const crc = data.readUInt32BE(pos + 4);
      if (pos + 8 + length > data.length) break;
      const body = data.subarray(pos + 8, pos + 8 + length);
      if (crc32c(body) !== crc) break;
      this.entries.push({ offset: this.nextOffset++, records: decodeRecords(body) });
      pos += 8 + length;
    }
    if (pos !== data.length) {
      this.logger.warn({ bytesRemoved: data.length - pos }, 'metadata log torn tail truncated');
      fs.ftruncateSync(this.fd, pos);
    }
    this.size = pos;
  }

  append(records: MetadataRecord[]): Promise<number> {
    const body = encodeRecords(records);
    const frame = Buffer.alloc(8 + body.length);
    frame.writeUInt32BE(body.length, 0);
    frame.writeUInt32BE(crc32c(body), 4);
    body.copy(frame, 8);
    try {
      fs.writeSync(this.fd, frame, 0, frame.length, this.size);
      fs.fsyncSync(this.fd);
    } catch (err) {
      fs.ftruncateSync(this.fd, this.size);
      return Promise.reject(new CairnError(ErrorCode.KAFKA_STORAGE_ERROR, `metadata log write failed: ${(err as Error).message}`));
    }
    this.size += frame.length;
    const offset = this.nextOffset++;
    this.entries.push({ offset, records });
    // Deliver asynchronously, as a replicated log would, so callers never see re-entrant callbacks.
    queueMicrotask(() => {
      this.listeners.commit({ offset, records });
    });
    return Promise.resolve(offset);
  }

  isLeader(): boolean {
    return true;
  }

  leaderId(): number {
    return this.nodeId;
  }

  leaderEpoch(): number {
    return 1;
  }

  subscribe(listener: MetadataListener): void {
    this.listeners.add(listener);
    for (const e of this.entries) listener.onCommit(e);
    listener.onLeaderChange?.(this.nodeId, 1);
  }

  follow(listener: MetadataListener): () => void {
    return this.listeners.add(listener);
  }

  readCommitted(from: number): CommittedBatch[] {
    return this.entries.filter((e) => e.offset >= from);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
