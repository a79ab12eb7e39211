import { channelCredentials, checkHealth } from '../protocol/io';
import { bootstrapList } from '../client';
import { BOOTSTRAP, intOption, parse } from './args';
import { clientOptions } from './client-config';
import { out } from './output';

export const HEALTH_HELP = `Usage: cairn health [--bootstrap host:port] [--service NAME] [--live] [--timeout-ms N]

Asks one node's gRPC health service (grpc.health.v1.Health/Check) and prints its answer:
SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNREACHABLE. Exits 0 only for SERVING, so it is the
check a container health check, a Kubernetes probe or a script waiting for a node can run.

A node serves once it is registered and unfenced with the controller (it has caught up with the
metadata log); --service asks about one service instead of the whole node: cairn.v1.Broker,
cairn.v1.Admin, cairn.v1.Raft, cairn.v1.Controller or cairn.v1.Replica.

Options:
  -b, --bootstrap host:port   the node to ask (default $CAIRN_BOOTSTRAP or 127.0.0.1:9092; the first of a list)
  --service NAME              one service (default: the whole node)
  --live                      exit 0 for NOT_SERVING too: the process answers, so it is alive (a
                              liveness probe: a node still catching up must not be restarted)
  --timeout-ms N              how long to wait for the answer (default 2000)
  --command-config FILE       client properties: security.protocol, ssl.* (docs/security.md)`;

export async function healthCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...BOOTSTRAP, service: { type: 'string' }, live: { type: 'boolean' }, 'timeout-ms': { type: 'string' } });
  const options = clientOptions(values);
  const address = bootstrapList(options.bootstrap)[0]!;
  const status = await checkHealth(address, (values.service as string | undefined) ?? '', intOption(values, 'timeout-ms', 2_000), channelCredentials(options.tls));
  out(status);
  return status === 'SERVING' || (values.live === true && status === 'NOT_SERVING') ? 0 : 1;
}
