/**
 * The klog record format, version 2 (docs/klog-format.md). Every record is a
 * fixed 32-byte little-endian header followed by its payload; one record is
 * one relay message, so a record never straddles sub-buffers. Version 2 adds
 * span and counter records; version 1 recordings (text and raw only) still
 * decode.
 */
import { RelayError, type KlogFormatErrorCode } from '../errors.js';

export type { KlogFormatErrorCode };

/** "KL" read as a little-endian u16: bytes 0x4b 0x4c at the start of every record. */
export const KLOG_MAGIC = 0x4c4b;
/** Format version written by this encoder. */
export const KLOG_VERSION = 2;
/** Oldest version the decoder reads: version 1 has the same header, text and raw records only. */
export const KLOG_MIN_VERSION = 1;
/** Header bytes of a version 1 or 2 record. */
export const KLOG_HEADER_SIZE = 32;

/** Header field offsets (bytes). */
export const H_MAGIC = 0; // u16
export const H_VERSION = 2; // u8
export const H_TYPE = 3; // u8
export const H_LENGTH = 4; // u32: payload bytes, header excluded
export const H_TS_LO = 8; // u32: timestamp, low word (ns)
export const H_TS_HI = 12; // u32: timestamp, high word
export const H_SEQ = 16; // u32: per-writer sequence number
export const H_THREAD = 20; // u32: worker_threads.threadId of the writer (0 = main thread)
export const H_BUFFER = 24; // u16: channel buffer index of the writer (KLOG_NO_BUFFER for a function handler)
export const H_HEADER_SIZE = 26; // u8: header size, so later versions can grow the header
export const H_FLAGS = 27; // u8
// 28..31: reserved, zero

export const KLOG_TYPE_TEXT = 1;
export const KLOG_TYPE_RAW = 2;
/** Version 2: a span starts (payload: span id, name, JSON arguments). */
export const KLOG_TYPE_SPAN_BEGIN = 3;
/** Version 2: a span ends (payload: its id, its name if known, JSON arguments). */
export const KLOG_TYPE_SPAN_END = 4;
/** Version 2: a named value at this time (payload: float64 value, name). */
export const KLOG_TYPE_COUNTER = 5;
export type KlogType = 'text' | 'raw' | 'span-begin' | 'span-end' | 'counter';

/** Highest record type each version defines (types run from 1 without holes). */
export function maxTypeOf(version: number): number {
  return version === 1 ? KLOG_TYPE_RAW : KLOG_TYPE_COUNTER;
}

/** Flag: the text was cut to fit the largest record (see maxRecordBytes). */
export const KLOG_FLAG_TRUNCATED = 0x01;

/** Buffer index written when records do not go to a channel buffer. */
export const KLOG_NO_BUFFER = 0xffff;

/** A payload larger than this is certainly corrupt (no relay message can be this long). */
export const KLOG_MAX_PAYLOAD = 0x7fffffff;

/** One decoded record. `payload` is a view into the decoder's input (made on first use). */
export interface KlogRecord {
  readonly type: KlogType;
  /** Payload bytes (header excluded). */
  readonly length: number;
  /** Nanoseconds on the CLOCK_MONOTONIC scale (process.hrtime.bigint()), as a number. */
  readonly timestamp: number;
  readonly seq: number;
  readonly thread: number;
  /** Buffer index, or KLOG_NO_BUFFER. */
  readonly buffer: number;
  readonly flags: number;
  readonly truncated: boolean;
  readonly payload: Uint8Array;
  /** Offset of the header in the decoded stream. */
  readonly offset: number;
}

/** Input that is not klog records (or not this version of them). */
export class KlogFormatError extends RelayError {
  declare readonly code: KlogFormatErrorCode;
  /** Offset of the offending header in the decoded stream. */
  readonly offset: number;
  constructor(code: KlogFormatErrorCode, offset: number, detail: string) {
    super(code, detail);
    this.name = 'KlogFormatError';
    this.offset = offset;
  }
}

const TYPE_NAMES: readonly KlogType[] = ['text', 'raw', 'span-begin', 'span-end', 'counter'];

/** The header code of a type name. */
export function typeCode(type: KlogType): number {
  return TYPE_NAMES.indexOf(type) + 1;
}

/** The name of a type the header check accepted. */
export function typeName(type: number): KlogType {
  return TYPE_NAMES[type - 1]!;
}
