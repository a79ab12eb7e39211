import { CairnError, isRetriable } from '../common';

/**
 * The clients' one retry policy (design brief §9, style §6): whether to retry comes from the error
 * table alone (`isRetriable`), never from message text or a list kept here; how long to wait is
 * Kafka's exponential backoff with jitter (retry.backoff.ms, retry.backoff.max.ms); how long to keep
 * trying is the call's deadline (Kafka's default.api.timeout.ms for Admin and Consumer calls,
 * max.block.ms for the producer's metadata wait, delivery.timeout.ms for its sends).
 */
export interface BackoffOptions {
  /** First wait (Kafka's retry.backoff.ms). */
  retryBackoffMs: number;
  /** Longest wait (Kafka's retry.backoff.max.ms). */
  retryBackoffMaxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { retryBackoffMs: 100, retryBackoffMaxMs: 1_000 };
/** Kafka's default.api.timeout.ms: how long an Admin or Consumer call keeps retrying. */
export const DEFAULT_API_TIMEOUT_MS = 60_000;
/** ±20% around the exponential value, as Kafka's clients do, so retrying clients spread out. */
const JITTER = 0.2;

/** The wait before retry number `attempt` (1 = the first retry). `random` in [0, 1). */
export function backoffMs(attempt: number, o: BackoffOptions, random: number): number {
  const exp = Math.min(o.retryBackoffMs * 2 ** Math.max(0, attempt - 1), o.retryBackoffMaxMs);
  return Math.max(0, Math.round(exp * (1 - JITTER + 2 * JITTER * random)));
}

export interface RetryContext {
  /** Absolute time (ms since the epoch) after which no new attempt starts. */
  deadlineMs: number;
  backoff?: BackoffOptions;
  /** Runs before each retry with the error that caused it (e.g. to refresh metadata). */
  beforeRetry?: (err: CairnError) => Promise<void> | void;
  /** What the call was, for the error message when time runs out. */
  what: string;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it resolves, throws an error that is not retriable (at once), or the
 * deadline passes (then the last error, with its code, says why). Anything thrown that is not a
 * CairnError is a bug and passes through untouched.
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, ctx: RetryContext): Promise<T> {
  const now = ctx.now ?? Date.now;
  const random = ctx.random ?? Math.random;
  const sleep = ctx.sleep ?? realSleep;
  const backoff = ctx.backoff ?? DEFAULT_BACKOFF;
  const startedMs = now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof CairnError) || !isRetriable(err.code)) throw err;
      const waitMs = backoffMs(n, backoff, random());
      if (now() + waitMs >= ctx.deadlineMs) {
        throw new CairnError(err.code, `${err.message} (${ctx.what}: still failing after ${now() - startedMs} ms and ${n} attempt(s))`);
      }
      await sleep(waitMs);
      await ctx.beforeRetry?.(err);
    }
  }
}
