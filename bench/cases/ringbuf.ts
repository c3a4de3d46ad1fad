// Peer case: ringbuf.js (a wait-free SPSC RingBuffer over a SharedArrayBuffer) carrying raw bytes.
import { RingBuffer } from 'ringbuf.js';
import { runThreads } from '../threads.js';
import { RING_BYTES, SIZES, type BenchCase } from '../types.js';

const worker = new URL('./ringbuf-worker.js', import.meta.url);

export const ringbufJs: BenchCase = {
  name: 'ringbuf.js',
  family: 'peer',
  description: 'ringbuf.js RingBuffer of bytes: producer push(), consumer pop() into a message buffer; both poll',
  sizes: SIZES,
  run(size, opts) {
    const data = {
      sab: RingBuffer.getStorageForCapacity(RING_BYTES, Uint8Array),
      control: new SharedArrayBuffer(4),
    };
    return runThreads(size, opts, { url: worker, data }, { url: worker, data });
  },
};
