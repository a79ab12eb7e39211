import type { ICreateToxicBody, Proxy } from 'toxiproxy-node-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LINK_HELD_BYTES_MAX } from '../../../chaos/toxiproxy/link';
import { Fence, LOOPBACK, TestClient, Upstream, pattern, startToxiproxy, waitFor } from './helpers';
import type { Harness } from './helpers';

/**
 * Each toxic's effect on real loopback TCP, asserted by order and causality, never by elapsed time:
 * "nothing arrived" is checked after a Fence (later traffic made a full round trip), and "held"
 * data must appear once the toxic is removed.
 */

let harness: Harness;
let echo: Upstream;
let fence: Fence;
const clients: TestClient[] = [];

beforeEach(async () => {
  harness = await startToxiproxy();
  echo = await Upstream.start('echo');
  fence = await Fence.create(harness);
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await fence.remove();
  await harness.stop();
  await echo.stop();
});

async function createProxy(upstream = echo, name = 'p'): Promise<Proxy> {
  return harness.client.createProxy({ name, listen: `${LOOPBACK}:0`, upstream: upstream.address });
}

async function connect(proxy: Proxy): Promise<TestClient> {
  const client = await TestClient.connect(proxy.listen);
  clients.push(client);
  return client;
}

function toxic<T>(type: string, attributes: T, extra: Partial<ICreateToxicBody<T>> = {}): ICreateToxicBody<T> {
  return { type, attributes, ...extra } as ICreateToxicBody<T>;
}

describe('latency', () => {
  it('holds data on an open connection until the toxic is removed, then delivers it in order', async () => {
    const proxy = await createProxy();
    const client = await connect(proxy);
    await client.roundTrip('warm;');

    const latency = await proxy.addToxic(toxic('latency', { latency: 60_000, jitter: 0 }));
    client.write('held-1;');
    client.write('held-2;');
    await waitFor(() => echo.received().toString() === 'warm;held-1;held-2;', 'upstream got the data');
    await fence.pass();
    expect(client.received().toString()).toBe('warm;');

    await latency.remove();
    await waitFor(() => client.receivedBytes === 'warm;held-1;held-2;'.length, 'held data after removal');
    expect(client.received().toString()).toBe('warm;held-1;held-2;');
    await client.roundTrip('after;');
  });

  it('keeps every byte in order under jitter, in both directions', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('latency', { latency: 3, jitter: 3 }, { stream: 'upstream' }));
    await proxy.addToxic(toxic('latency', { latency: 3, jitter: 3 }));
    const client = await connect(proxy);
    const payload = pattern(200 * 997);
    for (let i = 0; i < 200; i++) client.write(payload.subarray(i * 997, (i + 1) * 997));
    await waitFor(() => client.receivedBytes === payload.length, 'all bytes back');
    expect(client.received().equals(payload)).toBe(true);
  });

  it('never applies with toxicity 0, and applies to open connections once updated to 1', async () => {
    const proxy = await createProxy();
    const client = await connect(proxy);
    const latency = await proxy.addToxic(toxic('latency', { latency: 60_000, jitter: 0 }, { toxicity: 0 }));
    await client.roundTrip('not delayed;');

    await latency.update({ attributes: latency.attributes, toxicity: 1 } as ICreateToxicBody<typeof latency.attributes>);
    client.write('delayed;');
    await waitFor(() => echo.received().toString().endsWith('delayed;'), 'upstream got the data');
    await fence.pass();
    expect(client.received().toString()).toBe('not delayed;');
    await latency.remove();
    await waitFor(() => client.received().toString() === 'not delayed;delayed;', 'delayed data after removal');
  });
});

