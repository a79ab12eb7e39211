import { CairnError, ErrorCode, type Logger, type Random } from '../common';
import { type MetadataImage, type MetadataLog, type MetadataPublisher, replay } from '../metadata';
import type { ControllerResult } from './topic-ops';

interface QueuedOp {
  name: string;
  run: (image: MetadataImage) => ControllerResult<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Bound on queued controller operations (style §9); past it, callers get a retriable error. */
export const MAX_QUEUED_CONTROLLER_OPS = 10_000;

/**
 * The active controller's event loop (Kafka's QuorumController): operations run one round at a
 * time against the committed image plus the records of earlier operations in the same round; the
 * round's records are appended (one atomic entry per operation) and each caller is answered once
 * its entry commits. The next round starts from the image that includes them, so decisions never
 * rest on state that might not commit.
 */
export class QuorumController {
  private queue: QueuedOp[] = [];
  private running = false;

  constructor(
    private readonly log: MetadataLog,
    private readonly publisher: MetadataPublisher,
    readonly random: Random,
    private readonly logger: Logger,
  ) {}

  get isActive(): boolean {
    return this.log.isLeader();
  }

  get image(): MetadataImage {
    return this.publisher.image;
  }

  /** Runs `op` on the controller's event loop; resolves with its response after its records commit. */
  submit<T>(name: string, op: (image: MetadataImage) => ControllerResult<T>): Promise<T> {
    if (!this.log.isLeader()) return Promise.reject(new CairnError(ErrorCode.NOT_CONTROLLER, `node is not the active controller (leader: ${this.log.leaderId()})`));
    if (this.queue.length >= MAX_QUEUED_CONTROLLER_OPS) return Promise.reject(new CairnError(ErrorCode.THROTTLING_QUOTA_EXCEEDED, 'controller queue is full'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ name, run: op as QueuedOp['run'], resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) void this.runRounds();
    });
  }

  private async runRounds(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const round = this.queue;
        this.queue = [];
        await this.runRound(round);
      }
    } finally {
      this.running = false;
    }
  }

  private async runRound(round: QueuedOp[]): Promise<void> {
    let working = this.publisher.image;
    const pending: Promise<void>[] = [];
    let lastOffset = 0;
    for (const op of round) {
      let result: ControllerResult<unknown>;
      try {
        if (!this.log.isLeader()) throw new CairnError(ErrorCode.NOT_CONTROLLER, 'controller leadership moved');
        result = op.run(working);
      } catch (err) {
        if (!(err instanceof CairnError)) this.logger.error({ op: op.name, err: (err as Error).stack }, 'controller operation failed');
        op.reject(err);
        continue;
      }
      if (result.records.length === 0) {
        op.resolve(result.response);
        continue;
      }
      working = replay(working, result.records, working.offset).image;
      pending.push(
        this.log.append(result.records).then(
          (offset) => {
            lastOffset = Math.max(lastOffset, offset);
            return this.publisher.waitForOffset(offset).then(() => op.resolve(result.response));
          },
          (err) => op.reject(err),
        ),
      );
    }
    await Promise.all(pending);
  }
}
