/** klog: trace helpers, the record format and its decoder. */
export {
  klog,
  klogv,
  klogRaw,
  klogEnabled,
  klogStats,
  registerKlogHandler,
  unregisterKlogHandler,
  type KlogFunctionHandler,
  type KlogHandlerOptions,
  type KlogStats,
} from './trace.js';
export { klogAttach, type KlogAttachOptions } from './attach.js';
export { klogDiagnostics, type KlogDiagnosticsOptions, type KlogDiagnosticsOff } from './diagnostics.js';
export { klogSpan, klogBegin, klogEnd, klogCounter, type SpanArgs, type SpanId } from './span.js';
export { readSpanBegin, readSpanEnd, readCounter, describeRecord, type SpanBegin, type SpanEnd, type CounterSample } from './structured.js';
export { klogNow } from './clock.js';
export { encodeRecord, writeHeader, type KlogHeaderFields } from './encoder.js';
export { KlogDecoder, KlogScanner, checkHeader, decodeRecords, recordText, type TruncatedTail } from './decoder.js';
export {
  KLOG_FLAG_TRUNCATED,
  KLOG_HEADER_SIZE,
  KLOG_MAGIC,
  KLOG_NO_BUFFER,
  KLOG_MIN_VERSION,
  KLOG_TYPE_COUNTER,
  KLOG_TYPE_RAW,
  KLOG_TYPE_SPAN_BEGIN,
  KLOG_TYPE_SPAN_END,
  KLOG_TYPE_TEXT,
  KLOG_VERSION,
  KlogFormatError,
  type KlogFormatErrorCode,
  type KlogRecord,
  type KlogType,
} from './format.js';
