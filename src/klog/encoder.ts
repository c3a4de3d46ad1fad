/** Writes klog record headers (format.ts) into a caller's buffer. No allocation. */
import { describe, invalidArg } from '../errors.js';
import {
  typeCode,
  H_BUFFER,
  H_FLAGS,
  H_HEADER_SIZE,
  H_LENGTH,
  H_MAGIC,
  H_SEQ,
  H_THREAD,
  H_TS_HI,
  H_TS_LO,
  H_TYPE,
  H_VERSION,
  KLOG_HEADER_SIZE,
  KLOG_MAGIC,
  KLOG_VERSION,
  type KlogType,
} from './format.js';

const TWO_32 = 0x100000000;

export interface KlogHeaderFields {
  type: KlogType;
  length: number;
  /** Nanoseconds; a whole number below 2^53. */
  timestamp: number;
  seq: number;
  thread: number;
  buffer: number;
  flags?: number;
}

/**
 * Writes a header at byte `at` of the view. Takes the fields as arguments
 * rather than an object so the trace path allocates nothing.
 */
export function writeHeader(view: DataView, at: number, type: number, length: number, timestamp: number, seq: number, thread: number, buffer: number, flags: number): void {
  view.setUint16(at + H_MAGIC, KLOG_MAGIC, true);
  view.setUint8(at + H_VERSION, KLOG_VERSION);
  view.setUint8(at + H_TYPE, type);
  view.setUint32(at + H_LENGTH, length, true);
  const lo = timestamp % TWO_32;
  view.setUint32(at + H_TS_LO, lo, true);
  view.setUint32(at + H_TS_HI, (timestamp - lo) / TWO_32, true);
  view.setUint32(at + H_SEQ, seq >>> 0, true);
  view.setUint32(at + H_THREAD, thread >>> 0, true);
  view.setUint16(at + H_BUFFER, buffer & 0xffff, true);
  view.setUint8(at + H_HEADER_SIZE, KLOG_HEADER_SIZE);
  view.setUint8(at + H_FLAGS, flags);
  view.setUint32(at + 28, 0, true);
}

const utf8 = new TextEncoder();

/** Builds one complete record in a new array (tools and tests; the trace path uses writeHeader). */
export function encodeRecord(fields: Omit<KlogHeaderFields, 'length'>, payload: Uint8Array | string): Uint8Array {
  if (fields === null || typeof fields !== 'object') throw invalidArg(`encodeRecord needs header fields { type, timestamp, seq, thread, buffer }, got ${describe(fields)}`);
  if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) throw invalidArg(`encodeRecord payload must be a string or a Uint8Array, got ${describe(payload)}`);
  const body = typeof payload === 'string' ? utf8.encode(payload) : payload;
  const out = new Uint8Array(KLOG_HEADER_SIZE + body.length);
  const view = new DataView(out.buffer);
  writeHeader(view, 0, typeCode(fields.type), body.length, Math.round(fields.timestamp), fields.seq, fields.thread, fields.buffer, fields.flags ?? 0);
  out.set(body, KLOG_HEADER_SIZE);
  return out;
}
