import { CairnError, ErrorCode, type Logger } from '../common';
import type { AllocateProducerIdsResponse } from './producer-id-ops';

/** A new block is asked for once this share of the current one is used (Kafka's 90%). */
const PREFETCH_AT = 0.9;

interface Block {
  next: number;
  end: number;
  len: number;
}

/**
 * A broker's producer ids for InitProducerId (Kafka's RPCProducerIdManager): ids come from blocks
 * the active controller allocates through the metadata log (AllocateProducerIds); the next block
 * is asked for before the current one runs out, so an InitProducerId rarely waits for the
 * controller. One allocation is in flight at a time. Ids of a block not used before the broker
 * restarts are skipped, never reused.
 */
export class ProducerIdManager {
  private current: Block | null = null;
  private prefetched: Block | null = null;
  private fetching: Promise<void> | null = null;

  constructor(
    /** AllocateProducerIds at the active controller, with this broker's id and current epoch. Rejects when the outcome is unknown. */
    private readonly allocate: () => Promise<AllocateProducerIdsResponse>,
    private readonly logger: Logger,
  ) {}

  /** The next unused producer id. Fails with COORDINATOR_NOT_AVAILABLE (retriable) when no block can be had now. */
  async nextId(): Promise<number> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const id = this.take();
      if (id !== null) return id;
      await this.fetch();
    }
    const id = this.take();
    if (id === null) throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'no producer ids available yet; retry');
    return id;
  }

  /**
   * Asks for a first block now if there is none, so that the first InitProducerId after a start does
   * not wait for a metadata-log commit. Failures are left to the next call (nextId asks again).
   */
  warmUp(): void {
    if (this.current === null && this.prefetched === null && this.fetching === null) void this.fetch().catch(() => undefined);
  }

  private take(): number | null {
    if (this.current === null || this.current.next >= this.current.end) {
      this.current = this.prefetched;
      this.prefetched = null;
    }
    const b = this.current;
    if (b === null || b.next >= b.end) return null;
    const id = b.next++;
    if (this.prefetched === null && b.end - b.next <= b.len * (1 - PREFETCH_AT)) void this.fetch().catch(() => undefined);
    return id;
  }

  /** One AllocateProducerIds at a time; its block becomes the prefetched one. */
  private fetch(): Promise<void> {
    this.fetching ??= this.allocate()
      .then(
        (res) => {
          if (res.errorCode !== ErrorCode.NONE)
            throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `producer id block refused: ${ErrorCode[res.errorCode] ?? res.errorCode} ${res.errorMessage ?? ''}`.trim());
          this.prefetched = { next: res.producerIdStart, end: res.producerIdStart + res.producerIdLen, len: res.producerIdLen };
          this.logger.info({ producerIdStart: res.producerIdStart, producerIdLen: res.producerIdLen }, 'producer id block allocated');
        },
        (err: unknown) => {
          if (err instanceof CairnError && err.code === ErrorCode.COORDINATOR_NOT_AVAILABLE) throw err;
          throw new CairnError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `producer id block not allocated: ${(err as Error).message}`);
        },
      )
      .finally(() => {
        this.fetching = null;
      });
    return this.fetching;
  }
}
