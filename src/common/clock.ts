/**
 * Time is an input (style §11). Pure cores receive `nowMs` as an argument; shells read it from a
 * Clock, which tests replace.
 */
export interface Clock {
  nowMs(): number;
}

/**
 * The wall clock. CAIRN_CLOCK_SKEW_MS shifts it, for the chaos suite's clock-skew scenario (safety
 * must not depend on clocks agreeing; reliability.md scenario 13).
 */
const skewMs = Number(process.env.CAIRN_CLOCK_SKEW_MS ?? 0) || 0;

export const systemClock: Clock = {
  nowMs: () => Date.now() + skewMs,
};

export class ManualClock implements Clock {
  constructor(private now = 0) {}
  nowMs(): number {
    return this.now;
  }
  advance(ms: number): void {
    this.now += ms;
  }
  set(ms: number): void {
    this.now = ms;
  }
}
