import { describe, expect, it } from 'vitest';
import { backoffMs, withRetries } from '../../../src/client/retry';
import { CairnError, ErrorCode } from '../../../src/common/errors';

/** A fake clock: sleeping moves it, nothing waits for real. */
function fakeTime() {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    sleeps,
  };
}

describe('the client retry policy', () => {
  it('retries retriable codes (from the error table) until the call succeeds', async () => {
    const t = fakeTime();
    const codes = [ErrorCode.NOT_CONTROLLER, ErrorCode.LEADER_NOT_AVAILABLE, ErrorCode.NETWORK_EXCEPTION, ErrorCode.BROKER_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS];
    let calls = 0;
    const result = await withRetries(
      async () => {
        const code = codes[calls++];
        if (code !== undefined) throw new CairnError(code, 'not yet');
        return 'done';
      },
      { what: 'test', deadlineMs: t.now() + 60_000, now: t.now, sleep: t.sleep, random: () => 0.5 },
    );
    expect(result).toBe('done');
    expect(calls).toBe(codes.length + 1);
    expect(t.sleeps).toEqual([100, 200, 400, 800, 1000]); // exponential, capped at retryBackoffMaxMs
  });

  it('fails at once on a code that is not retriable, and on a code it does not know', async () => {
    for (const code of [ErrorCode.INVALID_REPLICATION_FACTOR, ErrorCode.TOPIC_ALREADY_EXISTS, 4242 as ErrorCode]) {
      const t = fakeTime();
      let calls = 0;
      const p = withRetries(
        async () => {
          calls++;
          throw new CairnError(code, 'no');
        },
        { what: 'test', deadlineMs: t.now() + 60_000, now: t.now, sleep: t.sleep },
      );
      await expect(p).rejects.toMatchObject({ code });
      expect(calls).toBe(1);
    }
  });

  it('gives up at the deadline with the last error code, saying how long it tried', async () => {
    const t = fakeTime();
    let calls = 0;
    const p = withRetries(
      async () => {
        calls++;
        throw new CairnError(ErrorCode.NOT_CONTROLLER, 'no controller');
      },
      { what: 'Admin CreateTopics', deadlineMs: t.now() + 5_000, now: t.now, sleep: t.sleep, random: () => 0.5 },
    );
    await expect(p).rejects.toMatchObject({ code: ErrorCode.NOT_CONTROLLER, message: expect.stringMatching(/Admin CreateTopics: still failing after \d+ ms/) });
    expect(calls).toBeGreaterThan(3);
    expect(t.now()).toBeLessThanOrEqual(1_000_000 + 5_000);
  });

  it('passes anything that is not a CairnError (a bug) straight through', async () => {
    const t = fakeTime();
    await expect(
      withRetries(
        async () => {
          throw new TypeError('bug');
        },
        { what: 'x', deadlineMs: t.now() + 1000, now: t.now, sleep: t.sleep },
      ),
    ).rejects.toBeInstanceOf(TypeError);
  });

  it('jitters the backoff by at most 20% either way', () => {
    const o = { retryBackoffMs: 100, retryBackoffMaxMs: 1000 };
    expect(backoffMs(1, o, 0)).toBe(80);
    expect(backoffMs(1, o, 0.999999)).toBe(120);
    expect(backoffMs(10, o, 0.5)).toBe(1000);
  });
});
