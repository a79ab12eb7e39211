/**
 * Resolves after `ms` or at the first event, whichever comes first. `subscribe` registers `wake`
 * with each event source and returns the functions that unregister it; they all run on wake-up.
 * The long-poll of Fetch and of replica fetches waits this way.
 */
export function wakeOnFirst(ms: number, subscribe: (wake: () => void) => (() => void)[]): Promise<void> {
  return new Promise((resolve) => {
    let offs: (() => void)[] = [];
    let woken = false;
    const wake = () => {
      if (woken) return;
      woken = true;
      clearTimeout(timer);
      for (const off of offs) off();
      resolve();
    };
    const timer = setTimeout(wake, Math.max(0, ms));
    offs = subscribe(wake);
    if (woken) for (const off of offs) off();
  });
}
