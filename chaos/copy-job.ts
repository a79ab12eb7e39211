/**
 * Row 20 of reliability.md: a consume-transform-produce job (`cairn copy`, transactions) copying the
 * workload's topic to another while the job and the brokers are bounced, hard (kill -9) and clean
 * (SIGTERM). The output must equal the input, exactly once and in order (chaos/checkers.ts,
 * checkCopy).
 */
import { Admin } from '../src/client/admin';
import { CAIRN_MAIN } from '../src/cli/local-cluster';
import { waitCommitted } from './group-progress';
import type { Fault, NemesisContext } from './nemesis';
import { killWorker, startWorker, stopWorker, type WorkerProcess } from './worker-process';
import { adminClient } from './client-security';

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
    this.admin = new Admin({ ...adminClient(o.bootstrap), requestTimeoutMs: 2_000 });
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
    await (hard ? killWorker(job) : stopWorker(job));
  }

  /** Starts the job again if it is not running. */
  heal(): void {
    if (this.running && this.job === null) this.launch();
  }

  /** Waits until the job's group has committed `ends` (partition → input log end), restarting the job if it is down, or the deadline passes; returns the last offsets seen. */
  waitCaughtUp(ends: Map<number, number>, timeoutMs: number): Promise<Map<number, number>> {
    return waitCommitted(this.admin, this.o.group, this.o.input, ends, timeoutMs, () => this.heal());
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
