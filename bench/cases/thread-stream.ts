// Peer case: thread-stream, the worker-thread stream behind pino transports.
import { runThreads } from '../threads.js';
import { RING_BYTES, SIZES, type BenchCase } from '../types.js';

const worker = new URL('./thread-stream-worker.js', import.meta.url);

export const threadStream: BenchCase = {
  name: 'thread-stream',
  family: 'peer',
  description: 'thread-stream (pino transport) write() of a string per message; its worker checks them',
  sizes: SIZES,
  // The consumer thread belongs to thread-stream, so only the producer is ours to spawn.
  run: (size, opts) => runThreads(size, opts, { url: worker, data: { bufferSize: RING_BYTES } }),
};
