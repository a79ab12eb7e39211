import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { Toxiproxy } from 'toxiproxy-node-client';
import { expect } from 'vitest';
import type { Proxy } from 'toxiproxy-node-client';
import { silentLogger } from '../../../src/common/io/logger';
import { ToxiproxyServer } from '../../../chaos/toxiproxy/server';

/**
 * Loopback fixtures for the Toxiproxy tests: the server under test, upstream TCP servers and a
 * recording client. Everything waits on conditions with deadlines, never on fixed sleeps.
 */

export const LOOPBACK = '127.0.0.1';
const WAIT_MS_MAX = 10_000;

/** Polls `condition` until it holds or the deadline passes. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = WAIT_MS_MAX): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export interface Harness {
  server: ToxiproxyServer;
  client: Toxiproxy;
  stop(): Promise<void>;
}

export async function startToxiproxy(seed = 1): Promise<Harness> {
  const server = new ToxiproxyServer({ logger: silentLogger, seed });
  await server.start({ host: LOOPBACK, port: 0 });
  return { server, client: new Toxiproxy(server.url), stop: () => server.stop() };
}

/**
 * An upstream TCP server. In `echo` mode it writes back what it reads; in `sink` mode it only
 * records. Either way `received` holds every byte it read, across connections, in order.
 */
export class Upstream {
  readonly sockets: Socket[] = [];
  private readonly chunks: Buffer[] = [];
  private receivedLength = 0;
  connectionCount = 0;
  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  static async start(mode: 'echo' | 'sink'): Promise<Upstream> {
    const server = createServer((socket) => {
      upstream.sockets.push(socket);
      upstream.connectionCount += 1;
      socket.on('error', () => {});
      socket.on('data', (data: Buffer) => {
        upstream.chunks.push(data);
        upstream.receivedLength += data.length;
        if (mode === 'echo') socket.write(data);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    const port = (server.address() as { port: number }).port;
    // Declared after the server, whose callbacks run only once a client connects (after this line).
    const upstream = new Upstream(server, `${LOOPBACK}:${port}`);
    return upstream;
  }

  get receivedBytes(): number {
    return this.receivedLength;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  lastSocket(): Socket {
    const socket = this.sockets[this.sockets.length - 1];
    if (socket === undefined) throw new Error('no upstream connection yet');
    return socket;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A client connection that records what it receives and how it ended. */
export class TestClient {
  readonly chunks: Buffer[] = [];
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (data: Buffer) => this.chunks.push(data));
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err;
    });
  }

  /** Connects to `host:port`; rejects if the connection is refused. */
  static connect(address: string): Promise<TestClient> {
    const [host, port] = splitAddress(address);
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new TestClient(socket));
      });
    });
  }

  get receivedBytes(): number {
    let total = 0;
    for (const chunk of this.chunks) total += chunk.length;
    return total;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Sends `message` and waits for it to come back whole (through an echo upstream). */
  async roundTrip(message: string): Promise<void> {
    const before = this.receivedBytes;
    this.write(message);
    await waitFor(() => this.receivedBytes >= before + message.length, `echo of ${message}`);
    expect(this.received().subarray(before).toString()).toBe(message);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

/**
 * A causal fence for negative checks: two round trips through a separate proxy with no toxics.
 * Proxy, upstream and clients share this process's event loop, so bytes already on their way
 * through the proxy under test are delivered before the fence completes — unless a toxic holds
 * them. It replaces "sleep and hope" with "a later message made it back".
 */
export class Fence {
  private constructor(
    private readonly upstream: Upstream,
    private readonly proxy: Proxy,
    private readonly client: TestClient,
  ) {}

  static async create(harness: Harness, name = 'fence'): Promise<Fence> {
    const upstream = await Upstream.start('echo');
    const proxy = await harness.client.createProxy({ name, listen: `${LOOPBACK}:0`, upstream: upstream.address });
    return new Fence(upstream, proxy, await TestClient.connect(proxy.listen));
  }

  async pass(): Promise<void> {
    await this.client.roundTrip('fence-1');
    await this.client.roundTrip('fence-2');
  }

  async remove(): Promise<void> {
    this.client.destroy();
    await this.proxy.remove();
    await this.upstream.stop();
  }
}

/** Bytes 0..length-1 of a repeating, position-dependent pattern, so reordering shows. */
export function pattern(length: number, salt = 0): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (i * 31 + salt + (i >> 8)) & 0xff;
  return data;
}
