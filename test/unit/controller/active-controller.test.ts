import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '../../../src/common';
import { callActiveController, type ControllerAnswer } from '../../../src/controller';

type Answer = ControllerAnswer & { from: number };

/** A cluster of voters where `active` answers and the others refuse with `hints[id]` (or no hint); `down` reject. */
function voters(active: number | null, hints: Record<number, number> = {}, down: number[] = []) {
  const asked: number[] = [];
  const send = (id: number): Promise<Answer> => {
    asked.push(id);
    if (down.includes(id)) return Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, `node ${id} is down`));
    if (id === active) return Promise.resolve({ errorCode: ErrorCode.NONE, from: id });
    return Promise.resolve({ errorCode: ErrorCode.NOT_CONTROLLER, leaderHint: hints[id] ?? -1, from: id });
  };
  return { asked, send };
}

const retriable = (err: unknown) => err instanceof CairnError && err.code === ErrorCode.NETWORK_EXCEPTION;

describe('callActiveController', () => {
  it('asks the hinted voter first and stops at the first answer', async () => {
    const v = voters(3);
    const r = await callActiveController({ voters: [1, 2, 3], hint: 3, send: v.send, moveOn: retriable });
    expect(r).toEqual({ id: 3, answer: { errorCode: ErrorCode.NONE, from: 3 } });
    expect(v.asked).toEqual([3]);
  });

  it("follows a NOT_CONTROLLER answer's leaderHint before the remaining voters", async () => {
    const v = voters(3, { 1: 3 });
    const hinted: number[] = [];
    const r = await callActiveController({ voters: [1, 2, 3], hint: -1, send: v.send, moveOn: retriable, onHint: (id) => hinted.push(id) });
    expect(r.id).toBe(3);
    expect(v.asked).toEqual([1, 3]);
    expect(hinted).toEqual([3]);
  });

  it('moves past a voter that is down when moveOn accepts the error', async () => {
    const v = voters(2, {}, [1]);
    const r = await callActiveController({ voters: [1, 2, 3], hint: 1, send: v.send, moveOn: retriable });
    expect(r.id).toBe(2);
    expect(v.asked).toEqual([1, 2]);
  });

  it('gives up at once on an error moveOn refuses', async () => {
    const boom = new CairnError(ErrorCode.INVALID_REQUEST, 'bad request');
    const asked: number[] = [];
    const send = (id: number) => {
      asked.push(id);
      return Promise.reject(boom);
    };
    await expect(callActiveController<Answer>({ voters: [1, 2, 3], hint: -1, send, moveOn: retriable })).rejects.toBe(boom);
    expect(asked).toEqual([1]);
  });

  it('asks each voter at most once, ignores hints at non-voters, and rejects with NOT_CONTROLLER when none leads', async () => {
    const v = voters(null, { 1: 2, 2: 1, 3: 9 });
    const err = await callActiveController({ voters: [1, 2, 3], hint: 2, send: v.send, moveOn: retriable }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.NOT_CONTROLLER);
    expect(v.asked).toEqual([2, 1, 3]);
  });
});
