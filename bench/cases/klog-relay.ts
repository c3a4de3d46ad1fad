// klog with a relay channel as handler: one thread calls klog (text) or klogRaw at full speed, one
// thread readInto()s its relay file and decodes the records. A message here is one record; its size
// is the payload's (the formatted text or the raw bytes), the 32-byte header comes on top.
import { HostFs, hostfsCallbacks, relayClose, relayOpen } from '../../src/index.js';
import { runThreads } from '../threads.js';
import { RING_BYTES, type BenchCase, type RunResult } from '../types.js';
import type { Kind } from './klog-relay-worker.js';

const worker = new URL('./klog-relay-worker.js', import.meta.url);
const SUBBUF = 256 * 1024; // the same 16 × 256 KiB as the relayfs cases
let fsCount = 0;

function klogCase(name: string, kind: Kind, sizes: readonly number[], description: string): BenchCase {
  return {
    name,
    family: 'klog',
    description,
    sizes,
    async run(size, opts): Promise<RunResult> {
      const fs = HostFs.get(`bench-klog-${process.pid}-${fsCount++}`);
      const chan = relayOpen('klog', null, SUBBUF, RING_BYTES / SUBBUF, hostfsCallbacks(fs), undefined, { buffers: 1 });
      try {
        // Three Int32 words between the threads (see the worker).
        const data = { handle: chan.handle(), entry: fs.files()[0], words: new SharedArrayBuffer(12), kind };
        return await runThreads(size, opts, { url: worker, data }, { url: worker, data });
      } finally {
        relayClose(chan);
      }
    },
  };
}

export const klogRelayCases: readonly BenchCase[] = [
  klogCase('klog-text+read', 'text', [16, 64, 256], "klog('req %s %d', str, i) into a relay channel; consumer readInto + decodeRecords, checks sequence numbers and text"),
  klogCase('klog-raw+read', 'raw', [16, 64, 256, 4096], 'klogRaw(bytes) into a relay channel; consumer readInto + decodeRecords, checks sequence numbers and stamps'),
];
