// Peer cases: MessagePort.postMessage between two worker threads, per message and in batches of 64.
import { MessageChannel } from 'node:worker_threads';
import { runThreads } from '../threads.js';
import { SIZES, type BenchCase } from '../types.js';

const worker = new URL('./message-port-worker.js', import.meta.url);

function portCase(batch: number): BenchCase {
  return {
    name: batch === 1 ? 'message-port' : `message-port-batch${batch}`,
    family: 'peer',
    description: batch === 1 ? 'MessagePort.postMessage of each message (structured clone)' : `MessagePort.postMessage of ${batch} messages packed into one buffer`,
    sizes: SIZES,
    run(size, opts) {
      const { port1, port2 } = new MessageChannel();
      const credits = new SharedArrayBuffer(8);
      return runThreads(
        size,
        opts,
        { url: worker, data: { port: port1, batch, credits }, transfer: [port1] },
        { url: worker, data: { port: port2, batch, credits }, transfer: [port2] },
      );
    },
  };
}

export const messagePort = portCase(1);
export const messagePortBatch = portCase(64);
