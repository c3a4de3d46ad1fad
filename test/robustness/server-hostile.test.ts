/**
 * The remote server and pipelined requests (found by the hostile-client
 * suite of #9): answers go out in order and whole, an error for malformed
 * bytes (or a CONNECT) comes after the answers before it, nothing is
 * consumed for a response that cannot go out, and the head timeout never
 * cuts a response in flight. Real sockets; waits are for events.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { exposeRelayFiles, relayClose, relayWrite } from '../../src/index.js';
import { freshFs, openChannel } from '../helpers.js';
import { MAX_MESSAGE, MessageParser, encode } from '../remote/fixtures/messages.js';
import { open, parseResponses, request, type Conn, type RawResponse, type Where } from './fixtures/net.js';

const conns: Conn[] = [];
after(() => {
  for (const c of conns) c.sock.destroy();
});
async function track(where: Where): Promise<Conn> {
  const c = await open(where);
  conns.push(c);
  return c;
}

/** `count` self-checking messages (writer 9) written from this thread; returns their bytes. */
function writeMessages(chan: Parameters<typeof relayWrite>[0], count: number): number {
  const buf = new Uint8Array(MAX_MESSAGE);
  const view = new DataView(buf.buffer);
  let bytes = 0;
  for (let seq = 0; seq < count; seq++) {
    const len = encode(buf, view, 9, seq);
    assert.ok(relayWrite(chan, buf, len));
    bytes += len;
  }
  return bytes;
}

/** A read response's body as whole messages: throws on a torn, reordered or cut one. */
function messagesOf(body: string, what: string): MessageParser {
  const parser = new MessageParser();
  parser.push(Buffer.from(body, 'latin1'));
  assert.deepEqual(parser.errors, [], `${what}: whole messages in order`);
  assert.equal(parser.leftover, 0, `${what}: ends on a message boundary`);
  return parser;
}

