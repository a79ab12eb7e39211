/** The CLI's user-facing output: one line to stdout. (Logs go through pino; this is for people.) */
export function out(line: string): void {
  process.stdout.write(line + '\n');
}
