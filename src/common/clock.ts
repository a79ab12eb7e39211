/**
 * Time is an input (style §11). Pure cores receive `nowMs` as an argument; shells read it from a
 * Clock, which tests replace (`systemClock`, in common/io/system-clock.ts, is the real one).
 *
 * Two kinds of time, as Kafka's `Time` has `hiResClockMs` and `milliseconds`:
 * - `nowMs()` is monotonic — timeouts, deadlines, sessions, elections, ISR lag. It never jumps when
 *   someone (NTP, an operator, the chaos suite) sets the wall clock.
 * - `wallMs()` is the wall clock — what is written into records (LogAppendTime, roll and retention
 *   times), where a reader expects epoch milliseconds. It may jump.
 */
export interface Clock {
  /** Monotonic milliseconds (an epoch-like origin, but only differences mean anything). */
  nowMs(): number;
  /** Wall-clock epoch milliseconds. */
  wallMs(): number;
}

/** One time for both, set by hand (tests and simulations). */
export class ManualClock implements Clock {
  constructor(private now = 0) {}
  nowMs(): number {
    return this.now;
  }
  wallMs(): number {
    return this.now;
  }
  advance(ms: number): void {
    this.now += ms;
  }
  set(ms: number): void {
    this.now = ms;
  }
}
