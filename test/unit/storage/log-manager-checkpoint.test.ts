import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/io/logger';
import { DEFAULT_LOG_CONFIG } from '../../../src/common/log-config';
import { encodeBatch } from '../../../src/record/batch';
import { validateBatches } from '../../../src/record/validate';
import { OffsetCheckpointFile } from '../../../src/storage/checkpoint';
import { nodeFileSystem } from '../../../src/storage/file-system';
import { LogManager } from '../../../src/storage/log-manager';
import { tmpDir } from '../../helpers/tmp';

describe('a truncation and the recovery-point checkpoint', () => {
  it('lowers the checkpointed recovery point at once, so a recovery without the fsynced-offset file does not take the cut records for lost data', async () => {
    const dir = tmpDir('trunc-checkpoint');
    const m = new LogManager({ fs: nodeFileSystem, dataDir: dir, flushPolicy: { kind: 'fsync' }, logger: silentLogger, nowMs: () => 0 });
    m.load();
    const log = m.getOrCreate('t', 0, { ...DEFAULT_LOG_CONFIG }, 'id-t');
    for (let i = 0; i < 10; i++) {
      const b = encodeBatch([{ value: Buffer.from(`v${i}`) }]);
      const v = validateBatches(b, { maxBatchBytes: 1 << 20 });
      if (!v.ok) throw new Error(v.message);
      log.appendAsLeader(b, v.batches, 0, 0);
    }
    await log.flush();
    m.checkpoint();
    const recovered = () => new OffsetCheckpointFile(nodeFileSystem, `${dir}/recovery-point-offset-checkpoint`).read().get('t-0');
    expect(recovered()).toBe(10);
    log.truncateTo(4);
    // No periodic checkpoint ran: the truncation wrote it.
    expect(recovered()).toBe(4);
    await m.close();
  });
});
