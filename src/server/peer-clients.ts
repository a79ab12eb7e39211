import type * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode } from '../common';
import { RpcClient } from '../protocol/io';

/**
 * gRPC channels from this broker to other brokers' internal listener, one per (broker, service,
 * address), for the transaction coordinator's markers and the leaders' verifications. A broker
 * that moved to a new address gets a new channel; close() drops them all.
 */
export class PeerClients {
  private readonly clients = new Map<string, RpcClient>();

  constructor(
    private readonly addressOf: (brokerId: number) => string | null,
    private readonly credentials?: grpc.ChannelCredentials,
  ) {}

  unary<Req, Res>(brokerId: number, service: 'cairn.v1.Broker' | 'cairn.v1.Replica', method: string, req: Req, timeoutMs: number): Promise<Res> {
    const address = this.addressOf(brokerId);
    if (address === null) return Promise.reject(new CairnError(ErrorCode.NETWORK_EXCEPTION, `no address for broker ${brokerId}`));
    const key = `${brokerId}/${service}/${address}`;
    let c = this.clients.get(key);
    if (!c) {
      for (const [k, old] of this.clients) {
        if (k.startsWith(`${brokerId}/${service}/`)) {
          old.close();
          this.clients.delete(k);
        }
      }
      c = new RpcClient(address, service, this.credentials);
      this.clients.set(key, c);
    }
    return c.unary<Req, Res>(method, req, timeoutMs);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
