/**
 * A demo writer thread: handles made-up requests at full speed, each one a
 * klog span with a text record, a nested span around a raw record and a
 * counter, until the main thread sets the stop word; then reports how many
 * records it made.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { ChannelHandle } from '../channel/channel.js';
import { klog, klogAttach, klogCounter, klogRaw, klogSpan, klogStats } from '../klog/index.js';

export interface DemoWorkerData {
  kind: 'relayfs-demo';
  id: number;
  handle: ChannelHandle;
  /** Int32 word 0: set to 1 to stop. */
  stop: Int32Array;
}

export interface DemoWorkerResult {
  type: 'done';
  id: number;
  threadId: number;
  /** The buffer this thread wrote to. */
  cpu: number;
  stats: ReturnType<typeof klogStats>;
}

const PATHS = ['/', '/api/users', '/api/orders/42', '/static/app.js'];

async function main(data: DemoWorkerData): Promise<void> {
  const chan = await klogAttach(data.handle);
  const raw = new Uint8Array(24);
  const view = new DataView(raw.buffer);
  let i = 0;
  const store = () => {
    view.setUint32(0, i, true);
    view.setFloat64(8, performance.now(), true);
    klogRaw(raw);
  };
  // One request: 7 records (span begin, text, nested span begin, raw, its end, counter, end).
  const handle = () => {
    klog('worker %d request %d %s status=%d', data.id, i, PATHS[i & 3], 200);
    klogSpan('store', store);
    klogCounter('requests handled', i + 1);
  };
  // The first batch goes before "ready", so every worker has traced by the time the clock starts.
  do {
    for (let j = 0; j < 8; j++, i++) klogSpan('request', { path: PATHS[i & 3] }, handle);
    if (i === 8) parentPort!.postMessage({ type: 'ready', id: data.id });
  } while (Atomics.load(data.stop, 0) === 0);
  const result: DemoWorkerResult = { type: 'done', id: data.id, threadId, cpu: chan.own?.cpu ?? -1, stats: klogStats() };
  parentPort!.postMessage(result);
}

if (parentPort && (workerData as DemoWorkerData | undefined)?.kind === 'relayfs-demo') await main(workerData as DemoWorkerData);
