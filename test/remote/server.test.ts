/**
 * The remote server in this process (its serving thread) against raw
 * sockets, curl and the client module: routes, reads, follow, validation,
 * authentication, shutdown.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HostFs, RelayError, hostfsCallbacks, relayClose, relayFlush, relayOpen, relayWrite, type RelayChannel, type RelayDentry } from '../../src/index.js';
import { RelayRemote, RemoteError, defaultSocketPath, exposeRelayFiles, listSockets, type RelayFileServer } from '../../src/remote/index.js';
import { MAX_MESSAGE, MessageParser, encode } from './fixtures/messages.js';
import { get, jsonOf, raw, type Where } from './helpers.js';

const fs = HostFs.get('remotetest');
let server: RelayFileServer;
let unix: Where;
let remote: RelayRemote;
let dirCount = 0;

/** A fresh channel /dN/cpu0 with one buffer, written from this thread. */
function channel(subbufSize = 1024, nSubbufs = 8): { chan: RelayChannel; path: string; dir: RelayDentry } {
  const dir = fs.createDir(`d${dirCount++}`);
  const chan = relayOpen('cpu', dir, subbufSize, nSubbufs, hostfsCallbacks(fs), undefined, { buffers: 1 });
  return { chan, path: `${dir.path}/cpu0`, dir };
}

const scratch = new Uint8Array(MAX_MESSAGE);
const view = new DataView(scratch.buffer);

/** Writes messages seq from..to-1; returns the bytes of those accepted. */
function write(chan: RelayChannel, from: number, to: number): Buffer {
  const out: Buffer[] = [];
  for (let seq = from; seq < to; seq++) {
    const len = encode(scratch, view, 1, seq);
    if (relayWrite(chan, scratch, len)) out.push(Buffer.from(scratch.subarray(0, len)));
  }
  return Buffer.concat(out);
}

before(async () => {
  server = await exposeRelayFiles({ fs, tcp: true });
  unix = { socketPath: server.socketPath };
  remote = new RelayRemote({ socketPath: server.socketPath });
});

after(async () => {
  await server.close({ graceMs: 200 });
});

