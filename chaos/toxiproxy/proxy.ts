import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { Logger } from '../../src/common/logger';
import type { Random } from '../../src/common/random';
import { formatAddress, resolveHost, resolveListenAddress, splitHostPort } from './address';
import { Connection } from './link';
import { ToxicCollection, toxicJson } from './toxic-collection';
import type { ToxicJson } from './toxic-collection';

/** A proxy as the API returns it, fields in Toxiproxy's order. */
export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
}

export interface ProxyFields {
  listen: string;
  upstream: string;
  enabled: boolean;
}

export interface LinkStats {
  upstreamHeldBytes: number;
  upstreamPaused: boolean;
  downstreamHeldBytes: number;
  downstreamPaused: boolean;
}

export interface ProxyDeps {
  random: Random;
  logger: Logger;
}

/** Toxiproxy's ErrProxyAlreadyStarted: POST /reset ignores it, everything else reports it. */
export class ProxyAlreadyStartedError extends Error {
  constructor() {
    super('Proxy already started');
  }
}

/** Go's wording for the usual bind failures, so error texts read like the real server's. */
function describeListenError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return 'bind: address already in use';
  if (code === 'EADDRNOTAVAIL') return 'bind: cannot assign requested address';
  if (code === 'EACCES') return 'bind: permission denied';
  return err instanceof Error ? err.message : String(err);
}

/**
 * One proxy: a listener on `listen` and, per accepted client, a connection to `upstream` joined by
 * two links that run the proxy's toxics. `listen` holds the bound address once started (port 0
 * becomes the real port).
 */
export class Proxy {
  enabled = false;
  readonly toxics: ToxicCollection;
  private server: Server | null = null;
  private readonly connections = new Set<Connection>();
  /** Clients whose upstream connection is still being opened. */
  private readonly connecting = new Set<Socket>();
  private readonly logger: Logger;

  constructor(
    readonly name: string,
    public listen: string,
    public upstream: string,
    private readonly deps: ProxyDeps,
  ) {
    this.logger = deps.logger.child({ proxy: name });
    this.toxics = new ToxicCollection(() => this.connections.values(), this.logger);
  }

  toJSON(): ProxyJson {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      toxics: this.toxics.list().map(toxicJson),
    };
  }

  /** Per open connection, what each link holds: for operators and for tests of the bounds. */
  linkStats(): LinkStats[] {
    return [...this.connections].map((connection) => ({
      upstreamHeldBytes: connection.upstreamLink.heldBytes,
      upstreamPaused: connection.upstreamLink.sourcePaused,
      downstreamHeldBytes: connection.downstreamLink.heldBytes,
      downstreamPaused: connection.downstreamLink.sourcePaused,
    }));
  }

  async start(): Promise<void> {
    if (this.enabled) throw new ProxyAlreadyStartedError();
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
    try {
      const { host, port } = splitHostPort(this.listen);
      const bindHost = await resolveHost(host);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: bindHost, port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      throw new Error(`listen tcp ${this.listen}: ${describeListenError(err)}`, { cause: err });
    }
    server.on('error', (err) => this.logger.warn({ err: err.message }, 'proxy listener error'));
    this.server = server;
    this.listen = formatAddress(server.address());
    this.enabled = true;
    this.logger.info({ listen: this.listen, upstream: this.upstream }, 'proxy started');
  }

  /** Stops listening and drops every connection. */
  async stop(): Promise<void> {
    if (!this.enabled) return;
    this.enabled = false;
    const server = this.server;
    this.server = null;
    const closed = new Promise<void>((resolve) => {
      if (server === null) resolve();
      else server.close(() => resolve()); // after every accepted socket has closed
    });
    for (const connection of this.connections) connection.destroy();
    for (const client of this.connecting) client.destroy();
    await closed;
    this.logger.info({ listen: this.listen }, 'proxy stopped');
  }

  /** Whether `listen`/`upstream` differ from the running ones (Toxiproxy's Proxy.Differs). */
  async differs(listen: string, upstream: string): Promise<boolean> {
    return (await resolveListenAddress(listen)) !== this.listen || upstream !== this.upstream;
  }

  /**
   * POST/PATCH /proxies/{proxy}: a new listen or upstream restarts the proxy (dropping its
   * connections); `enabled` starts or stops it.
   */
  async update(fields: ProxyFields): Promise<void> {
    if (await this.differs(fields.listen, fields.upstream)) {
      await this.stop();
      this.listen = fields.listen;
      this.upstream = fields.upstream;
    }
    if (fields.enabled === this.enabled) return;
    if (fields.enabled) await this.start();
    else await this.stop();
  }

  private accept(client: Socket): void {
    const clientAddress = `${client.remoteAddress ?? '?'}:${client.remotePort ?? '?'}`;
    client.on('error', (err) => this.logger.debug({ client: clientAddress, err: err.message }, 'client error'));
    if (!this.enabled) {
      client.destroy();
      return;
    }
    this.logger.debug({ client: clientAddress }, 'accepted client');
    let target;
    try {
      target = splitHostPort(this.upstream);
    } catch (err) {
      this.logger.error({ client: clientAddress, err: (err as Error).message }, 'unable to open connection to upstream');
      client.destroy();
      return;
    }
    this.connecting.add(client);
    const upstream = connect({ host: target.host === '' ? 'localhost' : target.host, port: target.port, allowHalfOpen: true });
    const onConnectError = (err: Error) => {
      this.connecting.delete(client);
      this.logger.error({ client: clientAddress, err: err.message }, 'unable to open connection to upstream');
      client.destroy();
    };
    upstream.once('error', onConnectError);
    upstream.once('connect', () => {
      upstream.off('error', onConnectError);
      this.connecting.delete(client);
      if (!this.enabled || client.destroyed) {
        upstream.destroy();
        client.destroy();
        return;
      }
      const connection = new Connection(client, upstream, this.deps.random, this.logger, (closed) => {
        this.connections.delete(closed);
        this.logger.debug({ client: clientAddress }, 'connection closed');
      });
      this.connections.add(connection);
      connection.upstreamLink.start(this.toxics.chain('upstream'));
      connection.downstreamLink.start(this.toxics.chain('downstream'));
    });
    client.once('close', () => {
      if (this.connecting.delete(client)) upstream.destroy();
    });
  }
}
