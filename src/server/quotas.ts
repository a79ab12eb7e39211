import type { MetadataImage, QuotaEntity, QuotaKey } from '../metadata';
import { quotaEntityKey } from '../metadata';

export interface QuotaWindow {
  /** quota.window.num: how many samples the rate is taken over. */
  samples: number;
  /** quota.window.size.seconds, in ms: the length of one sample. */
  sampleMs: number;
}

/** One rate counter: samples of `sampleMs`, the rate over all of them (Kafka's Rate with SampledStat). */
class Rate {
  private readonly samples: { startMs: number; value: number }[] = [];

  constructor(private readonly w: QuotaWindow) {}

  /** Adds `amount` at `nowMs` and answers the rate per second over the window, this amount included. */
  record(amount: number, nowMs: number): number {
    const last = this.samples[this.samples.length - 1];
    if (last && nowMs - last.startMs < this.w.sampleMs) last.value += amount;
    else this.samples.push({ startMs: nowMs, value: amount });
    while (this.samples.length > this.w.samples || (this.samples.length > 0 && nowMs - this.samples[0]!.startMs >= this.w.samples * this.w.sampleMs)) this.samples.shift();
    const total = this.samples.reduce((sum, s) => sum + s.value, 0);
    // As Kafka: the window is at least (samples - 1) sample lengths, so one burst at the start is not a huge rate.
    const elapsed = Math.max(nowMs - this.samples[0]!.startMs, (this.w.samples - 1) * this.w.sampleMs);
    return (total * 1000) / elapsed;
  }

  idleSince(nowMs: number): boolean {
    const last = this.samples[this.samples.length - 1];
    return !last || nowMs - last.startMs >= this.w.samples * this.w.sampleMs;
  }
}

/**
 * Client quotas (Kafka's KIP-13/55/124 quota manager): producer_byte_rate and consumer_byte_rate
 * in bytes per second, request_rate in requests per second, for a user, a client id or both.
 * The quota that applies is the most specific one set, in Kafka's order (user and client id, then
 * the user with the default client id, the user, the default user with the client id, ...,
 * finally the default client id). Each applicable quota has its own counter; when a request takes
 * it over its limit, the answer is held back by `throttleTimeMs` — (rate − limit) / limit × the
 * window, at most one window — which the response reports.
 */
export class QuotaManager {
  private readonly rates = new Map<string, Rate>();
  private lastSweepMs = 0;

  constructor(
    private readonly image: () => MetadataImage,
    private readonly window: QuotaWindow,
  ) {}

  /** The quota of `key` for this user and client id, and the counter it is measured by, or null. */
  resolve(key: QuotaKey, user: string, clientId: string): { limit: number; counter: string } | null {
    const quotas = this.image().quotas;
    if (quotas.size === 0) return null;
    const candidates: [QuotaEntity, QuotaEntity][] = [
      [
        { user, clientId },
        { user, clientId },
      ],
      [
        { user, clientId: null },
        { user, clientId },
      ],
      [{ user }, { user }],
      [
        { user: null, clientId },
        { user, clientId },
      ],
      [
        { user: null, clientId: null },
        { user, clientId },
      ],
      [{ user: null }, { user }],
      [{ clientId }, { clientId }],
      [{ clientId: null }, { clientId }],
    ];
    for (const [entity, counter] of candidates) {
      const limit = quotas.get(quotaEntityKey(entity))?.values.get(key);
      if (limit !== undefined) return { limit, counter: `${key}|${quotaEntityKey(counter)}` };
    }
    return null;
  }

  /** Records `amount` against the caller's quota of `key`; answers how long to hold the answer back (0: within quota). */
  record(key: QuotaKey, user: string, clientId: string, amount: number, nowMs: number): number {
    this.sweep(nowMs);
    const q = this.resolve(key, user, clientId);
    if (!q) return 0;
    let rate = this.rates.get(q.counter);
    if (!rate) {
      rate = new Rate(this.window);
      this.rates.set(q.counter, rate);
    }
    const observed = rate.record(amount, nowMs);
    if (observed <= q.limit) return 0;
    const windowMs = this.window.samples * this.window.sampleMs;
    return Math.min(windowMs, Math.round(((observed - q.limit) / q.limit) * windowMs));
  }

  /** Drops counters idle for a whole window, so clients that come and go leave nothing behind. */
  private sweep(nowMs: number): void {
    if (nowMs - this.lastSweepMs < this.window.samples * this.window.sampleMs) return;
    this.lastSweepMs = nowMs;
    for (const [k, r] of this.rates) if (r.idleSince(nowMs)) this.rates.delete(k);
  }
}
