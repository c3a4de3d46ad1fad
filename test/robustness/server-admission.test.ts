/**
 * #9 item 6: idle and slow connections time out without a complete request
 * head; unauthenticated connections cannot crowd out token holders; one
 * client cannot take every slot. Real sockets; the tests wait for events
 * (close, response) with a short configured server timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exposeRelayFiles, relayClose, relayWrite, type RelayFileServer } from '../../src/index.js';
import { openChannel } from '../helpers.js';
import { open, request, type Conn } from './fixtures/net.js';

const conns: Conn[] = [];
after(() => {
  for (const c of conns) c.sock.destroy();
});
async function track(p: Promise<Conn>): Promise<Conn> {
  const c = await p;
  conns.push(c);
  return c;
}

describe('connections that send no complete request head', { timeout: 60_000 }, () => {
  let server: RelayFileServer;
  before(async () => {
    const { fs } = openChannel({ base: 'cpu' });
    server = await exposeRelayFiles({ fs, tcp: true, headersTimeoutMs: 200 });
  });
  after(() => server.close({ graceMs: 0 }));

  for (const transport of ['unix', 'tcp'] as const) {
    const where = () => (transport === 'unix' ? { socketPath: server.socketPath } : { host: '127.0.0.1', port: server.tcp!.port });
    test(`${transport}: an idle connection (not a byte sent) is closed with 408`, async () => {
      const c = await track(open(where()));
      const text = await c.closed;
      assert.match(text, /^HTTP\/1\.1 408 /);
      assert.match(text, /"ETIMEDOUT"/);
    });

    test(`${transport}: a slow connection (part of a head, then nothing) is closed`, async () => {
      const c = await track(open(where()));
      c.sock.write('GET /v1 HTTP/1.1\r\nHost: re');
      const text = await c.closed;
      assert.match(text, /^(HTTP\/1\.1 408 |$)/);
    });

    test(`${transport}: a keep-alive connection idle after its answer is closed too`, async () => {
      const c = await track(open(where()));
      const auth: Record<string, string> = transport === 'tcp' ? { Authorization: `Bearer ${server.token}` } : {};
      c.sock.write(request('/v1', auth));
      await c.until(/"server":"relayfs"/);
      await c.closed;
    });
  }
});

describe('slots go to authenticated connections', { timeout: 60_000 }, () => {
  test('TCP: idle connections without a token do not keep a token holder out', async () => {
    const { chan, fs } = openChannel({ base: 'cpu' });
    const server = await exposeRelayFiles({ fs, tcp: true, maxConnections: 4, maxPendingConnections: 8, headersTimeoutMs: 60_000 });
    try {
      const where = { host: '127.0.0.1', port: server.tcp!.port };
      // Many more idle connections than there are slots, all held open.
      const idle: Conn[] = [];
      for (let i = 0; i < 16; i++) idle.push(await track(open(where)));
      // Unauthenticated requests are answered 401 and their connections closed.
      const anon = await track(open(where));
      anon.sock.write(request('/v1'));
      assert.match(await anon.closed, /^HTTP\/1\.1 401 /);
      // A token holder gets in.
      const c = await track(open(where));
      c.sock.write(request('/v1', { Authorization: `Bearer ${server.token}` }));
      assert.match(await c.until(/"server":"relayfs"/), /^HTTP\/1\.1 200 /);
      // The oldest idle connections were pushed out to make room (8 pending at most).
      const closedIdle = await Promise.all(idle.slice(0, 8).map((x) => x.closed));
      assert.equal(closedIdle.length, 8);
    } finally {
      relayClose(chan);
      await server.close({ graceMs: 0 });
    }
  });

  test('one client cannot take every slot: maxConnectionsPerClient, then EBUSY', async () => {
    const { chan, fs } = openChannel({ base: 'cpu' });
    relayWrite(chan, new Uint8Array([1, 2, 3]));
    const server = await exposeRelayFiles({ fs, tcp: true, maxConnections: 8, maxConnectionsPerClient: 2, headersTimeoutMs: 60_000 });
    try {
      const where = { host: '127.0.0.1', port: server.tcp!.port };
      const auth = { Authorization: `Bearer ${server.token}` };
      // Two follows hold two slots.
      for (let i = 0; i < 2; i++) {
        const f = await track(open(where));
        f.sock.write(request('/v1/files/cpu0?follow=1', auth));
        await f.until(/^HTTP\/1\.1 200 /);
      }
      const third = await track(open(where));
      third.sock.write(request('/v1', auth));
      const text = await third.closed;
      assert.match(text, /^HTTP\/1\.1 503 /);
      assert.match(text, /"EBUSY"/);
    } finally {
      relayClose(chan);
      await server.close({ graceMs: 0 });
    }
  });

  test('Unix socket: maxConnections counts connections that made a request, not idle ones', async () => {
    const { chan, fs } = openChannel({ base: 'cpu' });
    const server = await exposeRelayFiles({ fs, maxConnections: 2, maxPendingConnections: 4, headersTimeoutMs: 60_000 });
    try {
      const where = { socketPath: server.socketPath };
      for (let i = 0; i < 6; i++) await track(open(where));
      const c = await track(open(where));
      c.sock.write(request('/v1'));
      assert.match(await c.until(/"server":"relayfs"/), /^HTTP\/1\.1 200 /);
    } finally {
      relayClose(chan);
      await server.close({ graceMs: 0 });
    }
  });

  test('bad limits are typed errors', async () => {
    for (const bad of [{ maxConnections: 0 }, { maxConnectionsPerClient: -1 }, { maxPendingConnections: 1.5 }, { headersTimeoutMs: NaN }, { headersTimeoutMs: '5' }]) {
      await assert.rejects(exposeRelayFiles(bad as object), (err: { code?: string }) => err?.code === 'ERELAY_INVALID_ARG', JSON.stringify(bad));
    }
  });
});
