import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../src/common/logger';
import type { Random } from '../../src/common/random';
import type { Chunk, ChunkSink, Direction, StageContext, ToxicStage, ToxicWrapper } from './stage';
import { createStage } from './toxics';

/**
 * One direction of a proxied connection (Toxiproxy's ToxicLink): bytes read from `source` pass
 * through one stage per toxic and are written to `dest`. "upstream" is client → server,
 * "downstream" server → client.
 *
 * Back-pressure: the source is paused while the destination socket needs a drain or the stages
 * hold LINK_HELD_BYTES_MAX or more, so memory per link is bounded by that plus one read.
 */

/** Bytes the stages of one link may hold (latency queues, bandwidth backlog) before the source pauses. */
export const LINK_HELD_BYTES_MAX = 4 * 1024 * 1024;
/** How long a closing socket may take to flush what was written before it is destroyed. */
export const CLOSE_FLUSH_MS_MAX = 10_000;

/** What a link needs from the connection that owns it. */
export interface LinkOwner {
  readonly random: Random;
  readonly logger: Logger;
  /** reset_peer fired: every close of this connection's sockets from now on is a RST. */
  markReset(): void;
  readonly resetOnClose: boolean;
}

/** Writes to the destination socket; ending it closes that socket (Go's conn.Close()). */
class SocketSink implements ChunkSink {
  private ended = false;

  constructor(
    private readonly dest: Socket,
    private readonly owner: LinkOwner,
  ) {}

  get isEnded(): boolean {
    return this.ended;
  }

  push(chunk: Chunk): void {
    if (this.ended || this.dest.destroyed || this.dest.writableEnded) return;
    this.dest.write(chunk.data);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    closeSocket(this.dest, this.owner.resetOnClose);
  }
}

/**
 * Closes a socket the way Go's Close does: written data is still delivered, then FIN, and nothing
 * more is read. With `reset` (SO_LINGER 0 in Toxiproxy) it is a RST and pending data is dropped.
 */
export function closeSocket(socket: Socket, reset: boolean): void {
  if (socket.destroyed) return;
  if (reset) {
    socket.resetAndDestroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS_MAX);
  socket.once('close', () => clearTimeout(timer));
  socket.end(() => socket.destroy());
}

export class Link {
  private readonly stages: ToxicStage[] = [];
  private readonly sink: SocketSink;
  private readonly ctx: StageContext;
  private inputEnded = false;
  private paused = false;
  private disposed = false;

  constructor(
    readonly direction: Direction,
    private readonly source: Socket,
    private readonly dest: Socket,
    owner: LinkOwner,
  ) {
    this.sink = new SocketSink(dest, owner);
    this.ctx = {
      random: owner.random,
      now: () => performance.now(),
      flowChanged: () => this.checkFlow(),
      markReset: () => owner.markReset(),
    };
  }

  /** Builds the chain from the toxics configured now and starts reading. */
  start(toxics: readonly ToxicWrapper[]): void {
    for (const toxic of toxics) this.addToxic(toxic);
    this.source.on('data', (data: Buffer) => this.onData(data));
    this.source.on('end', () => this.endInput());
    this.source.on('close', () => this.endInput());
    this.dest.on('drain', () => this.checkFlow());
    this.source.resume();
  }

  /** Appends a toxic to the end of the chain, as Toxiproxy does, also on a running link. */
  addToxic(toxic: ToxicWrapper): void {
    if (this.disposed) return;
    const last = this.stages[this.stages.length - 1];
    const stage = createStage(toxic, this.ctx, this.sink);
    if (last !== undefined) last.next = stage;
    this.stages.push(stage);
    // A sink already ended means everything before the new stage has ended too.
    stage.start(this.sink.isEnded);
  }

  updateToxic(toxic: ToxicWrapper): void {
    this.stageFor(toxic)?.update();
    this.checkFlow();
  }

  /** Removes a toxic; what it held goes on unchanged, in order, before newer data. */
  removeToxic(toxic: ToxicWrapper): void {
    const stage = this.stageFor(toxic);
    if (stage === undefined) return;
    if (stage.detach()) return; // stays in the chain until it has finished
    const index = this.stages.indexOf(stage);
    this.stages.splice(index, 1);
    const previous = this.stages[index - 1];
    if (previous !== undefined) previous.next = stage.next;
    this.checkFlow();
  }

  /** The connection has closed: stop all timers. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const stage of this.stages) stage.dispose();
  }

  private stageFor(toxic: ToxicWrapper): ToxicStage | undefined {
    return this.stages.find((stage) => stage.toxic === toxic);
  }

  private head(): ChunkSink {
    return this.stages[0] ?? this.sink;
  }

  private onData(data: Buffer): void {
    this.head().push({ data, timestampMs: performance.now() });
    this.checkFlow();
  }

  private endInput(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    this.head().end();
  }

  /** Bytes held by this link's stages (not counting the destination socket's own buffer). */
  get heldBytes(): number {
    let heldBytes = 0;
    for (const stage of this.stages) heldBytes += stage.bufferedBytes;
    return heldBytes;
  }

  /** Whether the source is paused for back-pressure. */
  get sourcePaused(): boolean {
    return this.paused;
  }

  private checkFlow(): void {
    if (this.disposed || this.inputEnded) return;
    const full = this.dest.writableNeedDrain || this.heldBytes >= LINK_HELD_BYTES_MAX;
    if (full && !this.paused) {
      this.paused = true;
      this.source.pause();
    } else if (!full && this.paused) {
      this.paused = false;
      this.source.resume();
    }
  }
}

/** A client connection and its upstream connection, joined by two links. */
export class Connection implements LinkOwner {
  readonly upstreamLink: Link;
  readonly downstreamLink: Link;
  private resetFlag = false;
  private openSockets = 2;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly random: Random,
    readonly logger: Logger,
    onClosed: (connection: Connection) => void,
  ) {
    this.upstreamLink = new Link('upstream', client, upstream, this);
    this.downstreamLink = new Link('downstream', upstream, client, this);
    const socketClosed = () => {
      this.openSockets -= 1;
      if (this.openSockets > 0) return;
      this.upstreamLink.dispose();
      this.downstreamLink.dispose();
      onClosed(this);
    };
    client.once('close', socketClosed);
    upstream.once('close', socketClosed);
    // A socket error is followed by 'close', which ends the link; it only needs noting here.
    client.on('error', (err) => logger.debug({ side: 'client', err: err.message }, 'connection error'));
    upstream.on('error', (err) => logger.debug({ side: 'upstream', err: err.message }, 'connection error'));
  }

  get resetOnClose(): boolean {
    return this.resetFlag;
  }

  markReset(): void {
    this.resetFlag = true;
  }

  link(direction: Direction): Link {
    return direction === 'upstream' ? this.upstreamLink : this.downstreamLink;
  }

  /** Drops the connection at once (proxy disabled, deleted or restarted). */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }
}
