import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../src/common/logger';
import { ApiError, ErrBadRequestBody, ErrToxicNotFound, toApiError } from './errors';
import { asObject, parseJsonBody, readBool, readString } from './json-body';
import { ProxyAlreadyStartedError } from './proxy';
import type { ProxyCollection } from './proxy-collection';
import { parseProxyConfig } from './proxy-collection';
import { toxicJson } from './toxic-collection';

/**
 * The HTTP API of Toxiproxy 2.x (api.go): routes, status codes and bodies as the real server sends
 * them, so toxiproxy-node-client and other clients cannot tell the difference. Requests run one at
 * a time, which keeps every check-then-change (name taken? proxy running?) atomic.
 */

/** The Toxiproxy release whose API this server follows; GET /version reports it. */
export const TOXIPROXY_API_VERSION = '2.12.0';

/** Request bodies are small JSON documents; anything larger is refused. */
export const REQUEST_BODY_BYTES_MAX = 1024 * 1024;

interface Reply {
  status: number;
  /** Serialised as JSON with Content-Type application/json. */
  json?: unknown;
  /** Sent as is. */
  text?: string;
  contentType?: string;
}

type Params = { proxy: string; toxic: string };
type Handler = (params: Params, body: string) => Promise<Reply> | Reply;

const NO_CONTENT: Reply = { status: 204 };

function ok(json: unknown, status = 200): Reply {
  return { status, json };
}

/** Go's http.Error: the JSON error as plain text with a trailing newline. */
function errorReply(err: ApiError): Reply {
  return { status: err.status, text: `${JSON.stringify(err)}\n`, contentType: 'text/plain; charset=utf-8' };
}

