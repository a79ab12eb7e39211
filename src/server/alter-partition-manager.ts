import type { AlterPartitionRequest, AlterPartitionResponse, AlterPartitionTransport } from '../replication';
import type { ControllerClient } from './controller-client';

/**
 * AlterPartition (KIP-497) to the active controller over gRPC. Only the transport: which ISR
 * changes to ask for, one in flight per partition, retrying a lost answer and settling a refusal,
 * is the ReplicaCore's (src/replication/replica-core.ts). A rejection means the outcome is unknown.
 */
export class ControllerAlterPartitionTransport implements AlterPartitionTransport {
  constructor(private readonly controllers: ControllerClient) {}

  send(request: AlterPartitionRequest): Promise<AlterPartitionResponse> {
    return this.controllers.call<AlterPartitionResponse>('Controller', 'AlterPartition', request);
  }
}
