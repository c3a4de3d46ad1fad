/**
 * Loaded with --import into a program that `relayfs record -- CMD` launches:
 * in its main thread, one channel with a buffer per thread (relay files
 * /relayfs/cpu0..), klog registered on it, and the relay files exposed to
 * the recording process. The program's own code starts once the recording
 * follows every file. When the program's event loop empties, the channel
 * is closed, and the program waits (on the IPC channel to relayfs) until the
 * recording has read everything and the final counters. When it ends early
 * (process.exit, an uncaught exception, SIGINT/SIGTERM/SIGHUP), its 'exit'
 * hook closes the channel and blocks until the serving thread has sent the
 * recording the tail (at most EXIT_DRAIN_MS): what the program logged before
 * it died is recorded too.
 */
import { isMainThread } from 'node:worker_threads';
import { relayClose, relayOpen } from '../channel/api.js';
import { hostfs, hostfsCallbacks } from '../hostfs/hostfs.js';
import { registerKlogHandler } from '../klog/trace.js';
import { onProcessExit } from '../remote/exit-hooks.js';
import { drainedSync, exposeRelayFiles, type RelayFileServer } from '../remote/server.js';
import '../threads.js';

export const LAUNCH_ENV = 'RELAYFS_RECORD_LAUNCH';
/** Sent by relayfs record once it has drained the closed channel. */
export const LAUNCH_DONE = 'relayfs:recorded';
/** Sent by relayfs record once it follows every relay file of the program. */
export const LAUNCH_ATTACHED = 'relayfs:following';
/** Longest a starting program waits for the recording to follow its files. */
const ATTACH_TIMEOUT_MS = 30_000;
/** Longest an ending program waits for the recording to take its tail. */
const EXIT_DRAIN_MS = 10_000;

if (isMainThread && process.env[LAUNCH_ENV] === '1') {
  delete process.env[LAUNCH_ENV]; // programs this one starts are not set up again
  const chan = relayOpen('cpu', hostfs.createDir('relayfs'), 256 * 1024, 16, hostfsCallbacks(), null);
  registerKlogHandler(chan);
  let server: RelayFileServer | null = null;
  let attached = false;
  // Registered before the server's own hook, which removes the socket: the recording still needs it now.
  onProcessExit(() => {
    if (!server || chan.closed) return;
    relayClose(chan);
    // Every buffer read by the recording, and every response handed to the socket: then what the program
    // traced is on its way. The recording takes the lost connection that follows as the end of the data.
    const buffers = Array.from({ length: chan.bufferCount }, (_, cpu) => chan.buffer(cpu));
    drainedSync(server, () => buffers.every((b) => b.reader.drained()), EXIT_DRAIN_MS);
  });
  server = await exposeRelayFiles();
  // The channel is closed when the program is done and the recording follows every file
  // (closed earlier, a file it had not opened yet would be gone); the program then stays
  // until the recording has drained it.
  let done = false;
  process.on('message', (m) => {
    if (m === LAUNCH_ATTACHED) {
      attached = true;
      if (done) relayClose(chan);
    } else if (m === LAUNCH_DONE) {
      process.disconnect?.();
      void server?.close();
    }
  });
  // Like perf record: the program's own code starts once the recording follows every file, so that
  // a program that ends at once (even by an uncaught exception) is recorded whole.
  if (process.channel && !attached) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ATTACH_TIMEOUT_MS);
      const onAttach = (m: unknown): void => {
        if (m !== LAUNCH_ATTACHED) return;
        clearTimeout(timer);
        process.off('message', onAttach);
        resolve();
      };
      process.on('message', onAttach);
    });
  }
  process.channel?.unref(); // the IPC channel must not keep the program alive by itself
  process.once('beforeExit', () => {
    done = true;
    process.channel?.ref();
    if (attached) relayClose(chan);
  });
}
