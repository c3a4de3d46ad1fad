// Every benchmark case, in report order. To add one: write bench/cases/<name>.ts exporting a
// BenchCase (see types.ts) and add it here. Cases of family 'relayfs' become the subject of
// the ratios automatically.
import { copyLimitCases } from './cases/copy-limit.js';
import { firstLapCases } from './cases/first-lap.js';
import { klogOffCases } from './cases/klog-off.js';
import { klogRelayCases } from './cases/klog-relay.js';
import { messagePort, messagePortBatch } from './cases/message-port.js';
import { referenceRing, referenceRingDrop } from './cases/reference-ring.js';
import { relayfsCases } from './cases/relayfs.js';
import { ringbufJs } from './cases/ringbuf.js';
import { threadStream } from './cases/thread-stream.js';
import type { BenchCase } from './types.js';

export const registry: readonly BenchCase[] = [
  ...copyLimitCases,
  referenceRing,
  referenceRingDrop,
  ...relayfsCases,
  messagePort,
  messagePortBatch,
  threadStream,
  ringbufJs,
  ...klogOffCases,
  ...klogRelayCases,
  ...firstLapCases,
];
