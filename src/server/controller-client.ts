import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, fromServiceError, serviceDefinition } from '../protocol/io';
import { CairnError, ErrorCode, isRetriable } from '../common';

/** Metadata header on forwarded admin calls: the receiver must not forward them again. */
export const FORWARDED_KEY = 'cairn-forwarded';

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/**
 * Calls the active controller from a node: tries the last known leader first, follows
 * `leaderHint`s and NOT_CONTROLLER answers through the voters, and gives up after one round.
 */
export class ControllerClient {
  private readonly clients = new Map<string, Map<number, grpc.Client & Record<string, Unary>>>();
  leaderHint = -1;

  constructor(private readonly voters: { id: number; address: string }[]) {}

  private client(service: string, id: number): grpc.Client & Record<string, Unary> {
    let byId = this.clients.get(service);
    if (!byId) {
      byId = new Map();
      this.clients.set(service, byId);
    }
    let c = byId.get(id);
    if (!c) {
      const v = this.voters.find((x) => x.id === id)!;
      const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(`cairn.v1.${service}`), service);
      c = new Ctor(v.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as grpc.Client & Record<string, Unary>;
      byId.set(id, c);
    }
    return c;
  }

  private order(): number[] {
    const ids = this.voters.map((v) => v.id);
    return this.leaderHint >= 0 && ids.includes(this.leaderHint) ? [this.leaderHint, ...ids.filter((i) => i !== this.leaderHint)] : ids;
  }

  /**
   * One call at the active controller. Responses that carry `errorCode` NOT_CONTROLLER (with an
   * optional `leaderHint`) and retriable transport errors move on to the next voter.
   */
  async call<Res extends { errorCode?: number; leaderHint?: number }>(service: 'Controller' | 'Admin', method: string, req: unknown, timeoutMs = 5_000, forwarded = false): Promise<Res> {
    let last: unknown = new CairnError(ErrorCode.NOT_CONTROLLER, 'no controller answered');
    const tried = new Set<number>();
    let queue = this.order();
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (tried.has(id)) continue;
      tried.add(id);
      try {
        const md = new grpc.Metadata();
        if (forwarded) md.set(FORWARDED_KEY, '1');
        const res = await new Promise<Res>((resolve, reject) => {
          this.client(service, id)[method]!(req, md, { deadline: new Date(Date.now() + timeoutMs) }, (err, r) => (err ? reject(fromServiceError(err)) : resolve(r as Res)));
        });
        if (res.errorCode === ErrorCode.NOT_CONTROLLER) {
          last = new CairnError(ErrorCode.NOT_CONTROLLER, `node ${id} is not the active controller`);
          if (res.leaderHint !== undefined && res.leaderHint >= 0 && !tried.has(res.leaderHint)) {
            this.leaderHint = res.leaderHint;
            queue = [res.leaderHint, ...queue];
          }
          continue;
        }
        this.leaderHint = id;
        return res;
      } catch (err) {
        last = err;
        if (!(err instanceof CairnError) || !isRetriable(err.code)) throw err;
      }
    }
    throw last;
  }

  close(): void {
    for (const byId of this.clients.values()) for (const c of byId.values()) c.close();
    this.clients.clear();
  }
}
