/**
 * A demo writer thread: traces with klog at full speed (text records and
 * every 16th a raw one) until the main thread sets the stop word, then
 * reports how many records it made.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { ChannelHandle } from '../index.js';
import { klog, klogAttach, klogRaw, klogStats } from '../klog/index.js';

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
  // The first batch goes before "ready", so every worker has traced by the time the clock starts.
  do {
    for (let j = 0; j < 32; j++, i++) {
      if ((i & 15) === 15) {
        view.setUint32(0, i, true);
        view.setFloat64(8, performance.now(), true);
        klogRaw(raw);
      } else {
        klog('worker %d request %d %s status=%d', data.id, i, PATHS[i & 3], 200);
      }
    }
    if (i === 32) parentPort!.postMessage({ type: 'ready', id: data.id });
  } while (Atomics.load(data.stop, 0) === 0);
  const result: DemoWorkerResult = { type: 'done', id: data.id, threadId, cpu: chan.own?.cpu ?? -1, stats: klogStats() };
  parentPort!.postMessage(result);
}

if (parentPort && (workerData as DemoWorkerData | undefined)?.kind === 'relayfs-demo') await main(workerData as DemoWorkerData);
