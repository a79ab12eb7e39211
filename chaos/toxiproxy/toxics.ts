import { ScheduledStage, ToxicStage } from './stage';
import type { Chunk, ChunkSink, StageContext, ToxicWrapper } from './stage';

/**
 * The toxics of Toxiproxy 2.x (toxics/*.go): their attributes as the API shows them, and the stage
 * that applies each one to a link. Attributes are read live, so an update takes effect at once.
 */

interface AttributeSpec {
  /** The Go struct, for error messages. */
  goStruct: string;
  /** Attribute names in the order Toxiproxy serialises them, each with its Go integer type. */
  fields: ReadonlyArray<readonly [name: string, goType: 'int' | 'int64']>;
}

export const TOXIC_TYPES: Readonly<Record<string, AttributeSpec>> = {
  noop: { goStruct: 'NoopToxic', fields: [] },
  latency: {
    goStruct: 'LatencyToxic',
    fields: [
      ['latency', 'int64'],
      ['jitter', 'int64'],
    ],
  },
  bandwidth: { goStruct: 'BandwidthToxic', fields: [['rate', 'int64']] },
  slow_close: { goStruct: 'SlowCloseToxic', fields: [['delay', 'int64']] },
  timeout: { goStruct: 'TimeoutToxic', fields: [['timeout', 'int64']] },
  reset_peer: { goStruct: 'ResetToxic', fields: [['timeout', 'int64']] },
  slicer: {
    goStruct: 'SlicerToxic',
    fields: [
      ['average_size', 'int'],
      ['size_variation', 'int'],
      ['delay', 'int'],
    ],
  },
  limit_data: { goStruct: 'LimitDataToxic', fields: [['bytes', 'int64']] },
};

export function isToxicType(type: string): boolean {
  return Object.prototype.hasOwnProperty.call(TOXIC_TYPES, type);
}

/** Slicer output pieces per input chunk, at most (a 64 KiB read sliced to single bytes). */
const SLICER_PIECES_MAX = 65_536;

class NoopStage extends ToxicStage {
  protected onChunk(chunk: Chunk): void {
    this.emit(chunk);
  }
}

/** Delays each chunk by latency ± jitter from when it was read; order is kept. */
class LatencyStage extends ScheduledStage {
  private delayMs(): number {
    const { latency = 0, jitter = 0 } = this.toxic.attributes;
    // Toxiproxy: latency + rand.Int63n(2*jitter) - jitter.
    return jitter > 0 ? latency + Math.floor(this.ctx.random.next() * 2 * jitter) - jitter : latency;
  }

  protected onChunk(chunk: Chunk): void {
    this.schedule(chunk, chunk.timestampMs + this.delayMs());
  }

  /** A following latency toxic delays from when this one released the chunk, not from the read. */
  protected override onRelease(chunk: Chunk): void {
    chunk.timestampMs = this.ctx.now();
  }
}

/**
 * Passes `rate` KB/s (1 KB = 1000 bytes, so `rate` bytes per millisecond), in pieces of at most
 * 100 ms worth. A rate of 0 or less holds everything, as the real toxic does.
 */
class BandwidthStage extends ScheduledStage {
  private stalled: Chunk[] = [];
  private stalledBytes = 0;

  override get bufferedBytes(): number {
    return super.bufferedBytes + this.stalledBytes;
  }

  protected onChunk(chunk: Chunk): void {
    const rate = this.toxic.attributes['rate'] ?? 0;
    if (rate <= 0) {
      this.stalled.push(chunk);
      this.stalledBytes += chunk.data.length;
      return;
    }
    const pieceBytesMax = rate * 100;
    for (let offset = 0; offset < chunk.data.length; offset += pieceBytesMax) {
      const data = chunk.data.subarray(offset, offset + pieceBytesMax);
      const start = Math.max(this.ctx.now(), this.lastDueMs);
      this.schedule({ data, timestampMs: chunk.timestampMs }, start + data.length / rate);
    }
  }

  protected override onEnd(): void {
    // Toxiproxy's bandwidth toxic never reads past a stalled chunk, so the end is held too.
    if ((this.toxic.attributes['rate'] ?? 0) <= 0) return;
    super.onEnd();
  }

  protected override releaseHeld(): void {
    for (const chunk of this.stalled) this.emit(chunk);
    this.stalled = [];
    this.stalledBytes = 0;
    super.releaseHeld();
  }
}

/** Holds the end of the stream for `delay` ms. */
class SlowCloseStage extends ToxicStage {
  private timer: NodeJS.Timeout | null = null;

  protected onChunk(chunk: Chunk): void {
    this.emit(chunk);
  }

  protected override onEnd(): void {
    this.timer = setTimeout(() => this.endOutput(), Math.max(0, this.toxic.attributes['delay'] ?? 0));
  }

  /** Toxiproxy re-runs the toxic, which sees the closed input again and waits the new delay. */
  override update(): void {
    if (this.outputEnded) return;
    this.releaseTimers();
    this.active = this.roll();
    if (!this.inputEnded) return;
    if (this.active) this.onEnd();
    else this.endOutput();
  }

