import type * as grpc from '@grpc/grpc-js';
import { CairnError, ErrorCode, type Logger } from '../common';
import type { ProducerIdManager } from '../controller';
import type { GroupCoordinatorShell, TransactionCoordinatorShell } from '../coordinator/io';
import { type MetadataImage, NO_LEADER } from '../metadata';
import {
  type AddOffsetsToTxnRequest,
  type AddPartitionsToTxnRequest,
  CoordinatorType,
  type EndTxnRequest,
  type ListTransactionsRequest,
  type TxnOffsetCommitRequest,
  type ConsumerGroupHeartbeatRequest,
  type FetchRequest,
  type FindCoordinatorRequest,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
  type MetadataRequest,
  type MetadataResponse,
  type OffsetCommitRequest,
  type OffsetFetchRequest,
  type ProduceRequest,
  type SaslAuthenticateRequest,
  type TopicMetadata,
} from '../protocol';
import { type FetchHandler, FetchSession } from './fetch-handler';
import { bidi, peerHost, unary } from './grpc-util';
import type { ProduceHandler } from './produce-handler';
import type { ScramAuthenticator } from './sasl';

export interface BrokerServiceDeps {
  logger: Logger;
  produce: ProduceHandler;
  fetch: FetchHandler;
  image: () => MetadataImage;
  controllerId: () => number;
  /** Producer ids for InitProducerId, from blocks the controller allocates. */
  producerIds: ProducerIdManager;
  /** The group coordinators of the `__consumer_offsets` partitions this broker leads. */
  groups: GroupCoordinatorShell;
  /** The transaction coordinators of the `__transaction_state` partitions this broker leads. */
  txns: TransactionCoordinatorShell;
  /** Refuses new work while the node shuts down. */
  acceptingRequests: () => boolean;
  /** SCRAM authentication, on SSL client listeners only. */
  sasl: ScramAuthenticator | null;
}

/** Metadata answered from one image: live brokers, and every requested topic's partitions. */
export function metadataResponse(image: MetadataImage, topics: readonly string[], controllerId: number): MetadataResponse {
  const names = topics.length > 0 ? topics : [...image.topicsByName.keys()].sort();
  return {
    clusterId: image.clusterId ?? '',
    controllerId,
    brokers: image.liveBrokers().map((b) => ({ nodeId: b.id, host: b.host, port: b.port, rack: b.rack ?? '' })),
    topics: names.map((name): TopicMetadata => {
      const t = image.topicsByName.get(name);
      if (!t) return { name, topicId: '', errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `unknown topic "${name}"`, partitions: [], internal: false };
      return {
        name,
        topicId: t.id,
        errorCode: ErrorCode.NONE,
        internal: name.startsWith('__'),
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          errorCode: p.leader === NO_LEADER ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE,
          leaderId: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: [...p.replicas],
          isr: [...p.isr],
          offlineReplicas: p.replicas.filter((r) => !image.isBrokerAlive(r)),
        })),
      };
    }),
  };
}

/**
 * InitProducerId for an idempotent producer: a fresh id at epoch 0 (KIP-98). A producer that must
 * recover (UNKNOWN_PRODUCER_ID, an out-of-order sequence) bumps its epoch itself (KIP-360) and
 * comes back only when its epoch is exhausted. With a transactional id, the id's transaction
 * coordinator answers (see TransactionCoordinatorShell.initProducerId).
 */
export async function initProducerId(ids: ProducerIdManager, req: InitProducerIdRequest, txns?: TransactionCoordinatorShell): Promise<InitProducerIdResponse> {
  if (req.transactionalId) {
    if (!txns) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'this node has no transaction coordinator', producerId: -1, producerEpoch: -1 };
    return txns.initProducerId({ transactionalId: req.transactionalId, transactionTimeoutMs: req.transactionTimeoutMs ?? 0 });
  }
  try {
    return { errorCode: ErrorCode.NONE, producerId: await ids.nextId(), producerEpoch: 0 };
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    return { errorCode: err.code, errorMessage: err.message, producerId: -1, producerEpoch: -1 };
  }
}

function shuttingDown(req: { correlationId: number }, partitions: { topic: string; partition: number }[]) {
  return {
    correlationId: req.correlationId,
    results: partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      errorCode: ErrorCode.SHUTTING_DOWN,
      errorMessage: 'broker is shutting down',
      baseOffset: -1,
      logAppendTimeMs: -1,
      logStartOffset: -1,
      highWatermark: -1,
      lastStableOffset: -1,
    })),
  };
}

