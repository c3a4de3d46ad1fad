/**
 * The shared-memory channel buffer as pure logic: layout, writer side, reader
 * side. No Node.js API: runs wherever SharedArrayBuffer and Atomics exist.
 */
export { BufferMemory, MAX_BUFFER_BYTES, MAX_SUBBUFS, controlBytes, type Geometry } from './layout.js';
export { BufferWriter, setWriterIdentity, setWriterMayBlock, spinPause, type SubbufStart } from './writer.js';
export { BufferReader, type BufferStats } from './reader.js';
