import { ToxiproxyError } from 'toxiproxy-node-client';
import type { ICreateToxicBody, Latency, Toxic } from 'toxiproxy-node-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TOXIPROXY_API_VERSION } from '../../../chaos/toxiproxy/server';
import { LOOPBACK, TestClient, Upstream, splitAddress, startToxiproxy, waitFor } from './helpers';
import type { Harness } from './helpers';

/** The HTTP API, driven through toxiproxy-node-client as the chaos suite drives it. */

let harness: Harness;
let echo: Upstream;

beforeEach(async () => {
  harness = await startToxiproxy();
  echo = await Upstream.start('echo');
});

afterEach(async () => {
  await harness.stop();
  await echo.stop();
});

/** A raw request, for what the client library does not expose (status codes, error bodies). */
async function raw(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${harness.server.url}${path}`, init);
  return { status: res.status, text: await res.text() };
}

function proxyBody(name: string, enabled?: boolean) {
  return { name, listen: `${LOOPBACK}:0`, upstream: echo.address, ...(enabled === undefined ? {} : { enabled }) };
}

/** ICreateToxicBody marks every field required; the server defaults name, stream and toxicity. */
function toxicBody<T>(body: Partial<ICreateToxicBody<T>>): ICreateToxicBody<T> {
  return body as ICreateToxicBody<T>;
}

describe('server', () => {
  it('reports its version as JSON', async () => {
    const text = await harness.client.getVersion();
    expect(JSON.parse(text)).toEqual({ version: TOXIPROXY_API_VERSION });
  });

  it('answers unknown routes with 404 and known routes with a wrong method with 405', async () => {
    expect((await raw('GET', '/nothing')).status).toBe(404);
    expect((await raw('PUT', '/proxies')).status).toBe(405);
  });
});

describe('proxies', () => {
  it('creates a proxy on a free port and proxies through it', async () => {
    const proxy = await harness.client.createProxy(proxyBody('db'));
    expect(proxy.name).toBe('db');
    expect(proxy.enabled).toBe(true);
    expect(proxy.upstream).toBe(echo.address);
    const [host, port] = splitAddress(proxy.listen);
    expect(host).toBe(LOOPBACK);
    expect(port).toBeGreaterThan(0);

    const client = await TestClient.connect(proxy.listen);
    await client.roundTrip('hello through the proxy');
    client.destroy();
  });

  it('answers create with 201 and the proxy JSON, toxics included', async () => {
    const res = await raw('POST', '/proxies', proxyBody('raw'));
    expect(res.status).toBe(201);
    const json = JSON.parse(res.text) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['name', 'listen', 'upstream', 'enabled', 'toxics']);
    expect(json['toxics']).toEqual([]);
  });

  it('refuses a duplicate name with 409', async () => {
    await harness.client.createProxy(proxyBody('dup'));
    const err = await harness.client.createProxy(proxyBody('dup')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToxiproxyError);
    expect((err as Error).message).toContain('409');
    const res = await raw('POST', '/proxies', proxyBody('dup'));
    expect(JSON.parse(res.text)).toEqual({ error: 'proxy already exists', status: 409 });
  });

  it('validates the create body like the real server', async () => {
    expect(JSON.parse((await raw('POST', '/proxies', { listen: `${LOOPBACK}:0`, upstream: echo.address })).text)).toEqual({
      error: 'missing required field: name',
      status: 400,
    });
    expect(JSON.parse((await raw('POST', '/proxies', { name: 'x' })).text)).toEqual({
      error: 'missing required field: upstream',
      status: 400,
    });
    const badJson = await raw('POST', '/proxies', '{not json');
    expect(badJson.status).toBe(400);
    expect(JSON.parse(badJson.text).error).toMatch(/^bad request body: /);
    expect((await raw('POST', '/proxies', { name: 'x', upstream: echo.address, enabled: 'yes' })).status).toBe(400);
    // A listen address that cannot be bound is a 500, with nothing created.
    const unbindable = await raw('POST', '/proxies', { name: 'x', listen: `${LOOPBACK}`, upstream: echo.address });
    expect(unbindable.status).toBe(500);
    expect(Object.keys(await harness.client.getAll())).toEqual([]);
  });

  it('closes a client whose upstream cannot be reached', async () => {
    const proxy = await harness.client.createProxy({ name: 'dead', listen: `${LOOPBACK}:0`, upstream: `${LOOPBACK}:1` });
    const client = await TestClient.connect(proxy.listen);
    await waitFor(() => client.closed, 'client closed');
    expect(client.receivedBytes).toBe(0);
  });

  it('creates a disabled proxy that does not listen', async () => {
    const proxy = await harness.client.createProxy(proxyBody('off', false));
    expect(proxy.enabled).toBe(false);
    expect(proxy.listen).toBe(`${LOOPBACK}:0`);
  });

  it('lists and gets proxies, and 404s an unknown one', async () => {
    await harness.client.createProxy(proxyBody('a'));
    await harness.client.createProxy(proxyBody('b'));
    const all = await harness.client.getAll();
    expect(Object.keys(all).sort()).toEqual(['a', 'b']);
    expect(all['a']!.upstream).toBe(echo.address);

    const b = await harness.client.get('b');
    expect(b.listen).toBe(all['b']!.listen);

    await expect(harness.client.get('nope')).rejects.toThrow('404');
    expect(JSON.parse((await raw('GET', '/proxies/nope')).text)).toEqual({ error: 'proxy not found', status: 404 });
  });

  it('disabling closes connections and stops listening; enabling listens on the same address', async () => {
    const proxy = await harness.client.createProxy(proxyBody('toggle'));
    const client = await TestClient.connect(proxy.listen);
    await client.roundTrip('before');

    const disabled = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    expect(disabled.enabled).toBe(false);
    await waitFor(() => client.closed, 'client connection closed by disable');
    await expect(TestClient.connect(proxy.listen)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    const enabled = await disabled.update({ enabled: true, listen: disabled.listen, upstream: disabled.upstream });
    expect(enabled.enabled).toBe(true);
    expect(enabled.listen).toBe(proxy.listen);
    const again = await TestClient.connect(enabled.listen);
    await again.roundTrip('after');
    again.destroy();
  });

  it('changing the upstream drops connections and sends new ones to the new upstream', async () => {
    const other = await Upstream.start('echo');
    try {
      const proxy = await harness.client.createProxy(proxyBody('move'));
      const client = await TestClient.connect(proxy.listen);
      await client.roundTrip('to the first');

      const moved = await proxy.update({ enabled: true, listen: proxy.listen, upstream: other.address });
      expect(moved.upstream).toBe(other.address);
      await waitFor(() => client.closed, 'old connection dropped');

      const next = await TestClient.connect(moved.listen);
      await next.roundTrip('to the second');
      expect(other.received().toString()).toBe('to the second');
      next.destroy();
    } finally {
      await other.stop();
    }
  });

  it('keeps fields that an update leaves out (PATCH)', async () => {
    const proxy = await harness.client.createProxy(proxyBody('patch'));
    const res = await raw('PATCH', '/proxies/patch', { enabled: false });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ name: 'patch', listen: proxy.listen, upstream: echo.address, enabled: false });
  });

  it('deletes a proxy, closing its connections', async () => {
    const proxy = await harness.client.createProxy(proxyBody('gone'));
    const client = await TestClient.connect(proxy.listen);
    await client.roundTrip('x');
    await proxy.remove();
    await waitFor(() => client.closed, 'connection closed by delete');
    await expect(harness.client.get('gone')).rejects.toThrow('404');
    await expect(TestClient.connect(proxy.listen)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await raw('DELETE', '/proxies/gone')).status).toBe(404);
  });

  it('populates: creates, keeps unchanged proxies, replaces changed ones', async () => {
    const created = await harness.client.populate([proxyBody('p1'), proxyBody('p2', false)]);
    expect(Object.keys(created).sort()).toEqual(['p1', 'p2']);
    expect(created['p1']!.enabled).toBe(true);
    expect(created['p2']!.enabled).toBe(false);

    // Same listen (the bound address) and upstream: untouched, toxics kept.
    const p1 = created['p1']!;
    await p1.addToxic(toxicBody<Latency>({ type: 'latency', attributes: { latency: 1, jitter: 0 } }));
    const kept = await harness.client.populate([{ name: 'p1', listen: p1.listen, upstream: echo.address }]);
    expect(kept['p1']!.listen).toBe(p1.listen);
    expect((await raw('GET', '/proxies/p1/toxics')).text).toContain('latency_downstream');

    // A different upstream: replaced by a fresh proxy without toxics.
    const other = await Upstream.start('echo');
    try {
      const replaced = await harness.client.populate([{ name: 'p1', listen: p1.listen, upstream: other.address }]);
      expect(replaced['p1']!.upstream).toBe(other.address);
      expect(JSON.parse((await raw('GET', '/proxies/p1/toxics')).text)).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('populate validates every entry before creating any', async () => {
    const res = await raw('POST', '/populate', [proxyBody('ok'), { name: 'bad' }]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ error: 'missing required field: upstream at proxy 2', status: 400, proxies: null });
    expect(Object.keys(await harness.client.getAll())).toEqual([]);
    expect((await raw('POST', '/populate', [])).status).toBe(201);
  });

  it('reset re-enables every proxy and removes every toxic', async () => {
    const proxy = await harness.client.createProxy(proxyBody('r'));
    await proxy.addToxic(toxicBody<Latency>({ type: 'latency', attributes: { latency: 1000, jitter: 0 } }));
    await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    await harness.client.reset();

    const after = await harness.client.get('r');
    expect(after.enabled).toBe(true);
    expect(JSON.parse((await raw('GET', '/proxies/r/toxics')).text)).toEqual([]);
    const client = await TestClient.connect(after.listen);
    await client.roundTrip('reset worked');
    client.destroy();
    expect((await raw('POST', '/reset')).status).toBe(204);
  });
});

describe('toxics', () => {
  it('defaults name, stream and toxicity and fills in every attribute', async () => {
    const proxy = await harness.client.createProxy(proxyBody('t'));
    const toxic = await proxy.addToxic(toxicBody<Latency>({ type: 'latency', attributes: { latency: 5 } as Latency }));
    expect(toxic.toJson()).toEqual({
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 5, jitter: 0 },
    });
    const res = await raw('POST', '/proxies/t/toxics', { type: 'limit_data', stream: 'upstream', toxicity: 0.5 });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({
      attributes: { bytes: 0 },
      name: 'limit_data_upstream',
      type: 'limit_data',
      stream: 'upstream',
      toxicity: 0.5,
    });
  });

  it('lists toxics upstream first, and shows them on the proxy', async () => {
    const proxy = await harness.client.createProxy(proxyBody('t'));
    await proxy.addToxic(toxicBody({ type: 'timeout', attributes: { timeout: 0 } }));
    await proxy.addToxic(toxicBody({ type: 'slicer', stream: 'upstream', attributes: { average_size: 1, size_variation: 0, delay: 0 } }));
    const list = JSON.parse((await raw('GET', '/proxies/t/toxics')).text) as Array<{ name: string }>;
    expect(list.map((toxic) => toxic.name)).toEqual(['slicer_upstream', 'timeout_downstream']);
    const shown = JSON.parse((await raw('GET', '/proxies/t')).text) as { toxics: unknown[] };
    expect(shown.toxics).toEqual(list);
  });

  it('gets, updates (merging attributes) and removes a toxic', async () => {
    const proxy = await harness.client.createProxy(proxyBody('t'));
    await proxy.addToxic(toxicBody<Latency>({ name: 'slow', type: 'latency', attributes: { latency: 10, jitter: 2 } }));
    const toxic: Toxic<Latency> = await proxy.getToxic<Latency>('slow');
    expect(toxic.attributes).toEqual({ latency: 10, jitter: 2 });

    const updated = await toxic.update({ attributes: { latency: 20 }, toxicity: 0.25 } as ICreateToxicBody<Latency>);
    expect(updated.attributes).toEqual({ latency: 20, jitter: 2 });
    expect(updated.toxicity).toBe(0.25);
    expect(updated.stream).toBe('downstream');

    await updated.remove();
    await expect(proxy.getToxic('slow')).rejects.toThrow('404');
    expect(JSON.parse((await raw('DELETE', '/proxies/t/toxics/slow')).text)).toEqual({ error: 'toxic not found', status: 404 });
  });

  it('rejects bad toxics with the real status codes', async () => {
    const proxy = await harness.client.createProxy(proxyBody('t'));
    const body = (extra: object) => ({ type: 'latency' as const, attributes: { latency: 1 }, ...extra });
    expect(JSON.parse((await raw('POST', '/proxies/t/toxics', body({ stream: 'sideways' }))).text)).toEqual({
      error: 'stream was invalid, can be either upstream or downstream',
      status: 400,
    });
    expect(JSON.parse((await raw('POST', '/proxies/t/toxics', body({ type: 'melt' }))).text)).toEqual({
      error: 'invalid toxic type',
      status: 400,
    });
    expect((await raw('POST', '/proxies/t/toxics', body({ attributes: { latency: 'soon' } }))).status).toBe(400);
    expect((await raw('POST', '/proxies/t/toxics', body({ attributes: { latency: 1.5 } }))).status).toBe(400);
    expect((await raw('POST', '/proxies/nope/toxics', body({}))).status).toBe(404);

    await proxy.addToxic(toxicBody(body({})));
    const dup = await proxy.addToxic(toxicBody(body({}))).catch((e: unknown) => e);
    expect((dup as Error).message).toContain('409');
    // A name is unique across both streams.
    expect((await raw('POST', '/proxies/t/toxics', body({ name: 'latency_downstream', stream: 'upstream' }))).status).toBe(409);
    expect((await raw('POST', '/proxies/t/toxics/missing', { toxicity: 1 })).status).toBe(404);
  });
});
