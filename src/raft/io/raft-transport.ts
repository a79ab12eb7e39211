import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common';
import { CHANNEL_OPTIONS, serviceDefinition } from '../../protocol/io';
import { type Message, type RaftMessageWire, toWire } from '..';

/** Messages queued for one peer while its stream is not writable; past it the oldest go (Raft resends). */
export const MAX_QUEUED_MESSAGES_PER_PEER = 1024;
const RECONNECT_BACKOFF_MS = 200;

interface Peer {
  address: string;
  client: grpc.Client & { Send: (cb: (err: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<RaftMessageWire> };
  stream: grpc.ClientWritableStream<RaftMessageWire> | null;
  queue: RaftMessageWire[];
  retryAt: number;
  blocked: boolean;
}

/**
 * Carries Raft messages to the other voters: one long-lived client stream per peer (the receiver
 * answers on its own stream to us). Delivery is best effort — a broken stream loses what was in
 * it and is reopened after a short backoff; the Raft core retries what matters.
 */
export class RaftTransport {
  private readonly peers = new Map<number, Peer>();
  private closed = false;

  private readonly Ctor: new (address: string, credentials: grpc.ChannelCredentials, options: object) => grpc.Client;

  constructor(
    addresses: Map<number, string>,
    private readonly logger: Logger,
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.Ctor = grpc.makeGenericClientConstructor(serviceDefinition('cairn.v1.Raft'), 'Raft');
    this.setPeers(addresses);
  }

  /**
   * Adds the peers not known yet and moves those whose address changed (a membership change
   * brought them, membership.ts). Peers that left are kept: a removed node may still be heard
   * from, and answering it costs nothing.
   */
  setPeers(addresses: ReadonlyMap<number, string>): void {
    if (this.closed) return;
    for (const [id, address] of addresses) {
      const known = this.peers.get(id);
      if (known?.address === address) continue;
      if (known) {
        known.stream?.end();
        known.client.close();
      }
      const client = new this.Ctor(address, this.credentials, {
        ...CHANNEL_OPTIONS,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      }) as unknown as Peer['client'];
      this.peers.set(id, { address, client, stream: null, queue: [], retryAt: 0, blocked: false });
      if (known) this.logger.info({ peer: id, address }, 'raft peer address changed');
    }
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (!peer) {
        this.logger.warn({ to: m.to }, 'raft message for an unknown peer dropped');
        continue;
      }
      peer.queue.push(toWire(m));
      if (peer.queue.length > MAX_QUEUED_MESSAGES_PER_PEER) peer.queue.shift();
      this.flush(peer);
    }
  }

  private open(peer: Peer): grpc.ClientWritableStream<RaftMessageWire> | null {
    if (performance.now() < peer.retryAt) return null;
    const stream = peer.client.Send((err) => {
      if (peer.stream === stream) peer.stream = null;
      if (err && !this.closed && err.code !== grpc.status.CANCELLED) peer.retryAt = performance.now() + RECONNECT_BACKOFF_MS;
    });
    stream.on('error', () => {
      if (peer.stream === stream) peer.stream = null;
      peer.retryAt = performance.now() + RECONNECT_BACKOFF_MS;
    });
    stream.on('drain', () => {
      peer.blocked = false;
      this.flush(peer);
    });
    peer.stream = stream;
    peer.blocked = false;
    return stream;
  }

  private flush(peer: Peer): void {
    if (peer.blocked) return;
    const stream = peer.stream ?? this.open(peer);
    if (!stream) {
      // Not connected: keep only the newest messages; Raft will resend anything that matters.
      return;
    }
    while (peer.queue.length > 0) {
      const m = peer.queue.shift()!;
      if (!stream.write(m)) {
        peer.blocked = true;
        return;
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) {
      p.stream?.end();
      p.client.close();
    }
  }
}