export class ToxiproxyApi {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly proxies: ProxyCollection,
    private readonly logger: Logger,
  ) {}

  /** Runs `task` after every request and task before it has finished. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(task);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** The http.Server request listener. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const startedMs = performance.now();
    readBody(req)
      .then(
        (body) => this.exclusive(() => this.dispatch(req, body)),
        (err: unknown) => errorReply(toApiError(err)),
      )
      .catch((err: unknown) => errorReply(toApiError(err)))
      .then((reply) => {
        send(res, reply);
        const durationMs = Math.round(performance.now() - startedMs);
        this.logger.debug({ method: req.method, url: req.url, status: reply.status, durationMs }, 'api request');
      });
  };

  private async dispatch(req: IncomingMessage, body: string): Promise<Reply> {
    if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) {
      return { status: 403, text: 'User agent not allowed\n', contentType: 'text/plain; charset=utf-8' };
    }
    const route = this.route(req.method ?? 'GET', new URL(req.url ?? '/', 'http://localhost').pathname);
    if (route === 'not found') return { status: 404, text: '404 page not found\n', contentType: 'text/plain; charset=utf-8' };
    if (route === 'method not allowed') return { status: 405 };
    try {
      return await route.handler(route.params, body);
    } catch (err) {
      const apiError = toApiError(err);
      if (apiError.status >= 500) this.logger.warn({ method: req.method, url: req.url, err: apiError.message }, 'api error');
      return errorReply(apiError);
    }
  }

  private route(method: string, path: string): { handler: Handler; params: Params } | 'not found' | 'method not allowed' {
    let segments: string[];
    try {
      segments = path.split('/').slice(1).map(decodeURIComponent);
    } catch {
      return 'not found';
    }
    if (segments.some((segment) => segment.length === 0)) return 'not found';
    const [first, proxy = '', third, toxic = ''] = segments;
    const params = { proxy, toxic };
    let handlers: Partial<Record<string, Handler>> | undefined;
    if (segments.length === 1 && first === 'version') handlers = { GET: () => this.version() };
    else if (segments.length === 1 && first === 'reset') handlers = { POST: () => this.reset() };
    else if (segments.length === 1 && first === 'populate') handlers = { POST: (_p, body) => this.populate(body) };
    else if (segments.length === 1 && first === 'proxies') {
      handlers = { GET: () => this.proxyIndex(), POST: (_p, body) => this.proxyCreate(body) };
    } else if (segments.length === 2 && first === 'proxies') {
      const update: Handler = (p, body) => this.proxyUpdate(p.proxy, body);
      handlers = { GET: (p) => this.proxyShow(p.proxy), POST: update, PATCH: update, DELETE: (p) => this.proxyDelete(p.proxy) };
    } else if (segments.length === 3 && first === 'proxies' && third === 'toxics') {
      handlers = { GET: (p) => this.toxicIndex(p.proxy), POST: (p, body) => this.toxicCreate(p.proxy, body) };
    } else if (segments.length === 4 && first === 'proxies' && third === 'toxics') {
      const update: Handler = (p, body) => this.toxicUpdate(p.proxy, p.toxic, body);
      handlers = {
        GET: (p) => this.toxicShow(p.proxy, p.toxic),
        POST: update,
        PATCH: update,
        DELETE: (p) => this.toxicDelete(p.proxy, p.toxic),
      };
    }
    if (handlers === undefined) return 'not found';
    const handler = handlers[method];
    return handler === undefined ? 'method not allowed' : { handler, params };
  }

  private version(): Reply {
    return { status: 200, text: `{"version": "${TOXIPROXY_API_VERSION}"}\n`, contentType: 'application/json;charset=utf-8' };
  }

  /** Re-enables every proxy and removes every toxic. */
  private async reset(): Promise<Reply> {
    for (const proxy of this.proxies.all()) {
      try {
        await proxy.start();
      } catch (err) {
        if (!(err instanceof ProxyAlreadyStartedError)) throw err;
      }
      proxy.toxics.reset();
    }
    return NO_CONTENT;
  }

  private proxyIndex(): Reply {
    const all: Record<string, unknown> = {};
    for (const proxy of this.proxies.all()) all[proxy.name] = proxy.toJSON();
    return ok(all);
  }

  private async proxyCreate(body: string): Promise<Reply> {
    const proxy = await this.proxies.add(parseProxyConfig(parseJsonBody(body)));
    return ok(proxy.toJSON(), 201);
  }

  /**
   * Created or replaced proxies, 201. On failure the error's status, with the error fields and the
   * proxies done before it, as Toxiproxy sends them.
   */
  private async populate(body: string): Promise<Reply> {
    try {
      const result = await this.proxies.populate(parseJsonBody(body));
      const proxies = result.proxies.map((proxy) => proxy.toJSON());
      if (result.error === undefined) return ok({ proxies }, 201);
      return ok({ ...result.error.toJSON(), proxies }, result.error.status);
    } catch (err) {
      const apiError = toApiError(err);
      return ok({ ...apiError.toJSON(), proxies: null }, apiError.status);
    }
  }

  private proxyShow(name: string): Reply {
    return ok(this.proxies.get(name).toJSON());
  }

  /** Fields absent from the body keep their current values. */
  private async proxyUpdate(name: string, body: string): Promise<Reply> {
    const proxy = this.proxies.get(name);
    const input = asObject(parseJsonBody(body), 'toxiproxy.Proxy');
    readString(input, 'name', 'Proxy'); // decoded, type-checked and ignored, as in Toxiproxy
    await proxy.update({
      listen: readString(input, 'listen', 'Proxy') ?? proxy.listen,
      upstream: readString(input, 'upstream', 'Proxy') ?? proxy.upstream,
      enabled: readBool(input, 'enabled', 'Proxy') ?? proxy.enabled,
    });
    return ok(proxy.toJSON());
  }

  private async proxyDelete(name: string): Promise<Reply> {
    await this.proxies.remove(name);
    return NO_CONTENT;
  }

  private toxicIndex(proxyName: string): Reply {
    return ok(this.proxies.get(proxyName).toxics.list().map(toxicJson));
  }

  /** 200, not 201: the real server does not set a status here. */
  private toxicCreate(proxyName: string, body: string): Reply {
    const proxy = this.proxies.get(proxyName);
    return ok(toxicJson(proxy.toxics.add(parseJsonBody(body))));
  }

  private toxicShow(proxyName: string, toxicName: string): Reply {
    const toxic = this.proxies.get(proxyName).toxics.get(toxicName);
    if (toxic === undefined) throw ErrToxicNotFound;
    return ok(toxicJson(toxic));
  }

  private toxicUpdate(proxyName: string, toxicName: string, body: string): Reply {
    const toxics = this.proxies.get(proxyName).toxics;
    if (toxics.get(toxicName) === undefined) throw ErrToxicNotFound;
    return ok(toxicJson(toxics.update(toxicName, parseJsonBody(body))));
  }

  private toxicDelete(proxyName: string, toxicName: string): Reply {
    this.proxies.get(proxyName).toxics.remove(toxicName);
    return NO_CONTENT;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > REQUEST_BODY_BYTES_MAX) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(ApiError.join(ErrBadRequestBody, 'http: request body too large'));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  let payload: string | undefined = reply.text;
  let contentType = reply.contentType;
  if (reply.json !== undefined) {
    payload = JSON.stringify(reply.json);
    contentType = 'application/json';
  }
  if (contentType !== undefined) res.setHeader('Content-Type', contentType);
  res.writeHead(reply.status);
  res.end(payload);
}
