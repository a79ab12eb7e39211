import { CONSUMER_OFFSETS_TOPIC, type Clock } from '../../common';
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponse } from '../../protocol';
import { type ReplicaManager, toErrorResult } from '../../replication/io';
import type { Logger } from '../../common';

/** How long a marker may wait for the in-sync replicas. */
const MARKER_TIMEOUT_MS = 30_000;

/**
 * The partition leader's side of WriteTxnMarkers (KIP-98): writes the marker that ends a
 * producer's transaction in each partition (acks=all) and answers per partition. A marker in a
 * `__consumer_offsets` partition also ends the transaction's pending offsets there, once it is
 * replicated (`onOffsetsMarker`).
 */
export async function writeTxnMarkers(
  replicas: ReplicaManager,
  req: WriteTxnMarkersRequest,
  clock: Clock,
  logger: Logger,
  onOffsetsMarker: (partition: number, producerId: number, commit: boolean) => void,
): Promise<WriteTxnMarkersResponse> {
  const marker = { producerId: req.producerId, producerEpoch: req.producerEpoch, coordinatorEpoch: req.coordinatorEpoch, commit: req.commit };
  const results = await Promise.all(
    (req.partitions ?? []).map(async ({ topic, partition }) => {
      try {
        const p = replicas.lookup(topic, partition);
        await replicas.appendMarkerAsLeader(p, marker, MARKER_TIMEOUT_MS, clock.wallMs()).acked;
        if (topic === CONSUMER_OFFSETS_TOPIC) onOffsetsMarker(partition, req.producerId, req.commit);
        return { topic, partition, errorCode: 0, errorMessage: '' };
      } catch (err) {
        return { topic, partition, ...toErrorResult(err, logger) };
      }
    }),
  );
  return { results };
}
