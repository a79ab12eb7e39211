/**
 * The whole-cluster simulation's network. Every message between nodes (Raft messages one way;
 * controller, replica-fetch and client calls as request and answer) gets a delivery time from the
 * seeded PRNG, so messages are delayed and reordered; some are lost; directed links can be cut
 * (partitions, one-way ones included) and healed. A message reaches a node only if the incarnation
 * it was sent to is still running when it arrives, as a TCP connection does not survive a restart;
 * an answer reaches the caller only if the calling incarnation is still running.
 *
 * A lost request or answer makes the call fail after its timeout, as a gRPC deadline does: the
 * caller cannot tell whether the handler ran (so a retry can duplicate — what idempotence is for).
 */
import type { Random } from '../../../src/common/random';
import type { SimScheduler } from './scheduler';

export interface LinkFaults {
  dropProbability: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Some messages are held back much longer: stale answers arriving after elections. */
  longDelayProbability: number;
  longDelayMaxMs: number;
  /** One-way messages (Raft) are sometimes delivered twice. */
  duplicateProbability: number;
}

export const CALM_LINKS: LinkFaults = { dropProbability: 0, minDelayMs: 1, maxDelayMs: 3, longDelayProbability: 0, longDelayMaxMs: 0, duplicateProbability: 0 };

export class CallTimeout extends Error {
  constructor(from: number, to: number, what: string, timeoutMs: number) {
    super(`call ${what} from ${from} to ${to}: no answer within ${timeoutMs} ms (lost, cut or crashed)`);
  }
}

export class SimNetwork {
  faults: LinkFaults;
  private readonly cut = new Set<string>();
  sent = 0;
  dropped = 0;

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly random: Random,
    faults: LinkFaults,
    /** The running incarnation of a node, or null while it is down. */
    private readonly incarnation: (node: number) => number | null,
  ) {
    this.faults = faults;
  }

  /** A one-way message: `deliver` runs on `to` if it arrives. */
  send(from: number, to: number, deliver: () => void): void {
    const target = this.incarnation(to);
    const copies = this.random.bool(this.faults.duplicateProbability) ? 2 : 1;
    for (let i = 0; i < copies; i++) this.transmit(from, to, target, deliver);
  }

  /**
   * A request and its answer. `handle` runs on `to` when the request arrives; its result travels
   * back. Rejects with CallTimeout when either is lost, or with what `handle` threw.
   */
  call<Res>(from: number, to: number, what: string, timeoutMs: number, handle: () => Promise<Res>): Promise<Res> {
    const caller = this.incarnation(from);
    const target = this.incarnation(to);
    return new Promise<Res>((resolve, reject) => {
      let done = false;
      const timer = this.scheduler.after(timeoutMs, () => {
        if (done) return;
        done = true;
        reject(new CallTimeout(from, to, what, timeoutMs));
      });
      const answer = (settleCall: () => void) => {
        this.transmit(to, from, caller, () => {
          if (done) return;
          done = true;
          timer.cancel();
          settleCall();
        });
      };
      this.transmit(from, to, target, () => {
        const runningAt = this.incarnation(to);
        let result: Promise<Res>;
        try {
          result = handle();
        } catch (err) {
          result = Promise.reject(err);
        }
        result.then(
          (res) => {
            // An answer from a process that has since died is never sent.
            if (this.incarnation(to) === runningAt) answer(() => resolve(res));
          },
          (err: unknown) => {
            if (this.incarnation(to) === runningAt) answer(() => reject(err));
          },
        );
      });
    });
  }

  cutLink(from: number, to: number): void {
    this.cut.add(`${from}>${to}`);
  }

  isCut(from: number, to: number): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  healAll(): void {
    this.cut.clear();
  }

  get cutLinks(): number {
    return this.cut.size;
  }

  private transmit(from: number, to: number, target: number | null, deliver: () => void): void {
    this.sent++;
    if (target === null || this.random.bool(this.faults.dropProbability)) {
      this.dropped++;
      return;
    }
    this.scheduler.after(this.delay(), () => {
      // Checked on arrival: a link cut while the message was on its way loses it.
      if (this.cut.has(`${from}>${to}`) || this.incarnation(to) !== target) {
        this.dropped++;
        return;
      }
      deliver();
    });
  }

  private delay(): number {
    const f = this.faults;
    if (f.longDelayProbability > 0 && this.random.bool(f.longDelayProbability)) return this.random.int(f.maxDelayMs, f.longDelayMaxMs);
    return this.random.int(f.minDelayMs, f.maxDelayMs);
  }
}
