/**
 * The CLI's user-facing output (logs go through pino; this is for people and pipes).
 *
 * Standard output may be a pipe to a slow reader (`| (sleep 1; wc -l)`) or to one that stops
 * reading early (`| head -5`). Writes queue in the stream while the pipe is full, so the process
 * must not exit before they drain (main.ts waits for that), long outputs wait for 'drain' instead
 * of queueing without bound, and a reader that went away (EPIPE) ends the command quietly, as
 * `cat` does, instead of with an unhandled error and a stack.
 */

let closed = false;
const closeListeners = new Set<() => void>();

function onStdoutError(err: NodeJS.ErrnoException): void {
  // A reader that went away is the normal end of `| head`; any other failure is worth a line.
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') process.stderr.write(`cairn: cannot write to standard output: ${err.message}\n`);
  closed = true;
  for (const l of [...closeListeners]) l();
}

let installed = false;
/** Called once by main: stdout errors end the command instead of crashing it. */
export function installStdoutGuard(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', onStdoutError);
}

/** True once standard output's reader has gone away: commands that stream should stop. */
export function outputClosed(): boolean {
  return closed;
}

/** Calls `listener` when standard output closes; returns an unsubscribe. */
function onOutputClosed(listener: () => void): () => void {
  closeListeners.add(listener);
  return () => closeListeners.delete(listener);
}

/** One line to stdout (short outputs; main.ts drains them before exit). */
export function out(line: string): void {
  if (!closed) process.stdout.write(line + '\n');
}

/** Writes `text` and waits until stdout can take more (or has closed): bounded memory for long outputs. */
export function write(text: string): Promise<void> {
  if (closed) return Promise.resolve();
  if (process.stdout.write(text)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      process.stdout.off('drain', done);
      unsubscribe();
      resolve();
    };
    const unsubscribe = onOutputClosed(done);
    process.stdout.once('drain', done);
  });
}

/** Resolves once everything written to `stream` so far has been handed to the OS (or the stream is gone). */
export function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable || (stream === process.stdout && closed)) return Promise.resolve();
  return new Promise((resolve) => {
    // A write's callback runs after every earlier write has been flushed, or with an error.
    stream.write('', () => resolve());
  });
}
