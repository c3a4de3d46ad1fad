/**
 * Per-thread set-up on Node.js, imported for its effect by every module that
 * opens, attaches or writes a channel from Node (the package entry, klog, the
 * tools): module state is per thread, so each thread runs this once.
 * - its writer identity (for lock recovery), the thread id + 1;
 * - the number of buffers relayOpen makes when not told: the parallelism;
 * - the default memory limit of one channel: half the machine's memory;
 * - whether a writer may wait for a reader in blocking mode (not the main thread);
 * - a worker terminated while it held a buffer lock (inside a switch) would
 *   leave that buffer locked: the lock is released when the worker exits.
 */
import { availableParallelism, totalmem } from 'node:os';
import { isMainThread, threadId } from 'node:worker_threads';
import { setWriterIdentity, setWriterMayBlock } from './buffer/writer.js';
import { setChannelMemoryLimit, setDefaultBufferCount } from './channel/api.js';
import { recoverWriter } from './channel/channel.js';

setDefaultBufferCount(availableParallelism());
// A channel larger than half the machine's memory is refused at open (ERELAY_NOMEM), not when first touched.
setChannelMemoryLimit(Math.max(1, Math.floor(totalmem() / 2)));
setWriterIdentity(threadId + 1);
// Blocking mode never stalls the main thread's event loop: there a full buffer drops and counts.
setWriterMayBlock(!isMainThread);
process.on('worker', (worker) => {
  const identity = worker.threadId + 1;
  worker.once('exit', () => recoverWriter(identity));
});
