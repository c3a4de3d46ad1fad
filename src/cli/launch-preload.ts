/**
 * Loaded with --import into a program that `relayfs record -- CMD` launches:
 * in its main thread, one channel with a buffer per thread (relay files
 * /relayfs/cpu0..), klog registered on it, and the relay files exposed to
 * the recording process. When the program's event loop empties, the channel
 * is closed, and the program waits (on the IPC channel to relayfs) until the
 * recording has read everything and the final counters.
 */
import { isMainThread } from 'node:worker_threads';
import { relayClose, relayOpen } from '../channel/api.js';
import { hostfs, hostfsCallbacks } from '../hostfs/hostfs.js';
import { registerKlogHandler } from '../klog/trace.js';
import { exposeRelayFiles } from '../remote/server.js';
import '../threads.js';

export const LAUNCH_ENV = 'RELAYFS_RECORD_LAUNCH';
/** Sent by relayfs record once it has drained the closed channel. */
export const LAUNCH_DONE = 'relayfs:recorded';
/** Sent by relayfs record once it follows every relay file of the program. */
export const LAUNCH_ATTACHED = 'relayfs:following';

if (isMainThread && process.env[LAUNCH_ENV] === '1') {
  delete process.env[LAUNCH_ENV]; // programs this one starts are not set up again
  const chan = relayOpen('cpu', hostfs.createDir('relayfs'), 256 * 1024, 16, hostfsCallbacks(), null);
  registerKlogHandler(chan);
  const server = await exposeRelayFiles();
  // The channel is closed when the program is done and the recording follows every file
  // (closed earlier, a file it had not opened yet would be gone); the program then stays
  // until the recording has drained it.
  let attached = false;
  let done = false;
  process.on('message', (m) => {
    if (m === LAUNCH_ATTACHED) {
      attached = true;
      if (done) relayClose(chan);
    } else if (m === LAUNCH_DONE) {
      process.disconnect?.();
      void server.close();
    }
  });
  process.channel?.unref(); // the IPC channel must not keep the program alive by itself
  process.once('beforeExit', () => {
    done = true;
    process.channel?.ref();
    if (attached) relayClose(chan);
  });
}
