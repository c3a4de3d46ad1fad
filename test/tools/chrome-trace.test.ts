import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { Worker } from 'node:worker_threads';
import { hostfs, hostfsCallbacks, relayClose, relayOpen } from '../../src/index.js';
import { decodeRecords, encodeRecord, klog, klogBegin, klogCounter, klogRaw, klogSpan, registerKlogHandler, unregisterKlogHandler, type KlogRecord } from '../../src/klog/index.js';
import { FILL_SAMPLES_NAME, HostfsSource, exportChromeTrace, record, writeChromeTraceFile, type Sidecar } from '../../src/tools/index.js';
import { SPAN_WORKER, type SpanWorkerData, type SpanWorkerResult } from './fixtures/span-worker.js';
import { ancestry, parseWithTraceEngine, threadsByName, walk, type EngineEvent } from './trace-engine.js';

interface ChromeTrace {
  traceEvents: EngineEvent[];
  metadata: { relayfs: { summary: { records: number } } };
}

const ROUNDS = 40;

/** A real recording: the main thread and a worker trace spans, counters, text and one loss into a channel recorded to disk. */
async function makeRecording(): Promise<{ out: string; sidecar: Sidecar; worker: SpanWorkerResult }> {
  const name = `chrome-trace-test-${process.pid}`;
  const dir = hostfs.createDir(name);
  const chan = relayOpen('cpu', dir, 16 * 1024, 8, hostfsCallbacks(), undefined, { buffers: 2 });
  const out = mkdtempSync(join(tmpdir(), 'relayfs-chrome-'));
  const recording = record({ source: new HostfsSource(`/${name}`), outDir: out, latency: 10 });
  try {
    registerKlogHandler(chan);
    klogSpan('request', { path: '/a' }, () => {
      klog('inside the request');
      klogSpan('db query', () => klogCounter('queue depth', 2));
    });
    // Two async spans whose ends cross: "fetch A" ends while "fetch B" is still open.
    let releaseA!: () => void;
    let releaseB!: () => void;
    const a = klogSpan('fetch A', async () => new Promise<void>((r) => (releaseA = r)));
    const b = klogSpan('fetch B', async () => new Promise<void>((r) => (releaseB = r)));
    releaseA();
    await a;
    releaseB();
    await b;
    klogRaw(new Uint8Array(chan.subbufSize + 1)); // too big: the channel drops it, a sequence gap
    klog('after the loss');
    klogCounter('queue depth', 0);
    klogBegin('never ends', { why: 'the test stops tracing first' });

    const data: SpanWorkerData = { kind: 'relayfs-test-span-worker', handle: chan.handle(), rounds: ROUNDS };
    const w = new Worker(SPAN_WORKER, { workerData: data });
    const worker = await new Promise<SpanWorkerResult>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    unregisterKlogHandler();
    relayClose(chan);
    const sidecar = await recording;
    return { out, sidecar, worker };
  } finally {
    unregisterKlogHandler();
    if (!chan.closed) relayClose(chan);
    await recording.catch(() => undefined);
    hostfs.removeRecursive(dir);
  }
}

function recordsOf(out: string): KlogRecord[] {
  return readdirSync(out)
    .filter((f) => /^cpu\d+$/.test(f))
    .flatMap((f) => [...decodeRecords(readFileSync(join(out, f)))]);
}

async function exportToString(inputs: string[]): Promise<string> {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  await exportChromeTrace({ inputs, out: sink });
  return text;
}

