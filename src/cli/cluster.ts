import type { ChannelCredentials } from '@grpc/grpc-js';
import { channelCredentials, checkHealth, RpcClient } from '../protocol/io';
import { Admin, bootstrapList, type ClientOptions, planDecommission } from '../client';
import { CairnError, ErrorCode } from '../common';
import { BOOTSTRAP, intOption, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const CLUSTER_HELP = `Usage: cairn cluster <command> [options]

Commands:
  status                   nodes, roles, the controller leader and its term, fenced brokers,
                           each node's health and metrics address
  describe-quorum          the controller quorum: leader, term, commit index, each voter's log
                           end and lag, and the brokers that follow it as observers
  elect-leaders [TOPIC]    move leadership back to each partition's preferred replica
  decommission --broker N  move every replica off broker N (reassignments, waited for); then stop
                           the node: its registration leaves once it is silent (docs/operations.md)
  add-controller --node-id N [--endpoint host:port]
                           make node N a controller voter (KIP-853): it joins as a learner, catches
                           up, and is promoted; N must be running with the controller role. The
                           endpoint defaults to the internal address N registered as a broker
  remove-controller --node-id N
                           take controller voter N's vote: it stays a learner and keeps following
                           the metadata log (a leader hands over once the change commits); run
                           again on a learner to drop it from the quorum altogether

Options:
  -b, --bootstrap host:port   a node to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.* (docs/security.md)
  --timeout-ms N              decommission: how long to wait for the moves (default 600000);
                              add-controller: how long the new voter may take to catch up (default 60000)`;

interface QuorumResponse {
  answeredBy: number;
  leaderId: number;
  term: number;
  commitIndex: number;
  role: string;
  voters: { nodeId: number; matchIndex: number; recentlyActive: boolean; endpoint: string }[];
  learners?: { nodeId: number; matchIndex: number; recentlyActive: boolean; endpoint: string }[];
  brokers: { nodeId: number; host: string; port: number; rack: string; brokerEpoch: number; fenced: boolean; inControlledShutdown: boolean; lastHeartbeatMsAgo: number; metricsAddress: string }[];
  clusterId: string;
  metadataOffset: number;
}

/** Asks each bootstrap node in turn; prefers the answer of the controller leader. */
async function describeQuorum(bootstrap: string[], credentials: ChannelCredentials): Promise<QuorumResponse> {
  let first: QuorumResponse | null = null;
  let last: unknown;
  const tried = new Set<string>();
  const queue = [...bootstrap];
  while (queue.length > 0) {
    const address = queue.shift()!;
    if (tried.has(address)) continue;
    tried.add(address);
    const rpc = new RpcClient(address, 'cairn.v1.Admin', credentials);
    try {
      const res = await rpc.unary<unknown, QuorumResponse>('DescribeQuorum', {}, 3_000);
      first ??= res;
      if (res.role === 'leader' || res.leaderId < 0) return res;
      const leader = res.brokers.find((b) => b.nodeId === res.leaderId);
      if (leader) queue.unshift(`${leader.host}:${leader.port}`);
    } catch (err) {
      last = err;
    } finally {
      rpc.close();
    }
  }
  if (first) return first;
  throw last instanceof CairnError ? last : new CairnError(ErrorCode.NETWORK_EXCEPTION, `no controller answered (tried ${[...tried].join(', ')}); cluster status needs a controller node`);
}

export async function clusterCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, { ...BOOTSTRAP, broker: { type: 'string' }, 'timeout-ms': { type: 'string' }, 'node-id': { type: 'string' }, endpoint: { type: 'string' } });
  const options = clientOptions(values);
  const bootstrap = bootstrapList(options.bootstrap);
  const credentials = channelCredentials(options.tls);
  switch (sub) {
    case 'status': {
      const q = await describeQuorum(bootstrap, credentials);
      out(`Cluster ${q.clusterId || '(unnamed)'}   metadata offset ${q.metadataOffset}   (answered by node ${q.answeredBy})`);
      out(`Controller quorum: leader ${q.leaderId < 0 ? 'none (election in progress)' : `node ${q.leaderId}`}, term ${q.term}, commit index ${q.commitIndex}`);
      for (const v of q.voters) {
        const lag = v.matchIndex >= 0 ? `match index ${v.matchIndex}` : '';
        out(`  voter ${v.nodeId}${v.nodeId === q.leaderId ? ' (leader)' : ''}${lag ? `  ${lag}` : ''}${q.role === 'leader' && !v.recentlyActive ? '  NOT RESPONDING' : ''}`);
      }
      out('Brokers:');
      const voters = new Set(q.voters.map((v) => v.nodeId));
      // Each node's own view of its health (grpc.health.v1.Health), asked in parallel.
      const health = await Promise.all(q.brokers.map((b) => checkHealth(`${b.host}:${b.port}`, '', 2_000, credentials)));
      q.brokers.forEach((b, i) => {
        const roles = voters.has(b.nodeId) ? 'broker,controller' : 'broker';
        const state = b.inControlledShutdown ? 'SHUTTING DOWN' : b.fenced ? 'FENCED' : 'active';
        const hb = b.lastHeartbeatMsAgo >= 0 ? `  last heartbeat ${b.lastHeartbeatMsAgo} ms ago` : '';
        const metrics = b.metricsAddress ? `  metrics http://${b.metricsAddress}/metrics` : '';
        out(`  node ${b.nodeId}  ${b.host}:${b.port}  ${roles}  epoch ${b.brokerEpoch}  ${state}  health ${health[i]}${b.rack ? `  rack ${b.rack}` : ''}${metrics}${hb}`);
      });
      const fenced = q.brokers.filter((b) => b.fenced).map((b) => b.nodeId);
      out(`Fenced brokers: ${fenced.length === 0 ? 'none' : fenced.join(', ')}`);
      return 0;
    }
    case 'describe-quorum': {
      const q = await describeQuorum(bootstrap, credentials);
      out(`ClusterId:          ${q.clusterId || '(unnamed)'}`);
      out(`LeaderId:           ${q.leaderId < 0 ? 'none (election in progress)' : q.leaderId}`);
      out(`LeaderEpoch:        ${q.term}`);
      out(`HighWatermark:      ${q.commitIndex}`);
      out(`CurrentVoters:      [${q.voters.map((v) => v.nodeId).join(',')}]`);
      const learners = q.learners ?? [];
      if (learners.length > 0) out(`CurrentLearners:    [${learners.map((v) => v.nodeId).join(',')}]`);
      const voters = new Set([...q.voters, ...learners].map((v) => v.nodeId));
      out(
        `CurrentObservers:   [${q.brokers
          .filter((b) => !voters.has(b.nodeId))
          .map((b) => b.nodeId)
          .join(',')}]`,
      );
      out('');
      out('NodeId\tLogEndOffset\tLag\tRecentlyActive\tStatus');
      for (const v of [...q.voters, ...learners]) {
        const known = v.matchIndex >= 0;
        const status = v.nodeId === q.leaderId ? 'Leader' : learners.includes(v) ? 'Learner' : 'Follower';
        out(
          `${v.nodeId}\t${known ? v.matchIndex : '-'}\t${known ? Math.max(0, q.commitIndex - v.matchIndex) : '-'}\t${q.role === 'leader' ? v.recentlyActive : '-'}\t${status}${v.endpoint ? `\t${v.endpoint}` : ''}`,
        );
      }
      for (const b of q.brokers.filter((x) => !voters.has(x.nodeId))) out(`${b.nodeId}\t-\t-\t${b.fenced ? 'false' : 'true'}\tObserver`);
      if (q.role !== 'leader') out(`(answered by node ${q.answeredBy}, not the leader: log ends and lag are known only to the leader)`);
      return 0;
    }
    case 'decommission': {
      if (values.broker === undefined) throw new UsageError('decommission needs --broker N');
      return decommission(options, bootstrap, credentials, intOption(values, 'broker', -1), intOption(values, 'timeout-ms', 600_000));
    }
    case 'add-controller':
    case 'remove-controller': {
      if (values['node-id'] === undefined) throw new UsageError(`${sub} needs --node-id N`);
      const id = intOption(values, 'node-id', -1);
      const timeoutMs = intOption(values, 'timeout-ms', 60_000);
      const rpc = new RpcClient(bootstrap[0]!, 'cairn.v1.Admin', credentials);
      try {
        const method = sub === 'add-controller' ? 'AddController' : 'RemoveController';
        const res = await rpc.unary<unknown, { errorCode: number; errorMessage: string }>(method, { nodeId: id, endpoint: values.endpoint ?? '', timeoutMs }, timeoutMs + 10_000);
        if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage);
        out(
          sub === 'add-controller' ? `Node ${id} is a controller voter.` : `Node ${id} is no longer a controller voter (a learner now, if it was a voter; gone from the quorum, if it was a learner).`,
        );
        out('Update controller.quorum.voters on every node to match (docs/operations.md), so that a node restarted later knows it.');
        return 0;
      } finally {
        rpc.close();
      }
    }
    case 'elect-leaders': {
      const q = await describeQuorum(bootstrap, credentials);
      const leader = q.brokers.find((b) => b.nodeId === q.leaderId);
      const rpc = new RpcClient(leader ? `${leader.host}:${leader.port}` : bootstrap[0]!, 'cairn.v1.Admin', credentials);
      try {
        const res = await rpc.unary<unknown, { errorCode: number; errorMessage: string; moved: number }>('ElectLeaders', { topics: positionals });
        if (res.errorCode !== ErrorCode.NONE) throw new CairnError(res.errorCode, res.errorMessage);
        out(`Moved leadership of ${res.moved} partition(s) to their preferred replica.`);
        return 0;
      } finally {
        rpc.close();
      }
    }
    default:
      throw new UsageError(sub ? `unknown cluster command "${sub}"` : 'missing cluster command');
  }
}