export function brokerService(d: BrokerServiceDeps): grpc.UntypedServiceImplementation {
  const produce = async (req: ProduceRequest) => (d.acceptingRequests() ? d.produce.handle(req) : shuttingDown(req, req.partitions));
  const fetch = async (req: FetchRequest, cancelled?: () => boolean, session?: FetchSession) => (d.acceptingRequests() ? d.fetch.handle(req, cancelled, session) : shuttingDown(req, req.partitions));
  return {
    Metadata: unary(d.logger, (req: MetadataRequest) => metadataResponse(d.image(), req.topics, d.controllerId())),
    Produce: unary(d.logger, async (req: ProduceRequest) => {
      const res = await produce(req);
      return req.acks === 0 ? { correlationId: req.correlationId, results: [] } : res;
    }),
    ProduceStream: bidi(d.logger, async (req: ProduceRequest) => {
      const res = await produce(req);
      return req.acks === 0 ? null : res;
    }),
    Fetch: unary(d.logger, (req: FetchRequest) => fetch(req)),
    // Each stream is a fetch session: its requests are taken one at a time, in order, so a consumer can keep several in flight.
    FetchStream: bidi(
      d.logger,
      (req: FetchRequest, cancelled, session: FetchSession) => session.run(() => fetch(req, cancelled, session)),
      () => new FetchSession(),
    ),
    InitProducerId: unary(d.logger, (req: InitProducerIdRequest) => initProducerId(d.producerIds, req, d.txns)),
    ListOffsets: unary(d.logger, (req: Parameters<FetchHandler['listOffsets']>[0]) => d.fetch.listOffsets(req)),
    FindCoordinator: unary(d.logger, (req: FindCoordinatorRequest) => (req.keyType === CoordinatorType.TRANSACTION ? d.txns.findCoordinator(req.key) : d.groups.findCoordinator(req.key))),
    ConsumerGroupHeartbeat: unary(d.logger, (req: ConsumerGroupHeartbeatRequest, call) => d.groups.heartbeat(req, peerHost(call.getPeer()))),
    OffsetCommit: unary(d.logger, (req: OffsetCommitRequest) => d.groups.commitOffsets(req)),
    OffsetFetch: unary(d.logger, (req: OffsetFetchRequest) => d.groups.fetchOffsets(req)),
    ListGroups: unary(d.logger, () => d.groups.listGroups()),
    DescribeGroups: unary(d.logger, (req: { groupIds: string[] }) => d.groups.describeGroups(req.groupIds)),
    DeleteGroups: unary(d.logger, (req: { groupIds: string[] }) => d.groups.deleteGroups(req.groupIds)),
    AddPartitionsToTxn: unary(d.logger, (req: AddPartitionsToTxnRequest) => d.txns.addPartitions(req)),
    AddOffsetsToTxn: unary(d.logger, (req: AddOffsetsToTxnRequest) => d.txns.addOffsets(req)),
    TxnOffsetCommit: unary(d.logger, (req: TxnOffsetCommitRequest) => d.groups.txnOffsetCommit(req)),
    EndTxn: unary(d.logger, (req: EndTxnRequest) => d.txns.endTxn(req)),
    ListTransactions: unary(d.logger, (req: ListTransactionsRequest) => d.txns.listTransactions(req)),
    DescribeTransactions: unary(d.logger, (req: { transactionalIds: string[] }) => d.txns.describeTransactions(req.transactionalIds ?? [])),
    AbortTransaction: unary(d.logger, (req: { transactionalId: string }) => d.txns.forceAbort(req.transactionalId)),
    SaslAuthenticate: unary(d.logger, (req: SaslAuthenticateRequest, call) =>
      d.sasl
        ? d.sasl.authenticate(req, peerHost(call.getPeer()))
        : {
            errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM,
            errorMessage: 'passwords are taken over TLS only: this listener is PLAINTEXT',
            authBytes: Buffer.alloc(0),
            sessionId: '',
            token: '',
            sessionLifetimeMs: 0,
          },
    ),
    DescribeProducers: unary(d.logger, (req: { topic: string; partition: number }) => d.fetch.describeProducers(req.topic, req.partition)),
  };
}
