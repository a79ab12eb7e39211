/**
 * Timers are an input, as the clock is (style §11): shells that must do something later ask a
 * Timers for it instead of calling setTimeout, so the whole-cluster simulation (test/sim) can run
 * them on simulated time, in a seeded order. Production passes `systemTimers` (common/io/system-timers.ts).
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
