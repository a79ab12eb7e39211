import { CairnError, ErrorCode } from '../common';

/** What every controller answer may carry: NOT_CONTROLLER with the node the voter believes leads. */
export interface ControllerAnswer {
  errorCode?: number;
  leaderHint?: number;
}

export interface ActiveControllerCall<Res extends ControllerAnswer> {
  /** The controller voters, in the order to try after the hint. */
  voters: readonly number[];
  /** The node believed to be the active controller, tried first; negative when none is known. */
  hint: number;
  /** One attempt at voter `id`: resolves with its answer or rejects with a transport error. */
  send: (id: number) => Promise<Res>;
  /** Whether a rejection of `send` means "try the next voter" (a retriable transport error) rather than "give up". */
  moveOn: (err: unknown) => boolean;
  /** Told of every voter a NOT_CONTROLLER answer names as the leader, before it is tried. */
  onHint?: (id: number) => void;
}

/**
 * One call at the active controller, the same for the gRPC shell (server/controller-client.ts) and
 * the whole-cluster simulation: the hinted voter first, then every voter in order. A NOT_CONTROLLER
 * answer moves on, to its `leaderHint` first when that voter was not tried yet; a transport error
 * that `moveOn` accepts moves on too. Each voter is tried at most once. Rejects with the last
 * refusal when no voter answered with anything but NOT_CONTROLLER.
 */
export async function callActiveController<Res extends ControllerAnswer>(call: ActiveControllerCall<Res>): Promise<{ id: number; answer: Res }> {
  const queue = call.hint >= 0 && call.voters.includes(call.hint) ? [call.hint, ...call.voters.filter((v) => v !== call.hint)] : [...call.voters];
  const tried = new Set<number>();
  let last: unknown = new CairnError(ErrorCode.NOT_CONTROLLER, 'no controller answered');
  while (queue.length > 0) {
    const id = queue.shift()!;
    if (tried.has(id)) continue;
    tried.add(id);
    let answer: Res;
    try {
      answer = await call.send(id);
    } catch (err) {
      if (!call.moveOn(err)) throw err;
      last = err;
      continue;
    }
    if (answer.errorCode !== ErrorCode.NOT_CONTROLLER) return { id, answer };
    last = new CairnError(ErrorCode.NOT_CONTROLLER, `node ${id} is not the active controller`);
    const hint = answer.leaderHint;
    if (hint !== undefined && hint >= 0 && !tried.has(hint) && call.voters.includes(hint)) {
      call.onHint?.(hint);
      queue.unshift(hint);
    }
  }
  throw last;
}
