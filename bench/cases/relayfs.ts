// The subject: relayfs end to end, one writer thread and one reader thread, through the public API.
import { HostFs, hostfsCallbacks, relayClose, relayOpen } from '../../src/index.js';
import { runThreads } from '../threads.js';
import { RING_BYTES, SIZES, type BenchCase, type RunResult } from '../types.js';
import type { ReadPath, WritePath } from './relayfs-worker.js';

const worker = new URL('./relayfs-worker.js', import.meta.url);
// Same 4 MiB of data as every ring here; sub-buffers big enough for the largest message.
const SUBBUF = 256 * 1024;
let fsCount = 0;

/** Blocking mode's timeout in the lossless cases: long enough never to expire while a reader runs. */
const BLOCKING_MS = 10_000;
/** Batched publication, as the README recommends for throughput: one atomic operation per 4 KiB, as the reference ring. */
const BATCH_BYTES = 4096;

interface Extra {
  overwrite?: boolean;
  writers?: number;
  /** Blocking (lossless) mode. */
  lossless?: boolean;
  /** Reported ÷ this case, against a target (≥ 1.0× the lossless reference ring). */
  versus?: string;
  /** Data bytes per buffer (default RING_BYTES, as every ring here); a larger buffer is pretouched at open. */
  bufferBytes?: number;
  sizes?: readonly number[];
  /** Publish every message as it is written (no publishBatchBytes). */
  perMessage?: boolean;
}

function relayfsCase(name: string, description: string, write: WritePath, read: ReadPath, extra: Extra = {}): BenchCase {
  const { overwrite = false, writers = 1, lossless = false, bufferBytes = RING_BYTES, perMessage = false } = extra;
  return {
    name,
    family: writers > 1 || bufferBytes !== RING_BYTES ? 'scaling' : 'relayfs', // not like for like with the rings: reported, never in the ratios
    description: perMessage || write === 'reserve' ? description : `${description}; batched publication (publishBatchBytes ${BATCH_BYTES})`,
    sizes: extra.sizes ?? SIZES,
    versus: extra.versus ? { name: extra.versus, atLeast: 1 } : undefined,
    async run(size, opts): Promise<RunResult> {
      const fs = HostFs.get(`bench-${process.pid}-${fsCount++}`);
      const callbacks = overwrite ? { ...hostfsCallbacks(fs), subbufStart: () => 1, module: new URL('./relayfs-overwrite.js', import.meta.url).href } : hostfsCallbacks(fs);
      const chan = relayOpen('cpu', null, SUBBUF, bufferBytes / SUBBUF, callbacks, undefined, {
        buffers: writers,
        blockingTimeoutMs: lossless ? BLOCKING_MS : undefined,
        pretouch: bufferBytes > RING_BYTES, // its first lap would be most of a run: measure the hand-over, not page faults
        publishBatchBytes: perMessage ? undefined : BATCH_BYTES,
      });
      try {
        const data = { handle: chan.handle(), entries: fs.files(), done: new SharedArrayBuffer(4), write, read, overwrite };
        const producers = Array.from({ length: writers }, () => ({ url: worker, data }));
        return await runThreads(size, opts, producers, { url: worker, data });
      } finally {
        relayClose(chan);
      }
    },
  };
}

export const relayfsCases: readonly BenchCase[] = [
  relayfsCase('relayfs-write+read', 'relayWrite; consumer readWholeInto (copy out, consume)', 'write', 'read'),
  relayfsCase('relayfs-lean+read', '__relayWrite (no checks); consumer readWholeInto', 'lean', 'read'),
  relayfsCase('relayfs-reserve+read', 'relayReserveOffset, message built in place; consumer readWholeInto', 'reserve', 'read'),
  relayfsCase('relayfs-write+mmap', 'relayWrite; consumer mmap + relaySubbufsConsumed (zero-copy)', 'write', 'mmap', { versus: 'reference-ring' }),
  relayfsCase('relayfs-unbatched+mmap', 'as relayfs-write+mmap, each message published as it is written (no publishBatchBytes)', 'write', 'mmap', { perMessage: true }),
  relayfsCase('relayfs-lossless+read', 'blocking mode (the writer waits while full), relayWrite; consumer readWholeInto', 'write', 'read', {
    lossless: true,
    versus: 'reference-ring',
  }),
  relayfsCase('relayfs-lossless+mmap', 'blocking mode, relayWrite; consumer mmap + relaySubbufsConsumed', 'write', 'mmap', { lossless: true, versus: 'reference-ring' }),
  // The drop share once the buffer outlasts the VM's scheduler stops (0.1–7 ms; 4 MiB fills in 0.4 ms at 10 GB/s).
  relayfsCase('relayfs-write+mmap-64MiB', 'as relayfs-write+mmap with 64 MiB per buffer (pretouched): drops when the buffer outlasts scheduler stops', 'write', 'mmap', {
    bufferBytes: 64 * 1024 * 1024,
    sizes: [4096, 65536],
  }),
  relayfsCase('relayfs-2writers+read', 'two writer threads, a buffer each, relayWrite; one consumer readWholeInto both', 'write', 'read', { writers: 2 }),
  relayfsCase('relayfs-overwrite', 'overwrite (flight recorder) mode, relayWrite; consumer readWholeInto; overwritten messages counted as dropped', 'write', 'read', {
    overwrite: true,
  }),
];
