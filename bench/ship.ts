// relay channel → NATS JetStream: how many bytes/s ship() moves from one relay channel (one
// writer thread calling klogRaw at full speed, 16 × 256 KiB buffer) into a stream on a local
// nats-server, beside a plain publish loop of the same client with the same message sizes
// (one acknowledged publish at a time, as ship keeps per buffer, and 16 in flight: the client's
// own limit). What ship cannot keep up with is dropped by the channel and counted.
// Run: node dist/bench/ship.js (npm run bench runs it at the end when nats-server is installed).
import { Worker } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { HostFs, hostfsCallbacks, relayClose, relayOpen } from '../src/index.js';
import { ship } from '../src/ship/index.js';
import { HostfsSource } from '../src/tools/hostfs-source.js';
import { NatsServer } from '../test/ship/nats-server.js';

const DURATION_MS = Number(process.env.SHIP_BENCH_MS ?? 1500);
const SIZES = [256, 4096];

const writer = `
import { workerData, parentPort } from 'node:worker_threads';
import { klogAttach, klogRaw, klogStats, relayFlush } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
const chan = await klogAttach(workerData.handle);
chan.claim();
const src = new Uint8Array(workerData.size).fill(7);
const end = performance.now() + workerData.ms;
let n = 0;
while (performance.now() < end) for (let i = 0; i < 256; i++, n++) klogRaw(src);
relayFlush(chan);
parentPort.postMessage(klogStats());
`;

interface Row {
  size: number;
  /** Bytes/s the writer tried to write (records incl. their 32-byte headers, kept or dropped). */
  offeredBps: number;
  shipBps: number;
  messageBytes: number;
  messages: number;
  dropped: number;
  written: number;
  serialBps: number;
  windowBps: number;
}

async function shipRun(server: NatsServer, size: number): Promise<Omit<Row, 'serialBps' | 'windowBps'>> {
  const fs = HostFs.get(`bench-ship-${size}`);
  const chan = relayOpen('klog', fs.createDir('b'), 256 * 1024, 16, hostfsCallbacks(fs), undefined, { buffers: 1 });
  const shipping = ship({ source: new HostfsSource('/b', fs), nats: server.url(), stream: 'BENCH', createStream: true, latency: 20, producer: `s${size}` });
  await shipperReady(server, `relayfs.*.s${size}.*.*.counters`); // connected, stream checked, buffers open
  const t0 = performance.now();
  const w = new Worker(writer, { eval: true, workerData: { handle: chan.handle(), size, ms: DURATION_MS } });
  const stats = await new Promise<{ written: number; dropped: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  relayClose(chan);
  const s = await shipping;
  const seconds = (performance.now() - t0) / 1000;
  const writeSeconds = DURATION_MS / 1000;
  return {
    size,
    offeredBps: ((stats.written + stats.dropped) * (size + 32)) / writeSeconds,
    shipBps: s.totals.bytes / seconds,
    messageBytes: s.totals.messages ? Math.round(s.totals.bytes / s.totals.messages) : 0,
    messages: s.totals.messages,
    dropped: stats.dropped,
    written: stats.written,
  };
}

/** Waits until ship has published its first counters: from then on it reads. */
async function shipperReady(server: NatsServer, filter: string): Promise<void> {
  const nc = await connect({ servers: server.url() });
  const jsm = await jetstreamManager(nc);
  for (;;) {
    const info = await jsm.streams.info('BENCH', { subjects_filter: filter }).catch(() => null);
    if (info && Object.keys(info.state.subjects ?? {}).length > 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await nc.close();
}

/** Publishes `bytes`-sized messages for DURATION_MS with `window` publishes in flight; bytes/s acknowledged. */
async function publishLoop(server: NatsServer, bytes: number, window: number): Promise<number> {
  const nc = await connect({ servers: server.url() });
  const js = jetstream(nc);
  const data = new Uint8Array(bytes).fill(7);
  let acked = 0;
  const t0 = performance.now();
  const end = t0 + DURATION_MS;
  let seq = 0;
  const lane = async () => {
    while (performance.now() < end) {
      await js.publish(`relayfs.loop.${window}.x.0`, data, { msgID: `loop-${window}-${seq++}` });
      acked += bytes;
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const seconds = (performance.now() - t0) / 1000;
  await nc.close();
  return acked / seconds;
}

const server = await NatsServer.start();
try {
  const rows: Row[] = [];
  for (const size of SIZES) {
    const r = await shipRun(server, size);
    const serialBps = await publishLoop(server, r.messageBytes, 1);
    const windowBps = await publishLoop(server, r.messageBytes, 16);
    rows.push({ ...r, serialBps, windowBps });
    // The stream's file store grows with every run; start each size with an empty one.
    const nc = await connect({ servers: server.url() });
    await (await jetstreamManager(nc)).streams.purge('BENCH');
    await nc.close();
  }
  const mb = (b: number) => `${(b / 1e6).toFixed(1).padStart(7)} MB/s`;
  console.log(`ship: one relay channel → JetStream (nats-server ${server.version}, file store, loopback), ${DURATION_MS} ms of klogRaw at full speed per size`);
  console.log('  record    offered       ship()        msg size   publish loop, 1 in flight   16 in flight   dropped by the channel');
  for (const r of rows) {
    console.log(
      `  ${String(r.size).padStart(5)} B ${mb(r.offeredBps)} ${mb(r.shipBps)}  ${String(Math.round(r.messageBytes / 1024)).padStart(6)} KiB   ${mb(r.serialBps)} (ship ${(r.shipBps / r.serialBps).toFixed(2)}×)  ${mb(r.windowBps)}   ${((r.dropped / Math.max(1, r.written + r.dropped)) * 100).toFixed(0)} % of ${r.written + r.dropped} records`,
    );
  }
  console.log('  (ship() runs while the writer thread takes one of the cores; the publish loops run alone. With drops, ship() was the bottleneck.)');
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
} finally {
  await server.stop();
}
