/**
 * Row 20 of reliability.md: a consume-transform-produce job (`cairn copy`, transactions) copying the
 * workload's topic to another while the job and the brokers are bounced, hard (kill -9) and clean
 * (SIGTERM). The output must equal the input, exactly once and in order (chaos/checkers.ts,
 * checkCopy).
 */
import { performance } from 'node:perf_hooks';
import { Admin } from '../src/client/admin';
import { CAIRN_MAIN } from '../src/cli/local-cluster';
import type { Fault, NemesisContext } from './nemesis';
import { killWorker, startWorker, type WorkerProcess } from './worker-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CopyJobOptions {
  bootstrap: string;
  input: string;
  output: string;
  group: string;
  transactionalId: string;
  logDir: string;
}

/** `cairn copy` as a process of its own, restarted after each bounce. */
export class CopyJob {
  private job: WorkerProcess | null = null;
  private running = false;
  private readonly admin: Admin;
  /** How many times the job was started (the first start included). */
  starts = 0;

  constructor(private readonly o: CopyJobOptions) {
    this.admin = new Admin({ bootstrap: o.bootstrap, requestTimeoutMs: 2_000 });
  }

  start(): void {
    this.running = true;
    this.launch();
  }

  private launch(): void {
    const args = ['copy', this.o.input, this.o.output, '--group', this.o.group, '--transactional-id', this.o.transactionalId, '--bootstrap', this.o.bootstrap];
    this.job = startWorker(CAIRN_MAIN, `copy-${++this.starts}`, args, this.o.logDir, () => undefined);
    const job = this.job;
    void job.exited.then(() => {
      if (this.job === job) this.job = null;
    });
  }

  isRunning(): boolean {
    return this.job !== null;
  }

  /** kill -9 (hard) or SIGTERM (clean: the job ends its transaction and leaves its group). */
  async bounce(hard: boolean): Promise<void> {
    const job = this.job;
    if (!job) return;
    if (hard) await killWorker(job);
    else {
      job.child.kill('SIGTERM');
      await Promise.race([job.exited, sleep(20_000).then(() => killWorker(job))]);
    }
  }

  /** Starts the job again if it is not running. */
  heal(): void {
    if (this.running && this.job === null) this.launch();
  }

  /** Waits until the job's group has committed `ends` (partition → input log end) or the deadline passes; returns the last offsets seen. */
  async waitCaughtUp(ends: Map<number, number>, timeoutMs: number): Promise<Map<number, number>> {
    const deadline = performance.now() + timeoutMs;
    let last = new Map<number, number>();
    while (performance.now() < deadline) {
      this.heal();
      try {
        last = new Map((await this.admin.groups.fetchOffsets(this.o.group)).filter((x) => x.topic === this.o.input && x.offset >= 0).map((x) => [x.partition, x.offset]));
      } catch {
        // the coordinator is moving: ask again
      }
      if ([...ends].every(([p, end]) => (last.get(p) ?? 0) >= end)) break;
      await sleep(500);
    }
    return last;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.bounce(false);
    this.admin.close();
  }
}

function copyJob(ctx: NemesisContext): CopyJob {
  if (!ctx.copyJob) throw new Error('this fault needs a scenario with a copy job');
  return ctx.copyJob;
}

export const COPY_FAULTS: Record<string, Fault> = {
  'kill-copy-job': {
    name: 'kill-copy-job',
    async apply(ctx) {
      if (!copyJob(ctx).isRunning()) return 'the copy job is not running';
      await copyJob(ctx).bounce(true);
      return 'kill -9 the copy job; it starts again when healed';
    },
    heal: async (ctx) => copyJob(ctx).heal(),
  },
  'restart-copy-job': {
    name: 'restart-copy-job',
    async apply(ctx) {
      if (!copyJob(ctx).isRunning()) return 'the copy job is not running';
      await copyJob(ctx).bounce(false);
      copyJob(ctx).heal();
      return 'SIGTERM the copy job (it ends its transaction and leaves its group) and start it again';
    },
    heal: async (ctx) => copyJob(ctx).heal(),
  },
};
