/**
 * Per-thread set-up on Node.js, imported for its effect by every module that
 * opens, attaches or writes a channel from Node (the package entry, klog, the
 * tools): module state is per thread, so each thread runs this once.
 * - its writer identity (for lock recovery), the thread id + 1;
 * - the number of buffers relayOpen makes when not told: the parallelism;
 * - whether a writer may wait for a reader in blocking mode (not the main thread);
 * - a worker terminated while it held a buffer lock (inside a switch) would
 *   leave that buffer locked: the lock is released when the worker exits.
 */
import { availableParallelism } from 'node:os';
import { isMainThread, threadId } from 'node:worker_threads';
import { setWriterIdentity, setWriterMayBlock } from './buffer/writer.js';
import { setDefaultBufferCount } from './channel/api.js';
import { recoverWriter } from './channel/channel.js';

setDefaultBufferCount(availableParallelism());
setWriterIdentity(threadId + 1);
// Blocking mode never stalls the main thread's event loop: there a full buffer drops and counts.
setWriterMayBlock(!isMainThread);
process.on('worker', (worker) => {
  const identity = worker.threadId + 1;
  worker.once('exit', () => recoverWriter(identity));
});
