export { Admin, type NewTopic } from './admin';
export { Cluster, bootstrapList, type ClientOptions } from './cluster';
export { Consumer, type ConsumerOptions, type TopicPartitionOffset } from './consumer';
export type { ConsumerRecord } from './fetched-records';
export type { ConsumerGroupMetadata, RebalanceListener, TopicPartition } from './group-membership';
export type { TransactionState } from './transactions';
export { murmur2, partitionForKey } from './partitioner';
export { Producer, type Acks, type ProducerOptions, type ProducerRecord, type RecordMetadata } from './producer';
export { CairnError, ErrorCode, errorName, isRetriable } from '../common';
