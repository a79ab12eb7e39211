import type { Logger } from '../common';
import { type ImageChanges, MetadataImage, replay } from './image';
import type { CommittedBatch, MetadataListener } from './metadata-log';

export type ImageListener = (image: MetadataImage, changes: ImageChanges, previous: MetadataImage) => void;

/**
 * Turns the committed metadata stream into successive immutable images and hands each to the
 * components that serve from it (Kafka's MetadataLoader + publishers).
 */
export class MetadataPublisher implements MetadataListener {
  private current: MetadataImage = MetadataImage.EMPTY;
  private readonly listeners: ImageListener[] = [];
  private readonly waiters: { offset: number; resolve: () => void }[] = [];

  constructor(private readonly logger: Logger) {}

  get image(): MetadataImage {
    return this.current;
  }

  addListener(listener: ImageListener): void {
    this.listeners.push(listener);
  }

  onCommit(batch: CommittedBatch): void {
    if (batch.offset <= this.current.offset) return;
    const previous = this.current;
    const { image, changes } = replay(previous, batch.records, batch.offset);
    this.publish(image, changes, previous);
  }

  onSnapshot(image: MetadataImage): void {
    const previous = this.current;
    // Everything may have changed: report every partition and every removed topic.
    const partitions = new Set<string>();
    for (const t of image.topicsById.values()) for (const p of t.partitions) partitions.add(`${t.id}:${p.partition}`);
    const removedTopics = [...previous.topicsById.values()].filter((t) => !image.topicsById.has(t.id));
    this.publish(image, { partitions, removedTopics, brokers: new Set([...image.brokers.keys(), ...previous.brokers.keys()]) }, previous);
  }

  private publish(image: MetadataImage, changes: ImageChanges, previous: MetadataImage): void {
    this.current = image;
    for (const l of this.listeners) {
      try {
        l(image, changes, previous);
      } catch (err) {
        this.logger.error({ err: (err as Error).stack, offset: image.offset }, 'metadata listener failed');
      }
    }
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.offset <= image.offset) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** Resolves once an image at or past `offset` has been published. */
  waitForOffset(offset: number): Promise<void> {
    if (this.current.offset >= offset) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ offset, resolve }));
  }
}
