import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createLogger } from '../../src/common/io/logger';
import type { Logger } from '../../src/common/logger';
import { SeededRandom } from '../../src/common/random';
import type { Random } from '../../src/common/random';
import { formatAddress, resolveHost, splitHostPort } from './address';
import { ToxiproxyApi } from './api';
import { ProxyCollection } from './proxy-collection';
import type { PopulateResult } from './proxy-collection';

export { TOXIPROXY_API_VERSION } from './api';
export type { ProxyJson } from './proxy';
export type { ToxicJson } from './toxic-collection';

/**
 * A Toxiproxy server in TypeScript: the HTTP API of Shopify's Toxiproxy 2.x on one side, TCP
 * proxies with toxics on the other. The chaos suite drives it with toxiproxy-node-client exactly as
 * it would drive the Go binary. See docs/toxiproxy.md for where it differs.
 *
 *   const toxiproxy = new ToxiproxyServer();
 *   await toxiproxy.start({ host: '127.0.0.1', port: 0 });
 *   const client = new Toxiproxy(toxiproxy.url);
 */

export interface ToxiproxyServerOptions {
  /** Defaults to a pino logger with `component: 'toxiproxy'`. */
  logger?: Logger;
  /** Decides toxicity, jitter and slicer sizes. Defaults to a SeededRandom from `seed`. */
  random?: Random;
  /** Seed for the default random source (default: the current time), like `toxiproxy-server -seed`. */
  seed?: number;
}

export interface ToxiproxyListenOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8474, Toxiproxy's port; 0 picks a free one. */
  port?: number;
}

export class ToxiproxyServer {
  readonly proxies: ProxyCollection;
  private readonly logger: Logger;
  private readonly api: ToxiproxyApi;
  private http: Server | null = null;
  private boundAddress: string | null = null;

  constructor(options: ToxiproxyServerOptions = {}) {
    this.logger = options.logger ?? createLogger({ component: 'toxiproxy' });
    const random = options.random ?? new SeededRandom(options.seed ?? Date.now());
    this.proxies = new ProxyCollection({ random, logger: this.logger });
    this.api = new ToxiproxyApi(this.proxies, this.logger);
  }

  /** Starts the HTTP API. Resolves once it is listening; `url` then has the real port. */
  async start(options: ToxiproxyListenOptions = {}): Promise<void> {
    if (this.http !== null) throw new Error('toxiproxy server already started');
    const host = await resolveHost(options.host ?? '127.0.0.1');
    const port = options.port ?? 8474;
    const server = createServer(this.api.listener);
    // Go's server: 15 s to read a request, 60 s idle keep-alive.
    server.requestTimeout = 15_000;
    server.headersTimeout = 15_000;
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error({ err: err.message }, 'toxiproxy api server error'));
    this.http = server;
    this.boundAddress = formatAddress(server.address());
    this.logger.info({ address: this.boundAddress }, 'toxiproxy api started');
  }

  /** `http://host:port` of the API, for `new Toxiproxy(url)`. */
  get url(): string {
    if (this.boundAddress === null) throw new Error('toxiproxy server not started');
    return `http://${this.boundAddress}`;
  }

  get port(): number {
    if (this.boundAddress === null) throw new Error('toxiproxy server not started');
    return splitHostPort(this.boundAddress).port;
  }

  /** Creates or replaces proxies as POST /populate does (toxiproxy-server -config). */
  populate(config: unknown): Promise<PopulateResult> {
    return this.api.exclusive(() => this.proxies.populate(config));
  }

  /** Stops every proxy (dropping their connections) and the HTTP API. */
  async stop(): Promise<void> {
    await this.api.exclusive(() => this.proxies.clear());
    const server = this.http;
    if (server === null) return;
    this.http = null;
    this.boundAddress = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.logger.info({}, 'toxiproxy api stopped');
  }
}
