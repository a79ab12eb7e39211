import type { MetadataImage } from '../metadata';
import type { NodeConfig } from './config';
import type { ControllerRole } from './controller-role';

/**
 * Admin/DescribeQuorum's answer (`cairn cluster status`, `cairn cluster describe-quorum`): the
 * controller quorum as this node sees it — from its own Raft state when it is a voter, else only
 * the leader it follows — and the brokers of its metadata image. Voters' log ends, their lag and
 * the brokers' last heartbeats are known only on the leader (the active controller).
 */
export function describeQuorum(config: NodeConfig, image: MetadataImage, role: ControllerRole | null, leaderId: number, nowMs: number) {
  const raft = role?.log ?? null;
  const active = role?.isActive ?? false;
  return {
    answeredBy: config.nodeId,
    leaderId,
    term: raft ? raft.term : -1,
    commitIndex: raft ? raft.commitIndex : image.offset,
    role: raft ? raft.role : 'observer',
    ...quorumMembers(config, raft),
    brokers: [...image.brokers.values()]
      .sort((a, b) => a.id - b.id)
      .map((b) => ({
        nodeId: b.id,
        host: b.host,
        port: b.port,
        rack: b.rack ?? '',
        brokerEpoch: b.epoch,
        fenced: b.fenced,
        inControlledShutdown: b.inControlledShutdown,
        lastHeartbeatMsAgo: active && role ? nowMs - role.lastContactMs(b.id) : -1,
        metricsAddress: b.metricsHost !== undefined ? `${b.metricsHost}:${b.metricsPort}` : '',
      })),
    clusterId: image.clusterId ?? '',
    metadataOffset: image.offset,
    imageDigest: image.digest(),
  };
}

/** The voters and learners: the membership in force on a controller (KIP-853), `controller.quorum.voters` elsewhere. */
function quorumMembers(config: NodeConfig, raft: ControllerRole['log'] | null) {
  const progress = raft?.progress() ?? [];
  const membership = raft?.membership ?? { voters: config.voters.map((v) => ({ id: v.id, endpoint: '' })), learners: [] };
  const describe = (m: { id: number; endpoint: string }) => {
    const p = progress.find((x) => x.id === m.id);
    return {
      nodeId: m.id,
      matchIndex: m.id === config.nodeId && raft?.role === 'leader' ? raft.commitIndex : (p?.matchIndex ?? -1),
      recentlyActive: p?.recentlyActive ?? m.id === config.nodeId,
      endpoint: m.endpoint,
    };
  };
  return { voters: membership.voters.map(describe), learners: membership.learners.map(describe) };
}
