/**
 * ship and record-back against a real nats-server -js: a recorded directory
 * shipped and rebuilt byte for byte, resumed without duplicates, cut into
 * messages of whole klog records within max_payload; one-line errors for bad
 * URLs, credentials and streams.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { decodeRecords } from '../../src/klog/index.js';
import { relayClose, relayWrite } from '../../src/channel/index.js';
import { DiskSource, HostfsSource, merge } from '../../src/tools/index.js';
import { bytes, openChannel } from '../helpers.js';
import { ShipError, recordFromNats, ship } from '../../src/ship/index.js';
import { H_FILE, H_KIND, H_OFFSET, dataSubject, messageId } from '../../src/ship/subjects.js';
import { hasNoStack, runCli } from '../cli/run-cli.js';
import { recordedDirFiles } from './fixtures.js';
import { NatsServer, freePort } from './nats-server.js';

const MAX_PAYLOAD = 64 * 1024;
let server: NatsServer;
let auth: NatsServer;
const dirs: string[] = [];

before(async () => {
  server = await NatsServer.start({ maxPayload: MAX_PAYLOAD });
  auth = await NatsServer.start({ user: 'alice', pass: 's3cret' });
});
after(async () => {
  await Promise.all([server?.stop(), auth?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'relayfs-ship-'));
  dirs.push(d);
  return d;
}

function recordedDir(records = 4000): string {
  return recordedDirFiles(tempDir(), records);
}

async function streamMessages(stream: string): Promise<{ subject: string; data: Uint8Array; size: number }[]> {
  const nc = await connect({ servers: server.url() });
  try {
    const jsm = await jetstreamManager(nc);
    const total = (await jsm.streams.info(stream)).state.messages;
    const out: { subject: string; data: Uint8Array; size: number }[] = [];
    const c = await jetstream(nc).consumers.get(stream);
    const it = await c.consume();
    for await (const m of it) {
      out.push({ subject: m.subject, data: m.data, size: m.data.length + (m.headers?.toString().length ?? 0) });
      if (out.length >= total) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

test('a recorded directory ships and comes back byte for byte; a second ship adds nothing', async () => {
  const dir = recordedDir();
  const out = tempDir();
  const first = await ship({ source: new DiskSource(dir), nats: server.url(), stream: 'DIR1', subjectPrefix: 'dir1', createStream: true });
  assert.equal(first.complete, true);
  assert.equal(first.reason, 'end');
  const sizes = readdirSync(dir).map((f) => readFileSync(join(dir, f)).length);
  assert.equal(
    first.totals.bytes,
    sizes.reduce((a, b) => a + b, 0),
  );
  assert.ok(first.totals.messages > 10, `cut into messages within max_payload: ${first.totals.messages}`);

  const again = await ship({ source: new DiskSource(dir), nats: server.url(), stream: 'DIR1', subjectPrefix: 'dir1' });
  assert.equal(again.totals.messages, 0, 'resumed at the end of what the stream has');
  assert.deepEqual(
    again.buffers.map((b) => b.resumedAt),
    first.buffers.map((b) => b.endOffset),
  );

  // Every data message: within max_payload, whole klog records only.
  const msgs = await streamMessages('DIR1');
  const data = msgs.filter((m) => !m.subject.endsWith('.counters'));
  assert.equal(data.length, first.totals.messages);
  for (const m of data) {
    assert.ok(m.size <= MAX_PAYLOAD, `${m.size} bytes`);
    assert.doesNotThrow(() => [...decodeRecords(m.data)]);
  }
  const counters = msgs.filter((m) => m.subject.endsWith('.counters')).map((m) => JSON.parse(Buffer.from(m.data).toString()));
  assert.ok(
    counters.some((c) => c.final && c.reason === 'end'),
    'final counters published',
  );

  const back = await recordFromNats({ url: `${server.url()}/DIR1`, outDir: out, subjectPrefix: 'dir1' });
  assert.equal(back.producers.length, 1);
  const rebuilt = back.producers[0]!.dir;
  for (const f of ['cpu0', 'cpu1']) assert.ok(readFileSync(join(rebuilt, f)).equals(readFileSync(join(dir, f))), `${f} byte-identical`);
  const sidecar = JSON.parse(readFileSync(join(rebuilt, 'relayfs.json'), 'utf8'));
  assert.equal(sidecar.totals.records, 8000);
  for (const b of sidecar.buffers) {
    assert.equal(b.transit.lostInTransit, 0);
    assert.equal(b.transit.duplicates, 0);
    assert.equal(b.transit.holes, 0);
  }
  // merge reads the rebuilt layout as it reads a local recording.
  const lines: string[] = [];
  const sink = new (await import('node:stream')).Writable({
    write(c, _e, cb) {
      lines.push(String(c));
      cb();
    },
  });
  const summary = await merge({ inputs: [out], out: sink });
  assert.equal(summary.records, 8000);
  assert.equal(summary.lost, 0);
});

test('an in-process channel of raw (not klog) data: shipped while written, cut anywhere, rebuilt byte for byte', async () => {
  const { chan, fs } = openChannel({ base: 'raw', subbufSize: 8192, nSubbufs: 8 });
  chan.claim();
  const shipping = ship({ source: new HostfsSource('/', fs), nats: server.url(), stream: 'RAW', subjectPrefix: 'raw', createStream: true, latency: 10 });
  const expected: Uint8Array[] = [];
  let refused = 0;
  for (let i = 0; i < 400; i++) {
    const msg = bytes(100 + (i % 50) * 37, i);
    // A refused write (buffer full: counted as a drop) is tried again once the shipper has read: every message gets in.
    while (!relayWrite(chan, msg)) {
      refused++;
      await new Promise((r) => setImmediate(r));
    }
    expected.push(msg);
  }
  relayClose(chan);
  const s = await shipping;
  assert.equal(s.reason, 'hangup');
  assert.equal(s.buffers[0]!.records, null, 'not klog records');
  const out = tempDir();
  const back = await recordFromNats({ url: `${server.url()}/RAW`, outDir: out, subjectPrefix: 'raw' });
  const { dir, sidecar } = back.producers[0]!;
  assert.ok(readFileSync(join(dir, 'raw0')).equals(Buffer.concat(expected)));
  assert.equal(sidecar.buffers[0]!.written, 400);
  assert.equal(sidecar.buffers[0]!.lost, refused);
});

test('a message the server already has is dropped as a duplicate by its id (producer, buffer, offset)', async () => {
  const dir = recordedDir(500);
  await ship({ source: new DiskSource(dir), nats: server.url(), stream: 'DUP', subjectPrefix: 'dup', createStream: true, producer: 'p1' });
  // The first message again with its id, as a retry after a lost acknowledgement sends it.
  const nc = await connect({ servers: server.url() });
  const js = jetstream(nc);
  const bytes = readFileSync(join(dir, 'cpu0')).subarray(0, 1000);
  const msgs = await streamMessages('DUP');
  const subject = msgs.find((m) => /\.0$/.test(m.subject))!.subject;
  const [, host] = subject.split('.');
  const ack = await js.publish(subject, bytes, { msgID: `${host}.p1.cpu.0@0` });
  await nc.close();
  assert.equal(ack.duplicate, true);
});

test("reading back a stream of max_payload messages stays under the server's slow-consumer limit, and gets every byte", { timeout: 90_000 }, async () => {
  // A stream larger than the server's 64 MiB per-client pending limit, in 1 MiB messages: a pull of
  // 256 of them made the server cut the connection as a slow consumer, and the read-back hung.
  const big = await NatsServer.start();
  try {
    const nc = await connect({ servers: big.url() });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'BIG', subjects: ['big.>'] });
    const js = jetstream(nc);
    const SIZE = 1000 * 1000;
    const COUNT = 100;
    const a = { prefix: 'big', host: 'h', producer: 'p', channel: 'cpu', buffer: 0 };
    for (let i = 0; i < COUNT; i++) {
      const h = headers();
      h.set(H_KIND, 'data');
      h.set(H_OFFSET, String(i * SIZE));
      h.set(H_FILE, 'cpu0');
      await js.publish(dataSubject(a), new Uint8Array(SIZE).fill(i & 0xff), { headers: h, msgID: messageId(a, i * SIZE) });
    }
    await nc.close();
    const out = tempDir();
    const back = await recordFromNats({ url: `${big.url()}/BIG`, outDir: out, subjectPrefix: 'big' });
    assert.equal(back.messages, COUNT);
    const file = readFileSync(join(back.producers[0]!.dir, 'cpu0'));
    assert.equal(file.length, COUNT * SIZE);
    for (let i = 0; i < COUNT; i++) assert.equal(file[i * SIZE + SIZE - 1], i & 0xff, `message ${i} in its place`);
    assert.doesNotMatch(big.log, /Slow Consumer/);
  } finally {
    await big.stop();
  }
});

test('bad URL, nobody listening, wrong credentials, missing stream: one line each, no stack', async () => {
  const dir = recordedDir(10);
  const nobody = `nats://127.0.0.1:${await freePort()}`;
  const cases: [string[], RegExp][] = [
    [['ship', dir, '--nats', 'http://127.0.0.1:4222'], /ENATS_URL: .*expected a nats:\/\/ URL/],
    [['ship', dir, '--nats', 'not a url'], /ENATS_URL: /],
    [['ship', dir, '--nats', nobody], /ENATS_CONNECT: .*connection refused/],
    [['ship', dir, '--nats', auth.url(false)], /ENATS_AUTH: .*authentication failed with no credentials/],
    [['ship', dir, '--nats', `nats://alice:wrong@127.0.0.1:${auth.port}`], /ENATS_AUTH: .*user "alice"/],
    [['ship', dir, '--nats', server.url(), '--stream', 'NOPE'], /ENATS_NO_STREAM: .*no stream "NOPE".*--create-stream/],
    [['record', `${server.url()}/NOPE`, '-o', join(tempDir(), 'x')], /ENATS_NO_STREAM: /],
    [['record', server.url(), '-o', join(tempDir(), 'x')], /ENATS_URL: /],
  ];
  for (const [args, want] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, want);
    assert.ok(hasNoStack(r.stderr));
  }
  // The right credentials in the URL work.
  const ok = await runCli(['ship', dir, '--nats', auth.url(), '--create-stream', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).complete, true);
});

test('the library call rejects with a ShipError that has a stable code', async () => {
  await assert.rejects(ship({ source: new DiskSource(recordedDir(1)), nats: 'nats://127.0.0.1:1' }), (err: unknown) => err instanceof ShipError && err.code === 'ENATS_CONNECT');
  const empty = tempDir();
  mkdirSync(join(empty, 'x'));
  await assert.rejects(recordFromNats({ url: `${server.url()}/EMPTY`, outDir: join(empty, 'out') }), (err: unknown) => err instanceof ShipError && err.code === 'ENATS_NO_STREAM');
});
