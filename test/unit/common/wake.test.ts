import { afterEach, describe, expect, it, vi } from 'vitest';
import { wakeOnFirst } from '../../../src/common/io/wake';

describe('wakeOnFirst', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('wakes at the first event and unregisters from every source', async () => {
    const wakers: (() => void)[] = [];
    let unregistered = 0;
    const waiting = wakeOnFirst(60_000, (wake) => {
      wakers.push(wake, wake);
      return [() => unregistered++, () => unregistered++];
    });
    wakers[1]!();
    wakers[0]!();
    await waiting;
    expect(unregistered).toBe(2);
  });

  it('wakes after the deadline when nothing happens', async () => {
    vi.useFakeTimers();
    let unregistered = 0;
    let woke = false;
    const waiting = wakeOnFirst(500, () => [() => unregistered++]).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(499);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    expect(woke).toBe(true);
    expect(unregistered).toBe(1);
  });

  it('copes with a source that fires while it is being registered', async () => {
    let unregistered = 0;
    await wakeOnFirst(60_000, (wake) => {
      wake();
      return [() => unregistered++];
    });
    expect(unregistered).toBe(1);
  });
});
