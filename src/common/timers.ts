/**
 * Timers are an input, as the clock is (style §11): shells that must do something later ask a
 * Timers for it instead of calling setTimeout, so the whole-cluster simulation (test/sim) can run
 * them on simulated time, in a seeded order. Production passes `systemTimers`.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Timers {
  /** Runs `fn` once, `delayMs` from now (monotonic). Production timers never keep the process alive. */
  after(delayMs: number, fn: () => void): TimerHandle;
  /** Runs `fn` every `intervalMs` until cancelled. */
  every(intervalMs: number, fn: () => void): TimerHandle;
}

export const systemTimers: Timers = {
  after(delayMs, fn) {
    const t = setTimeout(fn, delayMs);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(intervalMs, fn) {
    const t = setInterval(fn, intervalMs);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};
