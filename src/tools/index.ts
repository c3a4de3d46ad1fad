/** Consumer glue (the relay-apps of relay.rst): record, merge, flight recorder, and the sources they read. */
export { record, lostOf, yieldToEventLoop, type RecordOptions, type RecordProgress, type BufferProgress } from './record.js';
export { merge, LineBatcher, type MergeOptions, type MergeSummary } from './merge.js';
export { FlightRecorder, openFlightRecorder, type FlightRecorderOptions, type DumpResult } from './flight-recorder.js';
export { overwriteCallbacks } from './overwrite-callbacks.js';
export { openSource, registerSourceScheme, type SourceFactory } from './open-source.js';
export { RemoteSource, RemoteFile, socketOfPid, type RemoteSourceOptions } from './remote-source.js';
export { HostfsSource, HostfsFile } from './hostfs-source.js';
export { DiskSource } from './disk-source.js';
export { StreamSource } from './stream-source.js';
export { KlogReader } from './klog-reader.js';
export { SequenceTracker, type SequenceEvent, type WriterSummary } from './sequence.js';
export { lineWriter, type LineFormat, type LineWriter } from './record-lines.js';
export { SIDECAR_NAME, type Sidecar, type BufferSummary, type BufferDrops, type Totals } from './summary.js';
export { SourceError, splitBufferName, type RelaySource, type SourceEntry, type SourceFile, type SourcePoll } from './source.js';
export { exportChromeTrace, writeChromeTraceFile, type ChromeExportOptions, type ChromeExportProgress, type ChromeExportSummary } from './chrome-trace.js';
export { readFillSamples, FILL_SAMPLES_NAME, type FillSample } from './fill-samples.js';
