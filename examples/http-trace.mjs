// Traces an HTTP server with klog, from the main thread (requests) and from
// worker threads (the work each request hands them), records the channel to
// disk and prints the merged trace. Binds 127.0.0.1 on a free port, sends
// its own requests, and exits by itself.
//
//   node examples/http-trace.mjs [requests]      (in a clone: npm run build first)
import { createServer, get } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { HostfsSource, hostfs, hostfsCallbacks, klog, klogAttach, merge, record, registerKlogHandler, relayClose, relayOpen, unregisterKlogHandler } from 'relayfs';

const WORKERS = 2;

if (isMainThread) await main();
else if (workerData?.kind === 'http-trace') await worker();

async function main() {
  const requests = Number(process.argv[2] ?? 12);
  const guard = setTimeout(() => {
    console.error('http-trace: took longer than 20 s, giving up');
    process.exit(1);
  }, 20_000);
  guard.unref();

  // One buffer per tracing thread: the main thread and each worker.
  const dir = hostfs.createDir('http-trace');
  const chan = relayOpen('cpu', dir, 16 * 1024, 8, hostfsCallbacks(), undefined, { buffers: 1 + WORKERS });
  registerKlogHandler(chan);
  const out = mkdtempSync(join(tmpdir(), 'http-trace-'));
  const stopRecording = new AbortController();
  const recording = record({ source: new HostfsSource('/http-trace'), outDir: out, signal: stopRecording.signal });

  const workers = Array.from({ length: WORKERS }, (_, id) => new Worker(new URL(import.meta.url), { workerData: { kind: 'http-trace', id, handle: chan.handle() } }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const pending = new Map();
  let nextJob = 0;
  for (const w of workers) w.on('message', ({ job, result }) => pending.get(job)?.(result));

  const server = createServer((req, res) => {
    const job = nextJob++;
    klog('http %s %s job=%d', req.method, req.url, job);
    pending.set(job, (result) => {
      pending.delete(job);
      klog('http %s done job=%d status=200 bytes=%d', req.url, job, result.length);
      res.end(result);
    });
    workers[job % WORKERS].postMessage({ job, path: req.url });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  klog('listening on 127.0.0.1:%d', port);

  await Promise.all(
    Array.from(
      { length: requests },
      (_, i) =>
        new Promise((resolve, reject) => {
          get({ host: '127.0.0.1', port, path: `/items/${i}` }, (res) => {
            res.resume();
            res.on('end', resolve);
          }).on('error', reject);
        }),
    ),
  );

  await new Promise((resolve) => server.close(resolve));
  klog('server closed after %d requests', requests);
  for (const w of workers) w.postMessage({ stop: true });
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  unregisterKlogHandler();
  relayClose(chan); // the recorder sees the hangup, drains and finishes
  const summary = await recording;
  hostfs.remove(dir);

  console.log(`recorded ${summary.totals.records} records (${summary.totals.lost} lost) into ${out}; merged:`);
  await merge({ inputs: [out], out: process.stdout });
  rmSync(out, { recursive: true, force: true });
  clearTimeout(guard);
}

async function worker() {
  await klogAttach(workerData.handle);
  parentPort.postMessage('ready');
  parentPort.on('message', (msg) => {
    if (msg.stop) return parentPort.close();
    klog('worker %d start job=%d %s', workerData.id, msg.job, msg.path);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) sum += i % 7; // pretend work
    klog('worker %d end job=%d sum=%d', workerData.id, msg.job, sum);
    parentPort.postMessage({ job: msg.job, result: `item ${msg.path} ${sum}\n` });
  });
}
