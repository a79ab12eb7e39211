import type { Random } from '../../src/common/random';

/**
 * The pipeline a link's bytes flow through: source socket → one stage per toxic → socket sink.
 * This plays the part of Toxiproxy's ToxicStub chain, with synchronous hand-offs instead of Go
 * channels: a stage either forwards a chunk at once or holds it (counted in `bufferedBytes`, which
 * the link bounds by pausing its source).
 */

export type Direction = 'upstream' | 'downstream';

/** Bytes read from the source in one piece, stamped when they were read (for latency). */
export interface Chunk {
  data: Buffer;
  timestampMs: number;
}

/** Where a stage writes. After `end()`, further pushes are dropped. */
export interface ChunkSink {
  push(chunk: Chunk): void;
  end(): void;
}

/** A toxic as configured through the API; stages read its attributes live. */
export interface ToxicWrapper {
  name: string;
  type: string;
  stream: string;
  direction: Direction;
  toxicity: number;
  attributes: Record<string, number>;
}

/** What a stage may ask of the link that runs it. */
export interface StageContext {
  readonly random: Random;
  /** Monotonic milliseconds. */
  now(): number;
  /** Bytes were released outside a push; the link re-checks back-pressure. */
  flowChanged(): void;
  /** From now on the connection's sockets close with a TCP RST (reset_peer). */
  markReset(): void;
}

export abstract class ToxicStage implements ChunkSink {
  /** Whether the toxic applies to this connection; rolled against `toxicity` (re-rolled on update). */
  protected active = false;
  protected inputEnded = false;
  protected outputEnded = false;

  constructor(
    readonly toxic: ToxicWrapper,
    protected readonly ctx: StageContext,
    public next: ChunkSink,
  ) {}

  /** Bytes held in this stage. */
  get bufferedBytes(): number {
    return 0;
  }

  /**
   * Begins running. `inputEnded` is true when the toxic is added to a link whose data before it
   * has already ended: such a stage never sees data (Toxiproxy closes the new stub at once).
   */
  start(inputEnded: boolean): void {
    if (inputEnded) {
      this.inputEnded = true;
      this.outputEnded = true;
      return;
    }
    this.active = this.roll();
    if (this.active) this.onStart();
  }

  push(chunk: Chunk): void {
    if (this.inputEnded) return;
    if (this.active) this.onChunk(chunk);
    else this.emit(chunk);
  }

  end(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    if (this.active) this.onEnd();
    else this.endOutput();
  }

  /**
   * The toxic's attributes or toxicity changed. Like Toxiproxy's interrupt-and-rerun: what the
   * stage holds is released, toxicity is rolled again and the toxic restarts with the new values.
   */
  update(): void {
    if (this.outputEnded) return;
    this.releaseHeld();
    if (this.inputEnded) {
      this.endOutput();
      return;
    }
    this.active = this.roll();
    if (this.active) this.onRestart();
  }

  /**
   * The toxic is removed: release everything held (data, then a pending end) to `next` without
   * applying the toxic. Returns true when the stage must stay in the chain until it finishes (a
   * reset that has been triggered cannot be called off); the link disposes it with the connection.
   */
  detach(): boolean {
    if (!this.outputEnded && this.active && this.onDetach()) return true;
    if (!this.outputEnded && this.inputEnded) this.endOutput();
    this.dispose();
    return false;
  }

  /** The connection is gone: stop every timer. */
  dispose(): void {
    this.releaseTimers();
  }

  protected emit(chunk: Chunk): void {
    if (!this.outputEnded) this.next.push(chunk);
  }

  /** Ends the output; input that still arrives is dropped, as after Toxiproxy's stub.Close(). */
  protected endOutput(): void {
    this.inputEnded = true;
    if (this.outputEnded) return;
    this.outputEnded = true;
    this.releaseTimers();
    this.next.end();
  }

  protected roll(): boolean {
    // Toxiproxy: rand.Float32() < toxicity, so 0 never applies and 1 always does.
    return this.ctx.random.next() < this.toxic.toxicity;
  }

  /** Called when the stage starts active. */
  protected onStart(): void {}
  /** Called after an update leaves the stage active. */
  protected onRestart(): void {
    this.onStart();
  }
  protected abstract onChunk(chunk: Chunk): void;
  /** Input ended while active. Default: end at once. */
  protected onEnd(): void {
    this.endOutput();
  }
  /** Release held data to `next` now (not a held end); used by update and by detach. */
  protected releaseHeld(): void {
    this.releaseTimers();
  }
  /** Removal while active: release what is held; true to stay in the chain until done. */
  protected onDetach(): boolean {
    this.releaseHeld();
    return false;
  }
  protected releaseTimers(): void {}
}

/** A chunk or the end of input, due at a time. */
interface Scheduled {
  chunk: Chunk | null;
  dueMs: number;
}

/**
 * A stage that releases chunks at scheduled times, in order (latency, bandwidth, slicer). Due times
 * never decrease, so the order of bytes is kept whatever the jitter.
 */
export abstract class ScheduledStage extends ToxicStage {
  private readonly queue: Scheduled[] = [];
  private queueHead = 0;
  private heldBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Due time of the last scheduled item. */
  protected lastDueMs = 0;

  override get bufferedBytes(): number {
    return this.heldBytes;
  }

  protected schedule(chunk: Chunk | null, dueMs: number): void {
    const due = Math.max(dueMs, this.lastDueMs);
    this.lastDueMs = due;
    this.queue.push({ chunk, dueMs: due });
    if (chunk !== null) this.heldBytes += chunk.data.length;
    if (this.queue.length - this.queueHead === 1) this.releaseDue(false);
  }

  protected get idle(): boolean {
    return this.queue.length === this.queueHead;
  }

  protected override onEnd(): void {
    this.schedule(null, this.ctx.now());
  }

  protected override releaseHeld(): void {
    this.releaseTimers();
    while (!this.idle) this.shift();
    this.lastDueMs = 0;
    this.ctx.flowChanged();
  }

  protected override releaseTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private shift(): void {
    const item = this.queue[this.queueHead]!;
    this.queueHead += 1;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (item.chunk === null) {
      this.endOutput();
      return;
    }
    this.heldBytes -= item.chunk.data.length;
    this.onRelease(item.chunk, item.dueMs);
    this.emit(item.chunk);
  }

  /** Hook to restamp a chunk before it leaves. */
  protected onRelease(_chunk: Chunk, _dueMs: number): void {}

  private releaseDue(fromTimer: boolean): void {
    this.timer = null;
    const now = this.ctx.now();
    // Node timers have millisecond granularity; release what is due within that.
    while (!this.idle && this.queue[this.queueHead]!.dueMs <= now + 1) this.shift();
    if (!this.idle && !this.outputEnded) {
      const waitMs = Math.max(1, Math.ceil(this.queue[this.queueHead]!.dueMs - now));
      this.timer = setTimeout(() => this.releaseDue(true), waitMs);
    }
    if (fromTimer) this.ctx.flowChanged();
  }
}
