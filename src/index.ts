/**
 * relayfs: the Linux kernel relay interface for JavaScript.
 * This Node.js entry adds the host filesystem and file operations to the
 * pure core (buffer/, channel/).
 */
import { availableParallelism } from 'node:os';
import { isMainThread, threadId } from 'node:worker_threads';
import { setWriterIdentity, setWriterMayBlock } from './buffer/index.js';
import { setDefaultBufferCount } from './channel/api.js';
import { recoverWriter } from './channel/channel.js';

setDefaultBufferCount(availableParallelism());
setWriterIdentity(threadId + 1);
// Blocking mode never stalls the main thread's event loop: there a full buffer drops and counts.
setWriterMayBlock(!isMainThread);
// A worker terminated while it held a buffer lock (inside a switch) would
// leave that buffer locked: release it when the worker exits.
process.on('worker', (worker) => {
  const identity = worker.threadId + 1;
  worker.once('exit', () => recoverWriter(identity));
});

export * from './channel/index.js';
export {
  RelayError,
  type RelayErrorCode,
  type ChannelErrorCode,
  type KlogFormatErrorCode,
  type ProtocolErrorCode,
  type ConnectionErrorCode,
  type RemoteErrorCode,
  type SourceErrorCode,
} from './errors.js';
export type { BufferStats } from './buffer/index.js';
export * from './hostfs/index.js';
export * from './remote/index.js';
export {
  klog,
  klogv,
  klogRaw,
  klogEnabled,
  klogStats,
  klogAttach,
  klogSpan,
  klogBegin,
  klogEnd,
  klogCounter,
  klogDiagnostics,
  readSpanBegin,
  readSpanEnd,
  readCounter,
  registerKlogHandler,
  unregisterKlogHandler,
  decodeRecords,
  KlogDecoder,
  KlogScanner,
  recordText,
  encodeRecord,
  KlogFormatError,
  KLOG_VERSION,
  KLOG_HEADER_SIZE,
  type KlogRecord,
  type KlogStats,
  type KlogHandlerOptions,
  type KlogFunctionHandler,
  type TruncatedTail,
  type SpanArgs,
  type SpanId,
  type KlogDiagnosticsOptions,
  type KlogAttachOptions,
} from './klog/index.js';
export {
  record,
  merge,
  exportChromeTrace,
  writeChromeTraceFile,
  openFlightRecorder,
  FlightRecorder,
  openSource,
  registerSourceScheme,
  HostfsSource,
  DiskSource,
  SourceError,
  SIDECAR_NAME,
  type RecordOptions,
  type RecordProgress,
  type MergeOptions,
  type MergeSummary,
  type ChromeExportOptions,
  type ChromeExportSummary,
  type FlightRecorderOptions,
  type DumpResult,
  type Sidecar,
  type BufferSummary,
  type RelaySource,
  type SourceFile,
  type SourceEntry,
  type SourcePoll,
} from './tools/index.js';
