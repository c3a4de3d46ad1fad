/**
 * One line per klog record or loss, as text or as JSON: the output of merge
 * and cat. Text lines show time relative to the first record; JSON lines keep
 * the absolute nanosecond timestamp.
 */
import { describeRecord, readCounter, readSpanBegin, readSpanEnd, recordText, type KlogRecord, type TruncatedTail } from '../klog/index.js';
import type { SequenceEvent } from './sequence.js';

export type LineFormat = 'text' | 'json';

export interface LineWriter {
  record(rec: KlogRecord): string;
  event(ev: SequenceEvent): string;
  truncated(file: string, tail: TruncatedTail): string;
}

const HEX_SHOWN = 32;

export function lineWriter(format: LineFormat): LineWriter {
  return format === 'json' ? jsonLines() : textLines();
}

function textLines(): LineWriter {
  let t0: number | null = null;
  const rel = (ts: number): string => {
    if (t0 === null) t0 = ts;
    const d = ts - t0;
    const sign = d < 0 ? '-' : '+';
    const abs = Math.abs(d);
    return `${sign}${Math.floor(abs / 1e9)}.${String(abs % 1e9).padStart(9, '0')}`;
  };
  const who = (buffer: number, thread: number) => `b${buffer}/t${thread}`;
  return {
    record(rec) {
      const body = rec.type === 'raw' ? `raw ${rec.length} B ${hex(rec.payload)}` : escapeLine(describeRecord(rec));
      return `${rel(rec.timestamp)} ${who(rec.buffer, rec.thread)} #${rec.seq} ${body}${rec.truncated ? ' [truncated]' : ''}\n`;
    },
    event(ev) {
      const head = `${rel(ev.timestamp)} ${ev.origin ? `${ev.origin}:` : ''}${who(ev.buffer, ev.thread)} --`;
      switch (ev.kind) {
        case 'gap':
          return `${head} lost ${ev.count} record${ev.count === 1 ? '' : 's'} (#${ev.from}..#${(ev.from + ev.count - 1) >>> 0})\n`;
        case 'missing-start':
          return `${head} ${ev.count} earlier record${ev.count === 1 ? '' : 's'} not here (#0..#${ev.count - 1}): overwritten or not recorded\n`;
        case 'restart':
          return `${head} numbering starts again at #${ev.seq}\n`;
      }
    },
    truncated(file, tail) {
      return `-- ${file}: last record cut short at byte ${tail.offset} (${tail.bytes} bytes there), left out\n`;
    },
  };
}

function jsonLines(): LineWriter {
  return {
    record(rec) {
      // One object literal per shape: spreading costs more than the rest of the line.
      const line =
        rec.type === 'text'
          ? {
              kind: 'record',
              ts: rec.timestamp,
              buffer: rec.buffer,
              thread: rec.thread,
              seq: rec.seq,
              type: rec.type,
              text: recordText(rec),
              truncated: rec.truncated || undefined,
            }
          : rec.type === 'raw'
            ? { kind: 'record', ts: rec.timestamp, buffer: rec.buffer, thread: rec.thread, seq: rec.seq, type: rec.type, data: bufferOf(rec).toString('base64') }
            : { kind: 'record', ts: rec.timestamp, buffer: rec.buffer, thread: rec.thread, seq: rec.seq, type: rec.type, ...structured(rec) };
      return safeJson(line) + '\n';
    },
    event(ev) {
      const { kind, timestamp, ...rest } = ev;
      return JSON.stringify({ kind: kind === 'gap' ? 'loss' : kind, ts: timestamp, ...rest }) + '\n';
    },
    truncated(file, tail) {
      return JSON.stringify({ kind: 'truncated', file, offset: tail.offset, bytes: tail.bytes }) + '\n';
    },
  };
}

/** Span and counter fields for JSON lines; arguments stay the JSON text they were recorded as. */
function structured(rec: KlogRecord): Record<string, unknown> {
  if (rec.type === 'counter') return { ...readCounter(rec) };
  const s = rec.type === 'span-begin' ? readSpanBegin(rec) : readSpanEnd(rec);
  return { id: s.id, name: s.name || undefined, args: s.args || undefined, truncated: rec.truncated || undefined };
}

function bufferOf(rec: KlogRecord): Buffer {
  return Buffer.from(rec.payload.buffer, rec.payload.byteOffset, rec.payload.length);
}

/** Every control character (C0, DEL, C1) and the backslash: escaped, so a record can neither break the line nor drive a terminal. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\\]/;
const UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\\]/g;
const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Keeps a record on one line and out of the terminal's control: see UNSAFE. */
export function escapeLine(s: string): string {
  if (!UNSAFE.test(s)) return s;
  return s.replace(UNSAFE_ALL, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** JSON.stringify leaves DEL and the C1 controls (e.g. CSI, 0x9b) as they are: escape them too. */
const C1 = /[\u007f-\u009f]/;
function safeJson(value: unknown): string {
  const text = JSON.stringify(value);
  return C1.test(text) ? text.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text;
}

function hex(bytes: Uint8Array): string {
  const shown = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, HEX_SHOWN)).toString('hex');
  return bytes.length > HEX_SHOWN ? `${shown}…` : shown;
}
