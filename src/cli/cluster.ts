import type { ChannelCredentials } from '@grpc/grpc-js';
import { channelCredentials, checkHealth, RpcClient } from '../protocol/io';
import { bootstrapList } from '../client';
import { CairnError, ErrorCode } from '../common';
import { BOOTSTRAP, parse, UsageError } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const CLUSTER_HELP = `Usage: cairn cluster <command> [options]

Commands:
  status                 nodes, roles, the controller leader and its term, fenced brokers
  elect-leaders [TOPIC]  move leadership back to each partition's preferred replica

Options:
  -b, --bootstrap host:port   a node to start from (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092)
  --command-config FILE       client properties: security.protocol, ssl.* (docs/security.md)`;

interface QuorumResponse {
  answeredBy: number;
  leaderId: number;
  term: number;
  commitIndex: number;
  role: string;
  voters: { nodeId: number; matchIndex: number; recentlyActive: boolean }[];
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
  const { values, positionals } = parse(rest, { ...BOOTSTRAP });
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
