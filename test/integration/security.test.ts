/**
 * A secure cluster of real processes (issue 20 item 1): TLS and mutual TLS on the client and the
 * internal listeners, the cluster principals User:node-1..3, the admin client User:admin. Plaintext,
 * a client without a certificate and a certificate of another CA are refused; a client
 * certificate of the cluster's own CA is still not a cluster member, so the forgeries of
 * forgery.test.ts sent with it are refused before they reach Raft, the controller or a replica;
 * a node certificate rotated on disk is used without a restart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin';
import { Consumer } from '../../src/client/consumer';
import { Producer } from '../../src/client/producer';
import { LocalCluster } from '../../src/cli/local-cluster';
import { CairnError } from '../../src/common/errors';
import { ErrorCode } from '../../src/common/errors';
import { createLogger } from '../../src/common/io/logger';
import { nodeId, term } from '../../src/common/types';
import { RpcClient } from '../../src/protocol/io/rpc-client';
import { channelCredentials, type ClientTls } from '../../src/protocol/io/tls';
import { RaftTransport } from '../../src/raft/io/raft-transport';
import { createCertificateAuthority, issueCertificate, type Pem } from '../../src/security/io/certificates';
import { freePorts } from '../helpers/processes';
import { tmpDir, waitFor } from '../helpers/tmp';

let cluster: LocalCluster;
let admin: Admin;
let caPem: Pem;
let alice: ClientTls;

const clientAddress = (id: number) => `127.0.0.1:${cluster.node(id).port}`;
const internalAddress = (id: number) => `127.0.0.1:${cluster.node(id).internalPort}`;

async function call<Res>(address: string, service: string, method: string, req: unknown, creds: ClientTls | undefined): Promise<Res> {
  const rpc = new RpcClient(address, service, channelCredentials(creds));
  try {
    return await rpc.unary<unknown, Res>(method, req, 3_000);
  } finally {
    rpc.close();
  }
}

async function errorCodeOf(p: Promise<unknown>): Promise<ErrorCode> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CairnError) return err.code;
    throw err;
  }
  throw new Error('the call succeeded');
}

const quorum = () => call<{ leaderId: number; term: number; brokers: { nodeId: number; brokerEpoch: number }[] }>(clientAddress(1), 'cairn.v1.Admin', 'DescribeQuorum', {}, cluster.clientOptions.tls);

/** The serial number of the certificate a node's client listener presents to a new connection. */
function presentedSerial(id: number): Promise<string> {
  const t = cluster.clientOptions.tls!;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: cluster.node(id).port, ca: t.ca, cert: t.cert, key: t.key, ALPNProtocols: ['h2'], servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

beforeAll(async () => {
  const ports = await freePorts(6);
  cluster = new LocalCluster({
    baseDir: tmpDir('cairn-security-'),
    ports: ports.slice(0, 3),
    internalPorts: ports.slice(3),
    secure: true,
    flags: { 'ssl-reload-interval-ms': '300', 'broker-session-timeout-ms': '3000', 'broker-heartbeat-interval-ms': '500' },
  });
  cluster.startAll();
  await cluster.waitReady(3);
  admin = new Admin(cluster.clientOptions);
  await admin.createTopic({ name: 'secure', partitions: 2, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } });
  const dir = cluster.certificates!.dir;
  caPem = { cert: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'), key: fs.readFileSync(path.join(dir, 'ca.key'), 'utf8') };
  const a = issueCertificate(caPem, { commonName: 'alice', usage: 'client' });
  alice = { ca: caPem.cert, cert: a.cert, key: a.key };
});

afterAll(async () => {
  admin?.close();
  await cluster?.stopAll();
});

describe('a secure cluster', () => {
  it('serves the admin client over mutual TLS: produce with acks=all and consume', async () => {
    const producer = new Producer({ ...cluster.clientOptions, acks: 'all' });
    const consumer = new Consumer({ ...cluster.clientOptions, autoOffsetReset: 'earliest' });
    try {
      for (let i = 0; i < 20; i++) await producer.send({ topic: 'secure', key: `k${i}`, value: `v${i}` });
      consumer.assign([
        { topic: 'secure', partition: 0 },
        { topic: 'secure', partition: 1 },
      ]);
      const seen: string[] = [];
      await waitFor(
        async () => {
          for (const r of await consumer.poll(500)) seen.push(r.value!.toString());
          return seen.length >= 20 || null;
        },
        '20 records back',
        20_000,
      );
      expect(seen.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`).sort());
    } finally {
      await producer.close();
      await consumer.close();
    }
  });

  it('refuses plaintext, a client without a certificate and a certificate of another CA', async () => {
    const other = createCertificateAuthority({ commonName: 'someone else' });
    const stranger = issueCertificate(other, { commonName: 'admin', usage: 'client' });
    const attempts: [string, ClientTls | undefined][] = [
      ['plaintext', undefined],
      ['TLS without a client certificate', { ca: caPem.cert }],
      ['a certificate of another CA', { ca: caPem.cert, cert: stranger.cert, key: stranger.key }],
    ];
    for (const [what, creds] of attempts) {
      for (const address of [clientAddress(1), internalAddress(1)]) {
        expect(await errorCodeOf(call(address, 'cairn.v1.Admin', 'DescribeQuorum', {}, creds)), `${what} at ${address}`).toBe(ErrorCode.NETWORK_EXCEPTION);
      }
    }
    // The cluster's own clients still get in.
    expect((await quorum()).leaderId).toBeGreaterThanOrEqual(0);
  });

  it("a client certificate of the cluster's own CA cannot call Raft, Controller or Replica: CLUSTER_AUTHORIZATION_FAILED", async () => {
    const q = await quorum();
    const victim = q.brokers.find((b) => b.nodeId !== q.leaderId)!;
    const forgeries: [string, string, unknown][] = [
      ['cairn.v1.Controller', 'RegisterBroker', { brokerId: 77, incarnationId: 'phantom', host: '127.0.0.1', port: 1 }],
      ['cairn.v1.Controller', 'BrokerHeartbeat', { brokerId: victim.nodeId, brokerEpoch: victim.brokerEpoch, wantShutdown: true }],
      ['cairn.v1.Replica', 'OffsetsForLeaderEpoch', { partitions: [] }],
      ['cairn.v1.Replica', 'WriteTxnMarkers', { markers: [] }],
      ['cairn.v1.Admin', 'DescribeQuorum', {}],
    ];
    for (const [service, method, req] of forgeries) {
      expect(await errorCodeOf(call(internalAddress(q.leaderId), service, method, req, alice)), `${service}/${method}`).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    }
    // A replica fetch stream is refused the same way.
    const rpc = new RpcClient(internalAddress(q.leaderId), 'cairn.v1.Replica', channelCredentials(alice));
    try {
      const stream = rpc.bidi<unknown, unknown>('Fetch');
      const failed = new Promise<grpc.ServiceError>((resolve) => stream.once('error', resolve));
      stream.write({ correlationId: 1, replicaId: victim.nodeId, brokerEpoch: victim.brokerEpoch, maxWaitMs: 0, partitions: [] });
      expect((await failed).code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      rpc.close();
    }
    // And a Raft stream: a forged AppendEntries of a later term is refused at the door (audit line), no term moves.
    const follower = [1, 2, 3].find((id) => id !== q.leaderId)!;
    const before = cluster
      .log(follower)
      .split('\n')
      .filter((l) => l.includes('authorization denied') && l.includes('cairn.v1.Raft')).length;
    const transport = new RaftTransport(new Map([[follower, internalAddress(follower)]]), createLogger({ node: 'forger' }), channelCredentials(alice));
    try {
      transport.send([{ type: 'AppendEntries', from: nodeId(q.leaderId), to: nodeId(follower), term: term(q.term + 5), prevLogIndex: 0, prevLogTerm: term(0), entries: [], leaderCommit: 0 }]);
      await waitFor(
        () =>
          cluster
            .log(follower)
            .split('\n')
            .filter((l) => l.includes('authorization denied') && l.includes('cairn.v1.Raft') && l.includes('User:alice')).length > before || null,
        'the forged Raft stream to be refused',
        10_000,
      );
    } finally {
      transport.close();
    }
    const after = await quorum();
    expect(after.term).toBe(q.term);
    expect(after.leaderId).toBe(q.leaderId);
    expect(after.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
    // On the client listener these services do not exist at all.
    expect(await errorCodeOf(call(clientAddress(q.leaderId), 'cairn.v1.Controller', 'RegisterBroker', { brokerId: 77 }, alice))).toBe(ErrorCode.INVALID_REQUEST);
  });

  it('picks up a node certificate rotated on disk without a restart', async () => {
    const files = cluster.certificates!.nodes.get(1)!;
    const before = await presentedSerial(1);
    const next = issueCertificate(caPem, { commonName: 'node-1', ipAddresses: ['127.0.0.1', '::1'], dnsNames: ['localhost'], usage: 'both' });
    // Key first, then certificate: in between the pair does not match, which the node must sit out.
    fs.writeFileSync(files.keyFile, next.key, { mode: 0o600 });
    fs.writeFileSync(files.certFile, next.cert);
    const serial = await waitFor(async () => {
      const s = await presentedSerial(1);
      return s !== before ? s : null;
    }, 'node 1 to present its new certificate');
    expect(serial).not.toBe(before);
    expect(cluster.log(1)).toContain('TLS certificate reloaded');
    // The cluster and its clients go on over the new certificate.
    const producer = new Producer({ ...cluster.clientOptions, acks: 'all' });
    try {
      await producer.send({ topic: 'secure', value: 'after rotation' });
    } finally {
      await producer.close();
    }
  });
});