/**
 * Moves every replica off broker `id` (planDecommission: each to the live broker with the fewest
 * replicas), waits until the moves complete, and says what to do next. Internal topics move too.
 */
async function decommission(options: ClientOptions, bootstrap: string[], credentials: ChannelCredentials, id: number, timeoutMs: number): Promise<number> {
  const q = await describeQuorum(bootstrap, credentials);
  if (!q.brokers.some((b) => b.nodeId === id)) throw new CairnError(ErrorCode.BROKER_NOT_AVAILABLE, `broker ${id} is not registered (brokers: ${q.brokers.map((b) => b.nodeId).join(', ')})`);
  const targets = q.brokers.filter((b) => b.nodeId !== id && !b.fenced && !b.inControlledShutdown).map((b) => b.nodeId);
  const admin = new Admin(options);
  try {
    const placements = async () =>
      (await admin.describeTopics()).flatMap((t) =>
        t.partitions.map((p) => ({ topic: t.name, partition: p.partition, replicas: p.replicas, moving: p.addingReplicas.length + p.removingReplicas.length > 0 })),
      );
    const moves = planDecommission(await placements(), id, targets);
    if (moves.length > 0) {
      const results = await admin.reassignPartitions(moves);
      const failed = results.filter((r) => r.errorCode !== ErrorCode.NONE);
      if (failed.length > 0)
        throw new CairnError(failed[0]!.errorCode, `${failed.length} of ${moves.length} moves refused; first: ${failed[0]!.topic}-${failed[0]!.partition}: ${failed[0]!.errorMessage}`);
      out(`Moving ${moves.length} replica(s) off broker ${id} to brokers ${[...new Set(moves.flatMap((m) => m.replicas))].filter((r) => targets.includes(r)).join(', ')}...`);
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await placements();
      const left = now.filter((p) => p.replicas.includes(id) || p.moving);
      if (left.length === 0) break;
      if (Date.now() > deadline)
        throw new CairnError(
          ErrorCode.REQUEST_TIMED_OUT,
          `${left.length} partition(s) still on broker ${id} or moving after ${timeoutMs} ms (first: ${left[0]!.topic}-${left[0]!.partition}); the moves go on, run this again to wait`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
    out(`Broker ${id} hosts no replica. Stop it now (SIGTERM); its registration leaves the cluster once it has been silent for broker.session.timeout.ms.`);
    if (q.voters.some((v) => v.nodeId === id)) out(`Broker ${id} is also a controller voter: run \`cairn cluster remove-controller --node-id ${id}\` before it is gone for good.`);
    return 0;
  } finally {
    admin.close();
  }
}
