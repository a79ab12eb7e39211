/**
 * Runs async tasks one after another, in the order they were handed in. A task that fails does not
 * stop those after it; its own caller sees the failure.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Resolves once every task handed in so far has finished. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