describe('pipelined requests', { timeout: 60_000 }, () => {
  test('a read pipelined before malformed bytes goes out whole, then the 400: nothing consumed is lost', async () => {
    const { chan, fs } = openChannel({ subbufSize: 4096, nSubbufs: 4 });
    const written = writeMessages(chan, 40);
    const server = await exposeRelayFiles({ fs, headersTimeoutMs: 60_000 });
    const file = fs.openSync('/cpu0');
    try {
      const c = await track({ socketPath: server.socketPath });
      c.sock.write(request('/v1/files/cpu0') + 'GARBAGE\0\r\n\r\n');
      const responses = parseResponses(await c.closed);
      // Before: the 400 went out at once and the read, run after it, consumed the data into the ended socket.
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 400],
        'the answer to the read, then the error, then the close',
      );
      const [read, error] = responses as [RawResponse, RawResponse];
      assert.equal(JSON.parse(error.body).error.code, 'EBADREQUEST');
      assert.equal(read.status, 200);
      assert.ok(read.complete, 'the read response is whole');
      assert.equal(read.trailers['x-relay-end'], 'drained');
      assert.equal(read.body.length, written);
      assert.equal(messagesOf(read.body, 'the read').messages.length, 40);
      assert.equal(file.stats().bytesRead, written, 'what was consumed is what was sent');
    } finally {
      file.close();
      relayClose(chan);
      await server.close({ graceMs: 0 });
    }
  });

  test('a follow pipelined behind another request is not cut by the head timeout', async () => {
    const { chan, fs } = openChannel({ subbufSize: 4096, nSubbufs: 4 });
    const server = await exposeRelayFiles({ fs, headersTimeoutMs: 200 });
    try {
      const where = { socketPath: server.socketPath };
      const c = await track(where);
      c.sock.write(request('/v1') + request('/v1/files/cpu0?follow=1&latency=1'));
      await c.until(/X-Relay-Cpu: 0/);
      // A clock made of an event: a connection opened now is timed out after the follow's would have been.
      const clock = await track(where);
      assert.match(await clock.closed, /^HTTP\/1\.1 408 /);
      writeMessages(chan, 3);
      relayClose(chan);
      // Before: a raw 408 landed inside the follow's body and the connection was closed.
      const text = await c.until(/X-Relay-End: hangup/);
      const responses = parseResponses(text);
      assert.deepEqual(
        responses.map((r) => [r.status, r.complete]),
        [
          [200, true],
          [200, true],
        ],
      );
      assert.equal(messagesOf(responses[1]!.body, 'the follow').messages.length, 3);
      assert.doesNotMatch(text, /408/);
    } finally {
      await server.close({ graceMs: 0 });
    }
  });

  test('reads pipelined on one connection are all answered, in order', async () => {
    const fs = freshFs();
    const a = openChannel({ base: 'a', fs });
    const b = openChannel({ base: 'b', fs });
    const server = await exposeRelayFiles({ fs, headersTimeoutMs: 60_000 });
    try {
      writeMessages(a.chan, 2);
      writeMessages(b.chan, 5);
      const c = await track({ socketPath: server.socketPath });
      c.sock.write(request('/v1/files/a0') + request('/v1/files/b0') + request('/v1'));
      // Before: the second read found no connection yet (the first response had it), gave up, and the rest went unanswered.
      const text = await c.until(/"server":"relayfs"/);
      const responses = parseResponses(text);
      assert.deepEqual(
        responses.map((r) => [r.status, r.complete, r.headers['x-relay-cpu'] ?? r.headers['content-type']]),
        [
          [200, true, '0'],
          [200, true, '0'],
          [200, true, 'application/json; charset=utf-8'],
        ],
      );
      assert.equal(messagesOf(responses[0]!.body, '/a0').messages.length, 2);
      assert.equal(messagesOf(responses[1]!.body, '/b0').messages.length, 5);
    } finally {
      relayClose(a.chan);
      relayClose(b.chan);
      await server.close({ graceMs: 0 });
    }
  });

  test('CONNECT gets 405 EMETHOD like any other method, after the answer to a read before it', async () => {
    // More than a socket takes without 'drain' (16 KiB): the read has to wait for the connection.
    const { chan, fs } = openChannel({ subbufSize: 16 * 1024, nSubbufs: 8 });
    const written = writeMessages(chan, 2000);
    assert.ok(written > 64 * 1024);
    const server = await exposeRelayFiles({ fs, headersTimeoutMs: 60_000 });
    try {
      const c = await track({ socketPath: server.socketPath });
      c.sock.write(request('/v1/files/cpu0') + 'CONNECT relayfs:80 HTTP/1.1\r\nHost: relayfs\r\n\r\n');
      // Before: Node dropped the connection, and with it the read's answer, whose data was consumed.
      // (And after a CONNECT, Node no longer passes the socket's 'drain' on to the response.)
      const [read, refused, ...more] = parseResponses(await c.closed);
      assert.equal(read?.status, 200);
      assert.equal(read.body.length, written);
      assert.equal(refused?.status, 405);
      assert.equal(refused.headers.allow, 'GET');
      assert.equal(JSON.parse(refused.body).error.code, 'EMETHOD');
      assert.deepEqual(more, []);
    } finally {
      relayClose(chan);
      await server.close({ graceMs: 0 });
    }
  });

  test('an HTTP/1.1 request without Host gets the JSON error; HTTP/1.0 needs none', async () => {
    const { chan, fs } = openChannel();
    const server = await exposeRelayFiles({ fs, headersTimeoutMs: 60_000 });
    try {
      const where = { socketPath: server.socketPath };
      const c = await track(where);
      c.sock.write('GET /v1 HTTP/1.1\r\n\r\n');
      // Before: Node's own 400, with no body.
      const [res] = parseResponses(await c.closed);
      assert.equal(res?.status, 400);
      assert.equal(JSON.parse(res.body).error.code, 'EBADREQUEST');
      const old = await track(where);
      old.sock.write('GET /v1 HTTP/1.0\r\n\r\n');
      assert.equal(parseResponses(await old.closed)[0]?.status, 200);
    } finally {
      relayClose(chan);
      await server.close({ graceMs: 0 });
    }
  });
});
