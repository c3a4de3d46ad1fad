/**
 * Payloads of the version 2 span and counter records (docs/klog-format.md):
 *
 *   [8 bytes: u32 span id + u32 0, or float64 counter value]
 *   [u16 name bytes][name, UTF-8][arguments: JSON text, UTF-8, to the end]
 *
 * One layout for all three, so the trace path writes them with one function.
 */
import { recordText } from './decoder.js';
import { KlogFormatError, type KlogRecord } from './format.js';

/** Bytes before the name: the id or value, then the name length. */
export const STRUCTURED_HEAD = 10;

export interface SpanBegin {
  id: number;
  name: string;
  /** The arguments as JSON text ('' when none were given). */
  args: string;
}

export type SpanEnd = SpanBegin;

export interface CounterSample {
  name: string;
  value: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The part of TextEncoder the trace path uses. */
export interface Utf8Encoder {
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}

/** Writes name and JSON after the 10-byte head; returns the payload length and whether something had to be left out. */
export function encodeStructuredTail(payload: Uint8Array, name: string, json: string, encoder: Utf8Encoder): { length: number; cut: boolean } {
  const room = payload.length - STRUCTURED_HEAD;
  const nameArea = payload.subarray(STRUCTURED_HEAD, STRUCTURED_HEAD + Math.min(room, 0xffff));
  const n = encoder.encodeInto(name, nameArea);
  payload[8] = n.written & 0xff;
  payload[9] = n.written >>> 8;
  let length = STRUCTURED_HEAD + n.written;
  let cut = n.read < name.length;
  if (json.length > 0) {
    const j = encoder.encodeInto(json, payload.subarray(length));
    // Half a JSON text is no JSON: leave the arguments out rather than cut them.
    if (j.read < json.length) cut = true;
    else length += j.written;
  }
  return { length, cut };
}

function check(rec: KlogRecord, want: KlogRecord['type']): Uint8Array {
  if (rec.type !== want) throw new KlogFormatError('EKLOG_BAD_HEADER', rec.offset, `record at byte ${rec.offset} is ${rec.type}, not ${want}`);
  const p = rec.payload;
  if (p.length < STRUCTURED_HEAD || STRUCTURED_HEAD + (p[8]! | (p[9]! << 8)) > p.length) {
    throw new KlogFormatError('EKLOG_BAD_HEADER', rec.offset, `${want} record at byte ${rec.offset}: its name runs past its ${p.length}-byte payload: corrupt`);
  }
  return p;
}

function nameAndArgs(p: Uint8Array): { name: string; args: string } {
  const nameEnd = STRUCTURED_HEAD + (p[8]! | (p[9]! << 8));
  return { name: utf8.decode(p.subarray(STRUCTURED_HEAD, nameEnd)), args: utf8.decode(p.subarray(nameEnd)) };
}

function u32(p: Uint8Array): number {
  return (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
}

/** The id, name and arguments of a span-begin record. */
export function readSpanBegin(rec: KlogRecord): SpanBegin {
  const p = check(rec, 'span-begin');
  return { id: u32(p), ...nameAndArgs(p) };
}

/** The id, name (may be '') and arguments of a span-end record. */
export function readSpanEnd(rec: KlogRecord): SpanEnd {
  const p = check(rec, 'span-end');
  return { id: u32(p), ...nameAndArgs(p) };
}

/** The name and value of a counter record. */
export function readCounter(rec: KlogRecord): CounterSample {
  const p = check(rec, 'counter');
  const value = new DataView(p.buffer, p.byteOffset, 8).getFloat64(0, true);
  return { name: nameAndArgs(p).name, value };
}

/** A one-line description of any record, for text output (merge, cat). */
export function describeRecord(rec: KlogRecord): string {
  switch (rec.type) {
    case 'text':
      return recordText(rec);
    case 'span-begin': {
      const s = readSpanBegin(rec);
      return `span ${s.name} #${s.id} begins${s.args ? ` ${s.args}` : ''}`;
    }
    case 'span-end': {
      const s = readSpanEnd(rec);
      return `span ${s.name || '?'} #${s.id} ends${s.args ? ` ${s.args}` : ''}`;
    }
    case 'counter': {
      const c = readCounter(rec);
      return `counter ${c.name} = ${c.value}`;
    }
    default:
      return `raw ${rec.length} B`;
  }
}
