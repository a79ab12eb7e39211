import { ApiError, ErrMissingField, ErrProxyAlreadyExists, ErrProxyNotFound, toApiError } from './errors';
import { asObject, readBool, readString, typeError } from './json-body';
import { Proxy } from './proxy';
import type { ProxyDeps } from './proxy';

export interface ProxyConfig {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

export interface PopulateResult {
  proxies: Proxy[];
  /** Set when populate stopped part-way; `proxies` holds those done before it. */
  error?: ApiError;
}

/** The body of POST /proxies: `enabled` defaults to true; name and upstream are required. */
export function parseProxyConfig(body: unknown, where = ''): ProxyConfig {
  const obj = asObject(body, 'toxiproxy.Proxy');
  const name = readString(obj, 'name', 'Proxy') ?? '';
  const listen = readString(obj, 'listen', 'Proxy') ?? '';
  const upstream = readString(obj, 'upstream', 'Proxy') ?? '';
  const enabled = readBool(obj, 'enabled', 'Proxy') ?? true;
  if (name.length === 0) throw ApiError.join(ErrMissingField, `name${where}`);
  if (upstream.length === 0) throw ApiError.join(ErrMissingField, `upstream${where}`);
  return { name, listen, upstream, enabled };
}

/**
 * Every proxy by name (Toxiproxy's ProxyCollection). Calls are not re-entrant: the API runs one
 * request at a time, so checks and changes here cannot interleave.
 */
export class ProxyCollection {
  private readonly proxies = new Map<string, Proxy>();

  constructor(private readonly deps: ProxyDeps) {}

  all(): Proxy[] {
    return [...this.proxies.values()];
  }

  get(name: string): Proxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw ErrProxyNotFound;
    return proxy;
  }

  /** Creates a proxy; with `enabled` it must start listening or it is not added. */
  async add(config: ProxyConfig): Promise<Proxy> {
    if (this.proxies.has(config.name)) throw ErrProxyAlreadyExists;
    const proxy = new Proxy(config.name, config.listen, config.upstream, this.deps);
    if (config.enabled) await proxy.start();
    this.proxies.set(config.name, proxy);
    return proxy;
  }

  /**
   * Keeps an existing proxy whose listen and upstream match (toxics and enabled state untouched),
   * otherwise stops it and puts a new one in its place.
   */
  async addOrReplace(config: ProxyConfig): Promise<Proxy> {
    const existing = this.proxies.get(config.name);
    if (existing !== undefined) {
      if (!(await existing.differs(config.listen, config.upstream))) return existing;
      await existing.stop();
    }
    const proxy = new Proxy(config.name, config.listen, config.upstream, this.deps);
    if (config.enabled) await proxy.start();
    this.proxies.set(config.name, proxy);
    return proxy;
  }

  /** POST /populate: validates every entry first, then adds or replaces them in order. */
  async populate(body: unknown): Promise<PopulateResult> {
    if (body !== null && !Array.isArray(body)) {
      throw typeError(body, 'value', '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }');
    }
    const entries: unknown[] = body ?? [];
    const configs = entries.map((entry, i) => parseProxyConfig(entry, ` at proxy ${i + 1}`));
    const proxies: Proxy[] = [];
    for (const config of configs) {
      try {
        proxies.push(await this.addOrReplace(config));
      } catch (err) {
        return { proxies, error: toApiError(err) };
      }
    }
    return { proxies };
  }

  async remove(name: string): Promise<void> {
    const proxy = this.get(name);
    await proxy.stop();
    this.proxies.delete(name);
  }

  async clear(): Promise<void> {
    for (const proxy of this.all()) {
      await proxy.stop();
      this.proxies.delete(proxy.name);
    }
  }
}