describe('timeout', () => {
  it('with timeout 0 drops data and keeps the connection open; removing it closes the connection', async () => {
    const proxy = await createProxy();
    const client = await connect(proxy);
    await client.roundTrip('warm;');

    const timeout = await proxy.addToxic(toxic('timeout', { timeout: 0 }));
    client.write('lost;');
    await waitFor(() => echo.received().toString() === 'warm;lost;', 'upstream got the data');
    await fence.pass();
    expect(client.received().toString()).toBe('warm;');
    expect(client.closed).toBe(false);

    // The real toxic's Cleanup closes the stream when it is removed; the dropped bytes stay lost.
    await timeout.remove();
    await waitFor(() => client.closed, 'connection closed on removal');
    expect(client.received().toString()).toBe('warm;');
  });

  it('closes the connection after the timeout without delivering anything', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('timeout', { timeout: 20 }));
    const client = await connect(proxy);
    client.write('never echoed;');
    await waitFor(() => client.closed, 'connection closed by the timeout');
    expect(client.receivedBytes).toBe(0);
  });

  it('upstream: the server never sees the data', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('timeout', { timeout: 0 }, { stream: 'upstream' }));
    const client = await connect(proxy);
    client.write('stopped;');
    await fence.pass();
    await waitFor(() => echo.connectionCount === 1, 'upstream connection');
    expect(echo.receivedBytes).toBe(0);
    expect(client.closed).toBe(false);
  });

  it('never applies with toxicity 0', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('timeout', { timeout: 0 }, { toxicity: 0 }));
    const client = await connect(proxy);
    await client.roundTrip('passes;');
  });
});

describe('limit_data', () => {
  it('downstream: closes the connection after exactly N bytes', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('limit_data', { bytes: 10 }));
    const client = await connect(proxy);
    const payload = pattern(100);
    client.write(payload);
    await waitFor(() => client.closed, 'connection closed by the limit');
    expect(client.received().equals(payload.subarray(0, 10))).toBe(true);
  });

  it('upstream: the server gets exactly N bytes, then the connection closes', async () => {
    const sink = await Upstream.start('sink');
    try {
      const proxy = await createProxy(sink);
      await proxy.addToxic(toxic('limit_data', { bytes: 5 }, { stream: 'upstream' }));
      const client = await connect(proxy);
      client.write('abc');
      client.write('defghij');
      await waitFor(() => client.closed, 'connection closed by the limit');
      expect(sink.received().toString()).toBe('abcde');
    } finally {
      await sink.stop();
    }
  });

  it('counts what a removed latency toxic releases into it', async () => {
    const proxy = await createProxy();
    const client = await connect(proxy);
    const latency = await proxy.addToxic(toxic('latency', { latency: 60_000, jitter: 0 }));
    await proxy.addToxic(toxic('limit_data', { bytes: 6 }));
    client.write('0123456789');
    await waitFor(() => echo.receivedBytes === 10, 'upstream got the data');
    await latency.remove();
    await waitFor(() => client.closed, 'connection closed by the limit');
    expect(client.received().toString()).toBe('012345');
  });
});

describe('reset_peer', () => {
  it('downstream, added to an open connection: the client gets ECONNRESET and none of the new data', async () => {
    const proxy = await createProxy();
    const client = await connect(proxy);
    await client.roundTrip('warm;');
    await proxy.addToxic(toxic('reset_peer', { timeout: 0 }));
    client.write('boom;');
    await waitFor(() => client.closed, 'connection reset');
    expect(client.error?.code).toBe('ECONNRESET');
    expect(client.received().toString()).toBe('warm;');
  });

  it('does nothing until data flows on its stream', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('reset_peer', { timeout: 0 }));
    const client = await connect(proxy);
    await waitFor(() => echo.connectionCount === 1, 'upstream connection');
    await fence.pass();
    expect(client.closed).toBe(false);
    client.write('boom;');
    await waitFor(() => client.closed, 'connection reset');
    expect(client.error?.code).toBe('ECONNRESET');
  });

  it('upstream, after a timeout: both sides are reset and the server sees nothing', async () => {
    const sink = await Upstream.start('sink');
    try {
      const proxy = await createProxy(sink);
      await proxy.addToxic(toxic('reset_peer', { timeout: 10 }, { stream: 'upstream' }));
      const client = await connect(proxy);
      client.write('boom;');
      await waitFor(() => client.closed, 'connection reset');
      expect(client.error?.code).toBe('ECONNRESET');
      expect(sink.receivedBytes).toBe(0);
    } finally {
      await sink.stop();
    }
  });
});

