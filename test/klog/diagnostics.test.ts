import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as dc from 'node:diagnostics_channel';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { hostfs, hostfsCallbacks, relayClose, relayOpen } from '../../src/index.js';
import {
  decodeRecords,
  klogDiagnostics,
  readSpanBegin,
  readSpanEnd,
  recordText,
  registerKlogHandler,
  unregisterKlogHandler,
  type KlogDiagnosticsOff,
  type KlogRecord,
} from '../../src/klog/index.js';
import { HTTP_WORKER, type HttpWorkerData } from './fixtures/http-worker.js';

let off: KlogDiagnosticsOff | null = null;
afterEach(() => {
  off?.();
  off = null;
  unregisterKlogHandler();
});

interface Span {
  name: string;
  begin: Record<string, unknown>;
  end: Record<string, unknown> | null;
  thread: number;
}

/** Spans by id from begin and end records. */
function spansOf(recs: KlogRecord[]): Span[] {
  const byId = new Map<number, Span>();
  for (const r of recs) {
    if (r.type === 'span-begin') {
      const b = readSpanBegin(r);
      byId.set(b.id, { name: b.name, begin: b.args ? (JSON.parse(b.args) as Record<string, unknown>) : {}, end: null, thread: r.thread });
    } else if (r.type === 'span-end') {
      const e = readSpanEnd(r);
      byId.get(e.id)!.end = e.args ? (JSON.parse(e.args) as Record<string, unknown>) : {};
    }
  }
  return [...byId.values()];
}

/** A function handler that records, and resolves waiters when a condition on the records holds. */
function capture(): { recs: KlogRecord[]; until(pred: (recs: KlogRecord[]) => boolean): Promise<void> } {
  const recs: KlogRecord[] = [];
  const waiters: { pred: (r: KlogRecord[]) => boolean; resolve: () => void }[] = [];
  registerKlogHandler((bytes, length) => {
    recs.push(...decodeRecords(bytes.slice(0, length)));
    for (const w of waiters.splice(0)) {
      if (w.pred(recs)) w.resolve();
      else waiters.push(w);
    }
  });
  return {
    recs,
    until: (pred) => (pred(recs) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ pred, resolve }))),
  };
}

async function listen(): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    res.statusCode = req.url?.startsWith('/missing') ? 404 : 200;
    res.end(`hello ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const ended = (name: string) => (recs: KlogRecord[]) => spansOf(recs).some((s) => s.name === name && s.end !== null);

test('HTTP server requests, fetch and http.get become spans in this thread, with method, URL and status', async () => {
  const cap = capture();
  off = klogDiagnostics();
  const { server, base } = await listen();
  try {
    const res = await fetch(`${base}/hello?x=1`);
    assert.equal(await res.text(), 'hello /hello?x=1');
    await cap.until(ended('GET /hello'));
    const missing = await new Promise<number>((resolve) => get(`${base}/missing`, (r) => (r.resume(), r.on('end', () => resolve(r.statusCode!)))));
    assert.equal(missing, 404);
    await cap.until(ended('GET /missing'));
    await cap.until(ended('http GET 127.0.0.1/missing'));

    const spans = spansOf(cap.recs);
    const serverSpan = spans.find((s) => s.name === 'GET /hello')!;
    assert.deepEqual(serverSpan.begin, { kind: 'http.server', method: 'GET', url: '/hello?x=1' });
    assert.deepEqual(serverSpan.end, { status: 200 });
    const fetchSpan = spans.find((s) => s.name === `fetch GET ${base}/hello`);
    assert.ok(fetchSpan, `spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.deepEqual(fetchSpan.end, { status: 200 });
    assert.deepEqual(spans.find((s) => s.name === 'GET /missing')!.end, { status: 404 });
    assert.deepEqual(spans.find((s) => s.name === 'http GET 127.0.0.1/missing')!.end, { status: 404 });
    assert.ok(spans.every((s) => s.thread === 0));

    // Unsubscribed: no more spans.
    off();
    const before = cap.recs.length;
    await (await fetch(`${base}/after`)).text();
    assert.equal(cap.recs.length, before);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('user-named TracingChannels (sync, promise, failing) and plain channels', async () => {
  const cap = capture();
  off = klogDiagnostics({ httpServer: false, httpClient: false, fetch: false, tracingChannels: ['myapp.job'], channels: ['myapp.event'] });
  const tc = dc.tracingChannel('myapp.job');
  assert.equal(
    tc.traceSync(() => 5, { job: 'sync' }),
    5,
  );
  let release!: () => void;
  const p = tc.tracePromise(() => new Promise<void>((r) => (release = r)), { job: 'async' });
  assert.equal(spansOf(cap.recs).find((s) => s.begin.job === 'async')!.end, null, 'still running');
  release();
  await p;
  await assert.rejects(
    tc.tracePromise(
      async () => {
        throw new Error('boom');
      },
      { job: 'fails' },
    ),
    /boom/,
  );
  dc.channel('myapp.event').publish({ user: 'ann', n: 1, skipped: { nested: true } });

  const spans = spansOf(cap.recs);
  assert.deepEqual(
    spans.map((s) => [s.name, s.begin.job, s.end]),
    [
      ['myapp.job', 'sync', {}],
      ['myapp.job', 'async', {}],
      ['myapp.job', 'fails', { error: 'Error: boom' }],
    ],
  );
  assert.deepEqual(cap.recs.filter((r) => r.type === 'text').map(recordText), ['myapp.event {"user":"ann","n":1}']);
});

test('a worker subscribes itself with klogAttach({ diagnostics: true }): its requests are spans in its own buffer', async () => {
  const name = `diag-test-${process.pid}`;
  const dir = hostfs.createDir(name);
  const chan = relayOpen('cpu', dir, 16 * 1024, 4, hostfsCallbacks(), undefined, { buffers: 1 });
  const data: HttpWorkerData = { kind: 'relayfs-test-http-worker', handle: chan.handle() };
  const w = new Worker(HTTP_WORKER, { workerData: data });
  const messages: { port?: number; closed?: boolean; threadId?: number }[] = [];
  let wake = (): void => undefined;
  w.on('message', (m: (typeof messages)[number]) => (messages.push(m), wake()));
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((r) => (wake = r));
    return messages.shift()!;
  };
  try {
    const { port } = await next();
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/from-main`)).text(), 'served /from-main');
    w.postMessage('stop');
    const { threadId } = await next();
    const file = await hostfs.open(`/${name}/cpu0`);
    const spans = spansOf([...decodeRecords(file.read())]);
    file.close();
    assert.deepEqual(
      spans.map((s) => [s.name, s.thread, s.end]),
      [['GET /from-main', threadId, { status: 200 }]],
    );
  } finally {
    await w.terminate();
    relayClose(chan);
    hostfs.removeRecursive(dir);
  }
});