describe('remote server', { timeout: 300_000 }, () => {
  test('lists channels and files with their counters', async () => {
    const { chan, path } = channel();
    write(chan, 0, 10);
    const listing = await remote.list();
    const file = listing.files.find((f) => f.path === path)!;
    assert.ok(file, 'the file is listed');
    assert.equal(file.cpu, 0);
    assert.equal(file.stats.messagesWritten, 10);
    assert.equal(file.available, file.stats.bytesWritten);
    const ch = listing.channels.find((c) => c.id === file.channel)!;
    assert.deepEqual(ch.files, [path]);
    assert.equal(ch.subbufSize, 1024);
    assert.equal(ch.nSubbufs, 8);
    assert.equal(ch.closed, false);
    assert.equal(listing.fs, 'remotetest');
    assert.equal(listing.pid, process.pid);
    // A directory lists what is below it; stats of one file.
    const dirListing = await remote.list(path.slice(0, path.lastIndexOf('/')));
    assert.deepEqual(
      dirListing.files.map((f) => f.path),
      [path],
    );
    const stats = await remote.stats(path);
    assert.equal(stats.stats.messagesWritten, 10);
    // The socket can be found from the pid alone.
    assert.equal(defaultSocketPath(process.pid, 'remotetest'), server.socketPath);
    assert.ok(listSockets('remotetest').some((s) => s.pid === process.pid && s.socketPath === server.socketPath));
    const byPid = new RelayRemote({ pid: process.pid, fs: 'remotetest' });
    assert.equal((await byPid.info()).pid, process.pid);
    relayClose(chan);
  });

  test('a read consumes: padding removed, every byte delivered once', async () => {
    const { chan, path } = channel(256, 8);
    const written = write(chan, 0, 40); // many sub-buffer switches, each leaving padding
    relayFlush(chan);
    const first = await remote.read(path);
    assert.equal(first.reason, 'drained');
    assert.ok(Buffer.from(first.data).equals(written), 'exactly the messages, no padding');
    assert.ok(first.stats!.paddingBytes > 0, 'there was padding to remove');
    const second = await remote.read(path);
    assert.equal(second.data.length, 0, 'consumed data is not read again');
    const more = write(chan, 40, 45);
    relayClose(chan);
    const last = await remote.read(path);
    assert.ok(Buffer.from(last.data).equals(more));
    assert.equal(last.reason, 'hangup', 'closed and drained');
  });

  test('max stops a read after that many bytes; the next read continues', async () => {
    const { chan, path } = channel();
    const written = write(chan, 0, 20);
    const a = await remote.read(path, { max: 100 });
    assert.equal(a.reason, 'max');
    assert.equal(a.data.length, 100);
    const b = await remote.read(path);
    assert.ok(Buffer.concat([a.data, b.data]).equals(written));
    relayClose(chan);
  });

  test('follow streams data as it arrives and ends with the tail once the channel is closed', async () => {
    const { chan, path } = channel(512, 8);
    const follow = remote.follow(path, { latency: 10 });
    await follow.ready(); // the server has the file open: closing the channel cannot beat the request
    const parser = new MessageParser();
    const reading = (async () => {
      for await (const chunk of follow) parser.push(chunk);
    })();
    let expected = 0;
    let seq = 0;
    for (let round = 0; round < 20; round++) {
      expected += write(chan, seq, seq + 7).length; // partial sub-buffers: delivered within the latency
      seq += 7;
      await new Promise((r) => setTimeout(r, 5));
    }
    expected += write(chan, seq, seq + 3).length; // the tail: never flushed
    relayClose(chan);
    await reading;
    assert.equal(follow.end?.reason, 'hangup');
    assert.equal(follow.end?.stats?.closed, true);
    assert.deepEqual(parser.errors, []);
    assert.equal(parser.bytes, expected, 'every byte, tail included');
    assert.equal(parser.messages.length, seq + 3);
  });

  test('two readers of one file never get the same bytes', async () => {
    const { chan, path } = channel(1024, 16);
    const parsers = [new MessageParser(), new MessageParser()];
    const follows = parsers.map(() => remote.follow(path, { latency: 5 }));
    // Both have the file open before anything is written: a request that arrived after relayClose removed the file would be ENOENT.
    await Promise.all(follows.map((f) => f.ready()));
    const readers = parsers.map(async (p, i) => {
      for await (const chunk of follows[i]!) p.push(chunk);
    });
    let accepted = 0;
    let seq = 0;
    for (let round = 0; round < 40; round++) {
      const before = seq;
      seq += 50;
      const bytes = write(chan, before, seq);
      const p = new MessageParser();
      p.push(bytes);
      accepted += p.messages.length;
      await new Promise((r) => setImmediate(r));
    }
    relayClose(chan);
    await Promise.all(readers);
    const seen = new Set<number>();
    for (const p of parsers) {
      assert.deepEqual(p.errors, [], 'each reader sees whole, ordered messages');
      for (const m of p.messages) {
        assert.ok(!seen.has(m.seq), `message ${m.seq} delivered twice`);
        seen.add(m.seq);
      }
    }
    assert.equal(seen.size, accepted, 'together they got every accepted message');
  });

  test('malformed requests get a JSON 4xx and never disturb the server', async () => {
    const cases: [string | Buffer, number][] = [
      [Buffer.from([0, 0xff, 0xfe, 0x13, 0x37, 13, 10, 13, 10]), 400],
      ['garbage garbage garbage\r\n\r\n', 400],
      ['GET /v1/files HTTP/9.9\r\n\r\n', 400],
      [`GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['GET /v1/files HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello', 400],
    ];
    for (const [bytes, status] of cases) {
      const text = await raw(unix, bytes);
      assert.match(text, new RegExp(`^HTTP/1.1 ${status} `), `answer to ${JSON.stringify(String(bytes).slice(0, 30))}`);
      assert.equal(jsonOf(text).error.status, status);
    }
    // Well-formed HTTP, wrong for the protocol.
    const wrong: [string, string, number, string][] = [
      ['GET', '/nope', 404, 'ENOROUTE'],
      ['GET', '/v1/nope', 404, 'ENOROUTE'],
      ['GET', '/v1/files/no/such/file0', 404, 'ENOENT'],
      ['GET', '/v1/files/no/such/file0/stats', 404, 'ENOENT'],
      ['POST', '/v1/files', 405, 'EMETHOD'],
      ['DELETE', '/v1/files', 405, 'EMETHOD'],
      ['GET', '/v1/files?bogus=1', 400, 'EBADREQUEST'],
      ['GET', '/v1?x', 400, 'EBADREQUEST'],
    ];
    for (const [method, target, status, code] of wrong) {
      const res = await get(unix, target, {}, method);
      assert.equal(res.status, status, `${method} ${target}`);
      assert.equal(JSON.parse(res.body.toString()).error.code, code, `${method} ${target}`);
      assert.match(String(res.headers['content-type']), /^application\/json/);
    }
    const { chan, path, dir } = channel();
    for (const q of ['follow=yes', 'latency=0', 'latency=99999', 'max=0', 'max=-1', 'max=1e3', 'latency=1&latency=2']) {
      const res = await get(unix, `/v1/files${path}?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(JSON.parse(res.body.toString()).error.code, 'EBADREQUEST', q);
    }
    assert.equal((await get(unix, `/v1/files${dir.path}/stats`)).status, 400, 'stats of a directory: EISDIR');
    assert.equal((await get(unix, `/v1/files${dir.path}?follow=1`)).status, 400, 'follow of a directory: EISDIR');
    const withBody = await raw(unix, `GET /v1/files${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc`);
    assert.match(withBody, /^HTTP\/1.1 400 /);
    // A connection that never finishes its request does not hold anything up.
    const stalled = (await import('node:net')).connect(server.socketPath);
    stalled.write('GET /v1/files HTTP/1.1\r\nHost: x\r\n');
    assert.equal((await get(unix, '/v1')).status, 200, 'the server still answers');
    stalled.destroy();
    relayClose(chan);
  });

  test('paths cannot leave the relay tree, however they are encoded', async () => {
    const { chan, path } = channel();
    write(chan, 0, 5);
    const escapes = [
      '/v1/files/../../etc/passwd',
      '/v1/files/%2e%2e/%2e%2e/etc/passwd',
      '/v1/files/%2E%2e/x',
      '/v1/files/.%2e/x',
      `/v1/files${path}/../../x`,
      '/v1/files/./x',
      '/v1/files/a%2fb',
      '/v1/files/..%2f..%2fetc',
      '/v1/files/a%5cb',
      '/v1/files/a%00b',
      '/v1/files/%zz',
      '/v1/files//x',
      '/v1/files/%2e%2e/stats',
    ];
    for (const target of escapes) {
      const res = await get(unix, target);
      assert.equal(res.status, 400, target);
      assert.equal(JSON.parse(res.body.toString()).error.code, 'EBADPATH', target);
    }
    // Double encoding is just an odd (absent) name.
    assert.equal((await get(unix, '/v1/files/%252e%252e/x')).status, 404);
    // An absolute-form target is the same path; a percent-encoded name reaches the same file.
    const encoded = path
      .split('/')
      .map((p) => p.replace(/c/g, '%63'))
      .join('/');
    assert.equal((await get(unix, `/v1/files${encoded}/stats`)).status, 200);
    assert.equal((await get(unix, `http://x/v1/files${path}/stats`)).status, 200);
    assert.equal((await remote.stats(path)).stats.messagesWritten, 5, 'nothing was consumed by the attempts');
    relayClose(chan);
  });

  test('TCP listens on 127.0.0.1 only and requires the bearer token', async () => {
    assert.ok(server.tcp && server.token);
    assert.equal(server.tcp.host, '127.0.0.1');
    assert.ok(server.token.length >= 40);
    const tcp: Where = { host: '127.0.0.1', port: server.tcp.port };
    const denied: Record<string, string>[] = [
      {},
      { Authorization: 'Bearer' },
      { Authorization: 'Bearer wrong' },
      { Authorization: `Bearer ${server.token.slice(0, -1)}x` },
      { Authorization: `Bearer ${server.token}x` },
      { Authorization: `Basic ${server.token}` },
    ];
    for (const headers of denied) {
      for (const target of ['/v1', '/v1/files', '/v1/files/../x', '/nope']) {
        const res = await get(tcp, target, headers);
        assert.equal(res.status, 401, `${target} with ${JSON.stringify(headers)}`);
        assert.equal(JSON.parse(res.body.toString()).error.code, 'EUNAUTHORIZED');
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="relayfs"');
      }
    }
    const ok = await get(tcp, '/v1', { Authorization: `Bearer ${server.token}` });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body.toString()).tcp, true);
    const viaTcp = new RelayRemote({ url: server.tcp.url, token: server.token });
    assert.ok(Array.isArray((await viaTcp.list()).files));
    await assert.rejects(new RelayRemote({ url: server.tcp.url }).list(), (e: RemoteError) => e.code === 'EUNAUTHORIZED' && e.status === 401);
    // The Unix socket needs no token: its directory's permissions guard it.
    assert.equal((await get(unix, '/v1')).status, 200);
    // Without { tcp } there is no TCP listener, hence no token.
    const plain = await exposeRelayFiles({ fs: HostFs.get('remotetest-plain') });
    assert.equal(plain.tcp, null);
    assert.equal(plain.token, null);
    await plain.close();
    // A TCP port that is taken: a clear error, and no socket left behind.
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    await assert.rejects(
      exposeRelayFiles({ fs: HostFs.get('remotetest-port'), tcp: { port } }),
      (e: RelayError) => e instanceof RelayError && e.code === 'ERELAY_SERVER_FAILED' && (e.cause as { code?: string }).code === 'EADDRINUSE',
    );
    assert.equal(existsSync(join(dirname(server.socketPath), 'remotetest-port.sock')), false);
    taken.close();
    await assert.rejects(exposeRelayFiles({ fs, tcp: true, token: 'short' }), /token must be/);
  });

  test('curl can do a consuming read while this thread is blocked', { skip: spawnSync('curl', ['--version']).status !== 0 && 'curl not installed' }, () => {
    const { chan, path } = channel(256, 16);
    const written = write(chan, 0, 60);
    // execFileSync blocks this (the producer's) thread: the serving thread answers anyway.
    const body = execFileSync('curl', ['-sS', '--fail', '--unix-socket', server.socketPath, `http://relayfs/v1/files${path}`]);
    assert.ok(body.equals(written), 'curl got exactly the messages, padding removed');
    const again = execFileSync('curl', ['-sS', '--unix-socket', server.socketPath, `http://relayfs/v1/files${path}`]);
    assert.equal(again.length, 0, 'consumed');
    const listing = JSON.parse(execFileSync('curl', ['-sS', '--unix-socket', server.socketPath, 'http://relayfs/v1/files']).toString());
    assert.ok(listing.files.some((f: { path: string }) => f.path === path));
    relayClose(chan);
  });

  test('another process lists and reads while the producer thread is blocked', async () => {
    const own = HostFs.get('remotetest-busy');
    const dir = own.createDir('early');
    const chan = relayOpen('cpu', dir, 512, 8, hostfsCallbacks(own), undefined, { buffers: 1 });
    const written = write(chan, 0, 30); // the file exists before the server does
    const srv = await exposeRelayFiles({ fs: own });
    const client = new URL('../../src/remote/index.js', import.meta.url).href;
    const code = `
      const { RelayRemote } = await import(process.argv[1]);
      const r = new RelayRemote({ socketPath: process.argv[2] });
      const listing = await r.list();
      const { data, reason } = await r.read('/early/cpu0');
      process.stdout.write(JSON.stringify({ files: listing.files.map((f) => f.path), hex: Buffer.from(data).toString('hex'), reason }));
    `;
    // spawnSync blocks this thread for the whole exchange.
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', code, client, srv.socketPath], { timeout: 15_000 });
    assert.equal(out.status, 0, out.stderr.toString());
    const got = JSON.parse(out.stdout.toString());
    assert.deepEqual(got.files, ['/early/cpu0']);
    assert.equal(got.hex, written.toString('hex'));
    assert.equal(got.reason, 'drained');
    relayClose(chan);
    await srv.close();
  });

  test('client errors are typed', async () => {
    await assert.rejects(remote.stats('/no/such0'), (e: RemoteError) => e instanceof RemoteError && e.code === 'ENOENT' && e.status === 404);
    await assert.rejects(remote.read('/../x'), (e: Error) => /EBADPATH/.test(e.message));
    const nowhere = new RelayRemote({ socketPath: join(tmpdir(), `relayfs-none-${process.pid}.sock`) });
    await assert.rejects(nowhere.list(), (e: RemoteError) => e.status === 0 && e.code === 'ENOENT');
  });

  test('close() ends follow reads after the readable data, and removes the socket', async () => {
    const own = HostFs.get('remotetest-close');
    const dir = own.createDir('t');
    const chan = relayOpen('cpu', dir, 1024, 4, hostfsCallbacks(own), undefined, { buffers: 1 });
    const srv = await exposeRelayFiles({ fs: own });
    const client = new RelayRemote({ socketPath: srv.socketPath });
    const written = write(chan, 0, 10);
    const follow = client.follow('/t/cpu0', { latency: 10 });
    const parts: Uint8Array[] = [];
    const reading = (async () => {
      for await (const chunk of follow) parts.push(chunk);
    })();
    while ((await client.stats('/t/cpu0')).stats.bytesRead < written.length) await new Promise((r) => setTimeout(r, 5));
    await srv.close({ graceMs: 1000 });
    await reading;
    assert.equal(follow.end?.reason, 'shutdown');
    assert.ok(Buffer.concat(parts).equals(written));
    assert.equal(existsSync(srv.socketPath), false);
    relayClose(chan);
  });

  test('a stale socket is replaced; a live one or a non-socket is refused', async () => {
    const work = mkdtempSync(join(tmpdir(), 'relayfs-remote-test-'));
    try {
      const path = join(work, 's.sock');
      // A live listener at the path: refused.
      const live = createServer();
      await new Promise<void>((r) => live.listen(path, r));
      await assert.rejects(exposeRelayFiles({ fs: HostFs.get('remotetest-stale'), socketPath: path }), /in use/);
      // Exposing what is already exposed: refused, and the running server is untouched.
      await assert.rejects(exposeRelayFiles({ fs }), /in use/);
      assert.equal((await get(unix, '/v1')).status, 200);
      // Left behind by a process that died without cleaning up: replaced.
      live.close();
      spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      assert.ok(statSync(path).isSocket(), 'a stale socket file is there');
      const srv = await exposeRelayFiles({ fs: HostFs.get('remotetest-stale'), socketPath: path });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal((await get({ socketPath: path }, '/v1')).status, 200);
      await srv.close();
      assert.equal(existsSync(path), false);
      // Not a socket: never replaced.
      const plainFile = join(work, 'file');
      execFileSync('touch', [plainFile]);
      await assert.rejects(exposeRelayFiles({ fs: HostFs.get('remotetest-stale'), socketPath: plainFile }), /not a socket/);
      assert.ok(existsSync(plainFile));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
