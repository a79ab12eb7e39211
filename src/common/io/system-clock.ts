import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Clock } from '..';

/**
 * The node's wall clock is the system's shifted by an offset, for the chaos suite (safety must not
 * depend on clocks agreeing or standing still; reliability.md scenario 13): CAIRN_CLOCK_SKEW_MS
 * sets it at start, and CAIRN_CLOCK_SKEW_FILE names a file holding the offset in ms that the node
 * re-reads whenever it changes (watchClockSkewFile) — a wall-clock jump at runtime.
 */
let skewMs = Number(process.env.CAIRN_CLOCK_SKEW_MS ?? 0) || 0;

export function clockSkewMs(): number {
  return skewMs;
}

/** Reads the offset from `file` now and every `intervalMs` (a few bytes); returns a function that stops. */
export function watchClockSkewFile(file: string, onChange: (skewMs: number) => void = () => undefined, intervalMs = 50): () => void {
  const read = () => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8').trim();
    } catch {
      return; // not written yet
    }
    const v = Number(text);
    if (text === '' || !Number.isFinite(v) || v === skewMs) return;
    skewMs = v;
    onChange(v);
  };
  read();
  // Polled, not fs.watchFile: a watcher's first stat races a write made right after it starts.
  const timer = setInterval(read, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Wall time when this process started, plus monotonic time since: never jumps. */
const monotonicOrigin = performance.timeOrigin;

export const systemClock: Clock = {
  nowMs: () => monotonicOrigin + performance.now(),
  wallMs: () => Date.now() + skewMs,
};
