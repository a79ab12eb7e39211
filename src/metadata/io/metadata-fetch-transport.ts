import * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode, type Logger } from '../../common';
import { CHANNEL_OPTIONS, serviceDefinition } from '../../protocol/io';
import { decodeRecords, MetadataImage, type MetadataListener, MetadataListeners, type MetadataLog, type MetadataRecord, replay } from '..';

const RETRY_MS = 300;

interface MetadataBatchWire {
  offset: number;
  records: Buffer;
  snapshot: boolean;
}

/**
 * How a broker that is not a controller follows the metadata log (design brief §5: brokers are
 * observers): a server stream of committed batches from one controller, from the offset after the
 * last one replayed; on any failure, the next controller after a short pause. Brokers never append.
 */
export class MetadataFetchTransport implements MetadataLog {
  private readonly listeners = new MetadataListeners();
  private readonly clients = new Map<string, grpc.Client & { FetchMetadata: (req: unknown) => grpc.ClientReadableStream<MetadataBatchWire> }>();
  private readonly Ctor: ReturnType<typeof grpc.makeGenericClientConstructor>;
  private next = 0;
  private offset = 0;
  private call: grpc.ClientReadableStream<MetadataBatchWire> | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  controllerLeader = -1;

  constructor(
    private readonly brokerId: number,
    /**
     * The controllers that hold the metadata log, asked at every connect: `controller.quorum.voters`
     * until the log records a membership change (KIP-853), then its voters and learners.
     */
    private readonly controllers: () => { id: number; address: string }[],
    private readonly logger: Logger,
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.Ctor = grpc.makeGenericClientConstructor(serviceDefinition('cairn.v1.Controller'), 'Controller');
  }

  private client(address: string) {
    let c = this.clients.get(address);
    if (!c) {
      c = new this.Ctor(address, this.credentials, CHANNEL_OPTIONS) as never;
      this.clients.set(address, c!);
    }
    return c!;
  }

  subscribe(listener: MetadataListener): void {
    this.listeners.add(listener);
  }

  follow(listener: MetadataListener): () => void {
    return this.listeners.add(listener);
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const controllers = this.controllers();
    const { id, address } = controllers[this.next % controllers.length]!;
    this.next++;
    const call = this.client(address).FetchMetadata({ brokerId: this.brokerId, fromOffset: this.offset + 1 });
    this.call = call;
    call.on('data', (b: MetadataBatchWire) => {
      try {
        const records = this.deliver(b);
        // A controller dropped from the quorum no longer receives the log: its stream would go quiet.
        if (records.some((r) => r.type === 'QuorumMembership') && !this.controllers().some((c) => c.id === id)) {
          this.logger.info({ controller: id }, 'metadata source left the controller quorum; switching');
          call.cancel();
        }
      } catch (err) {
        this.logger.error({ controller: id, err: (err as Error).message }, 'bad metadata batch');
        call.cancel();
      }
    });
    const retry = () => {
      if (this.call !== call || this.closed) return;
      this.call = null;
      this.timer = setTimeout(() => this.connect(), RETRY_MS);
    };
    call.on('error', retry);
    call.on('end', retry);
  }

  /** Replays one batch (or snapshot) and returns its records. */
  private deliver(b: MetadataBatchWire): MetadataRecord[] {
    const records: MetadataRecord[] = b.records.length > 0 ? decodeRecords(b.records) : [];
    if (b.snapshot) {
      const image = replay(MetadataImage.EMPTY, records, b.offset).image;
      this.offset = b.offset;
      this.listeners.snapshot(image);
      return records;
    }
    if (b.offset !== this.offset + 1) {
      // A gap would silently skip metadata: reconnect and ask again from where we are.
      throw new Error(`expected metadata offset ${this.offset + 1}, got ${b.offset}`);
    }
    this.offset = b.offset;
    this.listeners.commit({ offset: b.offset, records });
    return records;
  }

  append(): Promise<number> {
    return Promise.reject(new CairnError(ErrorCode.NOT_CONTROLLER, 'a broker-only node cannot append to the metadata log'));
  }

  isLeader(): boolean {
    return false;
  }

  leaderId(): number {
    return this.controllerLeader;
  }

  leaderEpoch(): number {
    return -1;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.call?.cancel();
    for (const c of this.clients.values()) c.close();
  }
}
