import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, fromServiceError, serviceDefinition } from '../protocol/io';
import { CairnError, ErrorCode, isRetriable } from '../common';
import { callActiveController, type ControllerAnswer } from '../controller';

/** Metadata header on forwarded admin calls: the receiver must not forward them again. */
export const FORWARDED_KEY = 'cairn-forwarded';

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/**
 * Calls the active controller from a node over gRPC: tries the last known leader first, follows
 * `leaderHint`s and NOT_CONTROLLER answers through the voters, and gives up after one round.
 */
export class ControllerClient {
  /** Per service, per controller: the client and the address it dials (a membership change can move a controller). */
  private readonly clients = new Map<string, Map<number, { address: string; client: grpc.Client & Record<string, Unary> }>>();
  leaderHint = -1;

  constructor(
    /** The controllers and their addresses, asked at every call: a membership change can move them. */
    private readonly voters: () => { id: number; address: string }[],
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {}

  private client(service: string, id: number): grpc.Client & Record<string, Unary> {
    let byId = this.clients.get(service);
    if (!byId) {
      byId = new Map();
      this.clients.set(service, byId);
    }
    const v = this.voters().find((x) => x.id === id);
    if (!v) throw new CairnError(ErrorCode.NOT_CONTROLLER, `node ${id} is not a known controller`);
    const known = byId.get(id);
    if (known?.address === v.address) return known.client;
    known?.client.close();
    const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(`cairn.v1.${service}`), service);
    const client = new Ctor(v.address, this.credentials, CHANNEL_OPTIONS) as unknown as grpc.Client & Record<string, Unary>;
    byId.set(id, { address: v.address, client });
    return client;
  }

  /**
   * One call at the active controller (callActiveController: the last known leader first, then
   * NOT_CONTROLLER hints and the voters). Retriable transport errors move on to the next voter.
   */
  async call<Res extends ControllerAnswer>(service: 'Controller' | 'Admin', method: string, req: unknown, timeoutMs = 5_000, forwarded = false): Promise<Res> {
    const { id, answer } = await callActiveController<Res>({
      voters: this.voters().map((v) => v.id),
      hint: this.leaderHint,
      send: (to) => {
        const md = new grpc.Metadata();
        if (forwarded) md.set(FORWARDED_KEY, '1');
        return new Promise<Res>((resolve, reject) => {
          this.client(service, to)[method]!(req, md, { deadline: new Date(Date.now() + timeoutMs) }, (err, r) => (err ? reject(fromServiceError(err)) : resolve(r as Res)));
        });
      },
      moveOn: (err) => err instanceof CairnError && isRetriable(err.code),
      onHint: (hint) => (this.leaderHint = hint),
    });
    this.leaderHint = id;
    return answer;
  }

  close(): void {
    for (const byId of this.clients.values()) for (const c of byId.values()) c.client.close();
    this.clients.clear();
  }
}
