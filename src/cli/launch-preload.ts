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

if (isMainThread && process.env[LAUNCH_ENV] === '1') {
  delete process.env[LAUNCH_ENV]; // programs this one starts are not set up again
  const chan = relayOpen('cpu', hostfs.createDir('relayfs'), 256 * 1024, 16, hostfsCallbacks(), null);
  registerKlogHandler(chan);
  const server = await exposeRelayFiles();
  // The IPC channel must not keep the program alive, except while the recording drains.
  process.channel?.unref();
  process.once('beforeExit', () => {
    relayClose(chan);
    process.channel?.ref();
    process.once('message', (m) => {
      if (m !== LAUNCH_DONE) return;
      process.disconnect?.();
      void server.close();
    });
  });
}
