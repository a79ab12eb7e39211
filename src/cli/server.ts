import { systemClock, systemTimers, watchClockSkewFile } from '../common/io';
import { CairnNode, flagName, KEYS, loadNodeConfig } from '../server';
import { type FileSystem, FsyncJournal, nodeFileSystem, setRaftFsyncJournal, withFsyncJournal, withSlowFsync } from '../storage';
import { parse, type Options } from './args';

export const SERVER_HELP = `Usage: cairn server [--config FILE] [--KEY VALUE ...]

Runs one Cairn node. Every setting can come from the config file (Kafka-style key=value lines, or
JSON), from an environment variable CAIRN_KEY_NAME, or from a flag --key-name (highest wins).

Settings:
${Object.entries(KEYS)
  .map(([k, doc]) => `  --${flagName(k).padEnd(40)} ${doc}`)
  .join('\n')}
  --log-retention-ms, --log-segment-bytes, --log-cleanup-policy, --min-insync-replicas, ...
                                             broker defaults of topic configs (Kafka's log.* names)`;

export async function serverCommand(argv: string[]): Promise<number> {
  const options: Options = { config: { type: 'string' } };
  for (const k of Object.keys(KEYS)) options[flagName(k)] = { type: 'string' };
  for (const k of [
    'log.segment.bytes',
    'log.roll.ms',
    'log.retention.ms',
    'log.retention.bytes',
    'log.cleanup.policy',
    'message.max.bytes',
    'log.message.timestamp.type',
    'log.index.interval.bytes',
    'log.cleaner.delete.retention.ms',
    'min.insync.replicas',
  ]) {
    options[flagName(k)] = { type: 'string' };
  }
  // Kafka's per-listener setting, --listener-name-<name>-ssl-client-auth, for any listener name.
  for (const arg of argv) {
    const m = /^--(listener-name-[a-z0-9_]+-ssl-client-auth)(=.*)?$/.exec(arg);
    if (m) options[m[1]!] = { type: 'string' };
  }
  const { values } = parse(argv, options);
  const flags: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (typeof v === 'string') flags[k] = v;
  const config = loadNodeConfig(flags);
  const node = new CairnNode(config, undefined, systemClock, storageFromEnv(process.env));
  // The chaos suite's wall-clock jumps (docs/chaos.md): only record timestamps and retention see them.
  const skewFile = process.env.CAIRN_CLOCK_SKEW_FILE;
  if (skewFile) watchClockSkewFile(skewFile, (skewMs) => node.logger.warn({ clockSkewMs: skewMs }, 'wall clock offset changed'));
  await node.start();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      node.logger.info({ signal }, 'shutdown requested');
      node.stop().then(resolve, (err) => {
        node.logger.error({ err: (err as Error).stack }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

/**
 * The chaos suite's storage faults (docs/chaos.md), read here once, at the process entry, and
 * handed to storage as a FileSystem wrapper — storage itself never reads the environment:
 * - CAIRN_FAULT_FSYNC_DELAY_MS: every asynchronous fsync starts this much later (a slow disk);
 * - CAIRN_FAULT_FSYNC_JOURNAL: a file where every completed fsync appends `path<TAB>size`, so the
 *   harness can cut files back to what a power cut would leave (Raft's storage records there too).
 */
export function storageFromEnv(env: NodeJS.ProcessEnv): FileSystem {
  let fsys: FileSystem = nodeFileSystem;
  const journalFile = env.CAIRN_FAULT_FSYNC_JOURNAL;
  if (journalFile) {
    const journal = new FsyncJournal(nodeFileSystem, journalFile);
    setRaftFsyncJournal(journal);
    fsys = withFsyncJournal(fsys, journal);
  }
  const delayMs = Number(env.CAIRN_FAULT_FSYNC_DELAY_MS ?? 0) || 0;
  // The delay wraps the journal: an fsync is recorded when it completes, after the delay.
  return withSlowFsync(fsys, delayMs, systemTimers);
}