test('the Chrome export, read by the DevTools trace engine: a track per writer, every record an event, nesting, loss markers', async () => {
  const { out, sidecar, worker } = await makeRecording();
  try {
    const recs = recordsOf(out);
    const trace = JSON.parse(await exportToString([out])) as ChromeTrace;
    const engine = await parseWithTraceEngine(trace.traceEvents);
    assert.equal(engine.traceIsGeneric, true);

    // Tracks: one per writer, named after buffer and thread.
    const threads = threadsByName(engine);
    const main = threads.get('cpu0 · main thread');
    const wt = threads.get(`cpu1 · thread ${worker.threadId}`);
    assert.ok(main && wt, `thread tracks: ${[...threads.keys()].join(', ')}`);
    assert.equal(threads.size, 2);

    // Every record is an event: text and raw are instants, counters counter samples, a span's two records one event.
    const count = (t: string) => recs.filter((r) => r.type === t).length;
    const kept = engine.traceEvents.filter((e) => e.cat === 'klog' || e.cat === 'klog.async');
    const instants = kept.filter((e) => e.ph === 'I').length;
    const counters = kept.filter((e) => e.ph === 'C').length;
    const complete = kept.filter((e) => e.ph === 'X');
    const unfinished = complete.filter((e) => e.args?.unfinished === true).length;
    const asyncBegins = kept.filter((e) => e.ph === 'b').length;
    assert.equal(instants, count('text') + count('raw'));
    assert.equal(counters, count('counter'));
    assert.equal(unfinished, 1);
    assert.equal(asyncBegins, 1, 'fetch A ended while fetch B was open: an async span');
    assert.equal(kept.filter((e) => e.ph === 'e').length, asyncBegins);
    assert.equal(complete.length - unfinished + asyncBegins, count('span-end'));
    assert.equal(complete.length + asyncBegins, count('span-begin'));
    assert.equal(instants + counters + 2 * (complete.length - unfinished) + unfinished + 2 * asyncBegins, recs.length);
    assert.equal(trace.metadata.relayfs.summary.records, recs.length);

    // The worker's spans: ROUNDS of three levels, nested in its track.
    const workerSpans = wt.entries.filter((e) => e.ph === 'X');
    assert.equal(workerSpans.length, 3 * ROUNDS);
    const nodes = [...walk(wt.tree!.roots)];
    const level3 = nodes.filter((n) => n.entry.name === 'level 3');
    assert.equal(level3.length, ROUNDS);
    for (const n of level3) assert.deepEqual(ancestry(n), ['level 3', 'level 2', 'level 1']);
    const text = nodes.filter((n) => n.entry.ph === 'I' && n.entry.cat === 'klog');
    assert.equal(text.length, ROUNDS);
    for (const n of text) assert.deepEqual(ancestry(n).slice(1), ['level 3', 'level 2', 'level 1']);
    // And the main thread's: the text and the inner span inside the request.
    const mainNodes = [...walk(main.tree!.roots)];
    assert.deepEqual(ancestry(mainNodes.find((n) => n.entry.name === 'db query')!), ['db query', 'request']);
    assert.deepEqual(ancestry(mainNodes.find((n) => n.entry.name === 'inside the request')!), ['inside the request', 'request']);
    assert.equal(mainNodes.find((n) => n.entry.name === 'request')!.entry.args!.path, '/a');

    // Losses: the gap where it happened, and the channel's own count from relayfs.json.
    const losses = engine.traceEvents.filter((e) => e.cat === 'loss');
    const gap = losses.find((e) => e.name === 'lost 1 record');
    assert.ok(gap, `loss markers: ${losses.map((e) => e.name).join(', ')}`);
    assert.equal(gap.args!.count, 1);
    const drop = losses.find((e) => e.name.startsWith('channel dropped'));
    assert.equal(drop?.args?.tooBig, 1);
    assert.equal(sidecar.totals.lost, 1);
    const lostCounter = engine.traceEvents.filter((e) => e.ph === 'C' && e.name === 'lost cpu0');
    assert.deepEqual(
      lostCounter.map((e) => e.args!.records),
      [1],
    );

    // Timestamps: microseconds on the klog clock, so the worker's spans come after the main thread's.
    const reqTs = mainNodes.find((n) => n.entry.name === 'request')!.entry.ts;
    assert.ok(workerSpans.every((e) => e.ts > reqTs));
    const firstRec = Math.min(...recs.map((r) => r.timestamp));
    assert.equal(Math.min(...kept.map((e) => e.ts)), Math.round(firstRec) / 1000);

    // The fill level the recorder sampled, as a counter track per buffer.
    assert.ok(existsSync(join(out, FILL_SAMPLES_NAME)));
    assert.ok(engine.traceEvents.some((e) => e.ph === 'C' && e.name === 'fill cpu0'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('export to .json.gz writes the same trace compressed; a missing input is a one-line error', async () => {
  const { out } = await makeRecording();
  try {
    const file = join(out, 'trace.json.gz');
    const summary = await writeChromeTraceFile([out], file);
    const trace = JSON.parse(gunzipSync(readFileSync(file)).toString()) as ChromeTrace;
    assert.equal(trace.traceEvents.length, summary.events);
    assert.equal(summary.records, recordsOf(out).length);
    await assert.rejects(writeChromeTraceFile([join(out, 'nope')], join(out, 'x.json')), /nope: no such file or directory/);
    assert.equal(existsSync(join(out, 'x.json')), false, 'no half trace left behind');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a version 1 recording exports: its records, its gap and its drop count', async () => {
  const v1 = new URL('../../../test/klog/fixtures/v1-recording', import.meta.url).pathname;
  const trace = JSON.parse(await exportToString([v1])) as ChromeTrace;
  const engine = await parseWithTraceEngine(trace.traceEvents);
  const threads = threadsByName(engine);
  assert.deepEqual([...threads.keys()].sort(), ['cpu0 · main thread', 'cpu1 · thread 1']);
  assert.equal(engine.traceEvents.filter((e) => e.cat === 'klog' && e.ph === 'I').length, 9);
  assert.deepEqual(
    engine.traceEvents.filter((e) => e.cat === 'loss').map((e) => e.name),
    ['lost 1 record', 'channel dropped 1'],
  );
});

test('recordings from two hosts: each a process, their clocks put on one scale as merge does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-chrome-hosts-'));
  try {
    // Both hosts traced at the same wall time; host b's monotonic clock reads 4 ms less then.
    for (const [host, wall] of [
      ['a', '1000000000'],
      ['b', '1004000000'],
    ] as const) {
      const d = join(dir, host);
      mkdirSync(d);
      writeFileSync(join(d, 'cpu0'), encodeRecord({ type: 'text', timestamp: host === 'a' ? 5_000_000 : 1_000_000, seq: 0, thread: 0, buffer: 0 }, `on ${host}`));
      writeFileSync(join(d, 'relayfs.json'), JSON.stringify({ source: `nats ${host}`, buffers: [], origin: { host, producer: 'p', monotonicToWallNs: wall } }));
    }
    const trace = JSON.parse(await exportToString([dir])) as ChromeTrace;
    const ev = (name: string) => trace.traceEvents.find((e) => e.name === name)!;
    assert.notEqual(ev('on a').pid, ev('on b').pid);
    assert.equal(ev('on a').ts, ev('on b').ts);
    assert.ok(trace.traceEvents.some((e) => e.ph === 'M' && e.name === 'process_name' && String(e.args?.name).endsWith('b/p')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A span or counter payload (docs/klog-format.md). */
function spanPayload(id: number, name: string, json = ''): Buffer {
  const n = Buffer.from(name);
  const p = Buffer.alloc(10 + n.length + json.length);
  p.writeUInt32LE(id, 0);
  p.writeUInt16LE(n.length, 8);
  n.copy(p, 10);
  p.write(json, 10 + n.length);
  return p;
}

test('a dump that starts mid-way, a lost end, crossing and unfinished spans: markers, async tracks, and a thread track that still nests', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-chrome-edges-'));
  try {
    const r = (seq: number, us: number, type: 'text' | 'span-begin' | 'span-end', body: Buffer | string) =>
      encodeRecord({ type, timestamp: us * 1000, seq, thread: 7, buffer: 0 }, body);
    writeFileSync(
      join(dir, 'cpu0'),
      Buffer.concat([
        r(3, 5, 'span-end', spanPayload(99, 'older')), // its begin was overwritten: the dump starts at #3
        r(4, 10, 'span-begin', spanPayload(1, 'A')),
        r(5, 20, 'span-begin', spanPayload(2, 'B')),
        r(6, 30, 'span-end', spanPayload(1, 'A')), // ends while B is open: crossing
        r(7, 35, 'span-begin', spanPayload(3, 'C')),
        r(8, 40, 'span-end', spanPayload(3, 'C')),
        r(10, 50, 'span-end', spanPayload(2, 'B')), // #9 lost
        r(11, 60, 'span-begin', spanPayload(4, 'D', '{"x":1}')), // never ends
        r(12, 70, 'text', 'last'),
      ]),
    );
    const trace = JSON.parse(await exportToString([dir])) as ChromeTrace;
    const engine = await parseWithTraceEngine(trace.traceEvents);
    const thread = threadsByName(engine).get('cpu0 · thread 7')!;
    const nodes = [...walk(thread.tree!.roots)];
    const node = (name: string) => nodes.find((n) => n.entry.name === name)!;
    assert.deepEqual(ancestry(node('C')), ['C', 'B']);
    assert.deepEqual([node('B').entry.ts, node('B').entry.dur], [20, 30]);
    assert.deepEqual(ancestry(node('last')), ['last', 'D']);
    assert.deepEqual([node('D').entry.dur, node('D').entry.args?.unfinished, node('D').entry.args?.x], [10.001, true, 1]);
    assert.equal(
      nodes.some((n) => n.entry.name === 'A'),
      false,
      'A is not on the thread track',
    );
    const a = engine.traceEvents.filter((e) => e.name === 'A');
    assert.deepEqual(
      a.map((e) => [e.ph, e.ts]),
      [
        ['b', 10],
        ['e', 30],
      ],
    );
    const markers = engine.traceEvents.filter((e) => e.cat === 'loss').map((e) => e.name);
    assert.deepEqual(markers, ['3 earlier records not here', 'lost 1 record']);
    assert.ok(engine.traceEvents.some((e) => e.name === 'end of older (its begin is not in the recording)'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
