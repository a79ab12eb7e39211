import type { Timers } from '..';

/** The real timers: setTimeout and setInterval, unref'd. */
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
