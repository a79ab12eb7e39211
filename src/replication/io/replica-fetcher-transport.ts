import type * as grpc from '@grpc/grpc-js';
import type { ReplicaFetchRequest, ReplicaFetchResponse } from '../../protocol';
import { CorrelatedStream, RpcClient } from '../../protocol/io';
import { CairnError, ErrorCode } from '../../common';
import type { ReplicaFetchTransport } from '..';

/**
 * The follower's fetches over gRPC: one long-lived `Replica.Fetch` stream per leader, on which
 * requests are correlated, so a partition's request can go out while another is parked on the
 * leader. It only carries requests: what to fetch and when is the ReplicaCore's decision.
 */
export class GrpcReplicaFetchTransport implements ReplicaFetchTransport {
  private readonly streams = new Map<number, { rpc: RpcClient; stream: CorrelatedStream<ReplicaFetchRequest, ReplicaFetchResponse> }>();

  constructor(
    private readonly addressOf: (brokerId: number) => string | null,
    private readonly credentials?: grpc.ChannelCredentials,
  ) {}

  async send(leaderId: number, request: ReplicaFetchRequest): Promise<ReplicaFetchResponse> {
    const c = this.connection(leaderId);
    try {
      const res = await c.stream.send(request);
      if (res === null) throw new CairnError(ErrorCode.NETWORK_EXCEPTION, `broker ${leaderId} answered a replica fetch with nothing`);
      return res;
    } catch (err) {
      // Every request on this stream fails with it; the first to notice drops the connection.
      if (this.streams.get(leaderId) === c) this.drop(leaderId);
      throw err;
    }
  }

  close(): void {
    for (const id of [...this.streams.keys()]) this.drop(id);
  }

  private connection(leaderId: number) {
    let c = this.streams.get(leaderId);
    if (c) return c;
    const address = this.addressOf(leaderId);
    if (address === null) throw new CairnError(ErrorCode.NETWORK_EXCEPTION, `no address for broker ${leaderId}`);
    const rpc = new RpcClient(address, 'cairn.v1.Replica', this.credentials);
    c = { rpc, stream: new CorrelatedStream<ReplicaFetchRequest, ReplicaFetchResponse>(rpc, 'Fetch') };
    this.streams.set(leaderId, c);
    return c;
  }

  private drop(leaderId: number): void {
    const c = this.streams.get(leaderId);
    this.streams.delete(leaderId);
    c?.stream.close();
    c?.rpc.close();
  }
}
