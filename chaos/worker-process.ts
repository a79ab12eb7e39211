import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { workerEnv } from './client-security';

/** A workload process of the chaos suite (a group member, a transactional producer) that the nemesis can kill and pause. */
export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  paused: boolean;
}

/**
 * The compiled script `file` of chaos/: beside the running module under dist/, or the built copy
 * when this runs from source (vitest).
 */
export function chaosScript(file: string): string {
  const beside = path.join(__dirname, file);
  return fs.existsSync(beside) ? beside : path.resolve(__dirname, '../dist/chaos', file);
}

/** Starts `script` with `argv`; each line it prints goes to `onLine`, its stderr to `<logDir>/<name>.log`. */
export function startWorker(script: string, name: string, argv: string[], logDir: string, onLine: (line: string) => void): WorkerProcess {
  fs.mkdirSync(logDir, { recursive: true });
  const err = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  const child = spawn(process.execPath, [script, ...argv], { stdio: ['ignore', 'pipe', err], env: { ...process.env, ...workerEnv(), CAIRN_LOG_LEVEL: 'warn' } });
  fs.closeSync(err);
  readline.createInterface({ input: child.stdout! }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, exited, paused: false };
}

export async function killWorker(w: WorkerProcess): Promise<void> {
  w.child.kill('SIGCONT');
  w.child.kill('SIGKILL');
  w.paused = false;
  await w.exited;
}

export function pauseWorker(w: WorkerProcess): void {
  w.child.kill('SIGSTOP');
  w.paused = true;
}

export function resumeWorker(w: WorkerProcess): void {
  if (!w.paused) return;
  w.child.kill('SIGCONT');
  w.paused = false;
}

/** A clean end: SIGTERM (resumed first if paused), then kill -9 if it has not exited within `graceMs`. */
export async function stopWorker(w: WorkerProcess, graceMs = 20_000): Promise<void> {
  resumeWorker(w);
  w.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const gone = await Promise.race([w.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
  clearTimeout(timer);
  if (!gone) await killWorker(w);
}