describe('slicer', () => {
  it('delivers the same bytes in more pieces', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('slicer', { average_size: 10, size_variation: 5, delay: 500 }));
    const client = await connect(proxy);
    const payload = pattern(3000);
    client.write(payload);
    await waitFor(() => client.receivedBytes === payload.length, 'all slices');
    expect(client.received().equals(payload)).toBe(true);
    expect(client.chunks.length).toBeGreaterThan(1);
  });
});

describe('bandwidth', () => {
  it('delivers everything intact', async () => {
    const proxy = await createProxy();
    await proxy.addToxic(toxic('bandwidth', { rate: 2000 }));
    await proxy.addToxic(toxic('bandwidth', { rate: 2000 }, { stream: 'upstream' }));
    const client = await connect(proxy);
    const payload = pattern(300_000, 7);
    client.write(payload);
    await waitFor(() => client.receivedBytes === payload.length, 'all bytes back');
    expect(client.received().equals(payload)).toBe(true);
  });

  it('a stalled link holds a bounded amount and pushes back on the sender; removal delivers all in order', async () => {
    const sink = await Upstream.start('sink');
    try {
      const proxy = await createProxy(sink);
      const client = await connect(proxy);
      client.write('open;');
      await waitFor(() => sink.receivedBytes === 5, 'the connection is up');
      const stall = await proxy.addToxic(toxic('bandwidth', { rate: 0 }, { stream: 'upstream' }));
      const payload = pattern(32 * 1024 * 1024, 3);
      client.write(payload);

      const stats = () => harness.server.proxies.get('p').linkStats()[0];
      await waitFor(() => stats()?.upstreamPaused === true, 'proxy stops reading the client');
      await fence.pass();
      expect(stats()!.upstreamHeldBytes).toBeGreaterThanOrEqual(LINK_HELD_BYTES_MAX);
      expect(stats()!.upstreamHeldBytes).toBeLessThanOrEqual(LINK_HELD_BYTES_MAX + 64 * 1024);
      expect(client.socket.writableLength).toBeGreaterThan(0); // the rest waits at the sender
      expect(sink.receivedBytes).toBe(5);

      await stall.remove();
      await waitFor(() => sink.receivedBytes === 5 + payload.length, 'everything after removal', 30_000);
      expect(sink.received().subarray(5).equals(payload)).toBe(true);
    } finally {
      await sink.stop();
    }
  });
});

describe('slow_close', () => {
  it('holds the close, not the data, until removed', async () => {
    const proxy = await createProxy();
    const client = await connect(proxy);
    await client.roundTrip('warm;');
    const slowClose = await proxy.addToxic(toxic('slow_close', { delay: 60_000 }));
    await client.roundTrip('data still flows;');

    echo.lastSocket().end();
    await fence.pass();
    expect(client.ended).toBe(false);

    await slowClose.remove();
    await waitFor(() => client.ended, 'close after removal');
    expect(client.received().toString()).toBe('warm;data still flows;');
  });

  it('left in place, closes once its delay has run out (held past a fence at 60 s, released when updated to 20 ms)', async () => {
    const proxy = await createProxy();
    const slowClose = await proxy.addToxic(toxic('slow_close', { delay: 60_000 }));
    const client = await connect(proxy);
    await client.roundTrip('x');
    echo.lastSocket().end();
    // Held: a toxic that let the close through at once fails here.
    await fence.pass();
    expect(client.ended).toBe(false);

    // Still in place, with a delay that runs out: the close comes by the delay alone, not by removal
    // (Toxiproxy re-runs the toxic on update, which waits the new delay from then).
    await slowClose.update({ attributes: { delay: 20 }, toxicity: 1 } as ICreateToxicBody<typeof slowClose.attributes>);
    await waitFor(() => client.ended, 'close after the delay, with the toxic still in place');
    expect((await proxy.getToxic(slowClose.name)).attributes).toEqual({ delay: 20 });
    expect(client.received().toString()).toBe('x');
  });
});