  protected override releaseTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Drops all data and closes the stream after `timeout` ms (0: never). Removing it closes the
 * stream, as the real toxic's Cleanup does.
 */
class TimeoutStage extends ToxicStage {
  private timer: NodeJS.Timeout | null = null;

  protected override onStart(): void {
    const timeoutMs = this.toxic.attributes['timeout'] ?? 0;
    if (timeoutMs > 0) this.timer = setTimeout(() => this.endOutput(), timeoutMs);
  }

  protected onChunk(_chunk: Chunk): void {
    // Dropped on the ground.
  }

  protected override onDetach(): boolean {
    this.endOutput();
    return false;
  }

  protected override releaseTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * On the first data (or end) of the stream, waits `timeout` ms and then closes the connection with
 * a TCP RST. Once triggered it cannot be called off, as in Toxiproxy (its wait is not interruptible).
 */
class ResetPeerStage extends ToxicStage {
  private timer: NodeJS.Timeout | null = null;
  private triggered = false;

  protected onChunk(_chunk: Chunk): void {
    this.trigger();
  }

  protected override onEnd(): void {
    this.trigger();
  }

  private trigger(): void {
    this.inputEnded = true; // everything after the trigger is dropped
    if (this.triggered) return;
    this.triggered = true;
    const fire = () => {
      this.timer = null;
      this.ctx.markReset();
      this.endOutput();
    };
    const timeoutMs = this.toxic.attributes['timeout'] ?? 0;
    if (timeoutMs > 0) this.timer = setTimeout(fire, timeoutMs);
    else fire();
  }

  override update(): void {
    if (!this.triggered) super.update();
  }

  protected override onDetach(): boolean {
    return this.triggered && !this.outputEnded;
  }

  protected override releaseTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Splits each chunk into pieces of about `average_size` bytes, `delay` µs apart. */
class SlicerStage extends ScheduledStage {
  protected onChunk(chunk: Chunk): void {
    const delayMs = Math.max(0, this.toxic.attributes['delay'] ?? 0) / 1000;
    let dueMs = Math.max(this.ctx.now(), this.lastDueMs);
    for (const [start, end] of this.slices(chunk.data.length)) {
      this.schedule({ data: chunk.data.subarray(start, end), timestampMs: chunk.timestampMs }, dueMs);
      dueMs += delayMs;
    }
    // Toxiproxy also waits `delay` after the last piece before taking the next chunk.
    this.lastDueMs = dueMs;
  }

  /**
   * Toxiproxy's recursive halving: split around the middle ± size_variation until a piece is
   * within size_variation of average_size. Iterative, and clamped so that it always progresses
   * (the Go code recurses forever on an average_size of 0).
   */
  private slices(length: number): Array<[number, number]> {
    const average = Math.max(1, this.toxic.attributes['average_size'] ?? 0);
    const variation = Math.max(0, this.toxic.attributes['size_variation'] ?? 0);
    const pieces: Array<[number, number]> = [];
    const stack: Array<[number, number]> = [[0, length]];
    while (stack.length > 0) {
      const [start, end] = stack.pop()!;
      if (end - start - average <= variation || end - start < 2 || pieces.length + stack.length >= SLICER_PIECES_MAX) {
        pieces.push([start, end]);
        continue;
      }
      let mid = start + Math.floor((end - start) / 2);
      if (variation > 0) mid += Math.floor(this.ctx.random.next() * 2 * variation) - variation;
      mid = Math.min(end - 1, Math.max(start + 1, mid));
      stack.push([mid, end], [start, mid]); // left half popped first
    }
    return pieces;
  }
}

/** Passes `bytes` bytes in total, then closes the stream. The count survives updates. */
class LimitDataStage extends ToxicStage {
  private transmittedBytes = 0;

  protected onChunk(chunk: Chunk): void {
    const limit = this.toxic.attributes['bytes'] ?? 0;
    const remaining = Math.max(0, limit - this.transmittedBytes);
    const data = remaining < chunk.data.length ? chunk.data.subarray(0, remaining) : chunk.data;
    if (data.length > 0) {
      this.emit(data === chunk.data ? chunk : { data, timestampMs: chunk.timestampMs });
      this.transmittedBytes += data.length;
    }
    if (limit - this.transmittedBytes <= 0) this.endOutput();
  }
}

type StageClass = new (toxic: ToxicWrapper, ctx: StageContext, next: ChunkSink) => ToxicStage;

const STAGES: Readonly<Record<string, StageClass>> = {
  noop: NoopStage,
  latency: LatencyStage,
  bandwidth: BandwidthStage,
  slow_close: SlowCloseStage,
  timeout: TimeoutStage,
  reset_peer: ResetPeerStage,
  slicer: SlicerStage,
  limit_data: LimitDataStage,
};

/** A stage for a toxic of a type that TOXIC_TYPES accepted. */
export function createStage(toxic: ToxicWrapper, ctx: StageContext, next: ChunkSink): ToxicStage {
  const Stage = STAGES[toxic.type];
  if (Stage === undefined) throw new Error(`no stage for toxic type ${toxic.type}`);
  return new Stage(toxic, ctx, next);
}
