// Producer only: copy each message into shared memory at an advancing, wrapping offset.
// No consumer, so this is the ceiling for any transport that copies once.
import { newMessage, stamp, stampOk } from '../message.js';
import { clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

export type CopyMethod = 'set' | 'u32' | 'f64';

const { size, durationMs, maxMessages, method, publish, capacity } = threadData<{
  method: CopyMethod;
  publish: boolean;
  capacity: number;
}>();

const dst = new Uint8Array(new SharedArrayBuffer(capacity));
const dst32 = new Uint32Array(dst.buffer);
const dst64 = new Float64Array(dst.buffer);
const ctrl = new Int32Array(new SharedArrayBuffer(64));
const src = newMessage(size);
const src32 = new Uint32Array(src.buffer);
// Safe for copying bits only because no word of a stamped message is a NaN pattern (FILL = 0x5a).
const src64 = new Float64Array(src.buffer);

// One loop per method and per publish flag, so each stays monomorphic for the JIT.
function copySet(end: number): [number, number] {
  let off = 0,
    last = 0,
    seq = 0;
  for (; !timeUp(seq, end, maxMessages); seq++) {
    stamp(src, 0, size, seq);
    dst.set(src, off);
    if (publish) Atomics.store(ctrl, 0, off);
    last = off;
    off = off + 2 * size > capacity ? 0 : off + size;
  }
  return [seq, last];
}

function copyU32(end: number): [number, number] {
  const n = size >> 2;
  let off = 0,
    last = 0,
    seq = 0;
  for (; !timeUp(seq, end, maxMessages); seq++) {
    stamp(src, 0, size, seq);
    const w = off >> 2;
    for (let i = 0; i < n; i++) dst32[w + i] = src32[i]!;
    if (publish) Atomics.store(ctrl, 0, off);
    last = off;
    off = off + 2 * size > capacity ? 0 : off + size;
  }
  return [seq, last];
}

function copyF64(end: number): [number, number] {
  const n = size >> 3;
  let off = 0,
    last = 0,
    seq = 0;
  for (; !timeUp(seq, end, maxMessages); seq++) {
    stamp(src, 0, size, seq);
    const w = off >> 3;
    for (let i = 0; i < n; i++) dst64[w + i] = src64[i]!;
    if (publish) Atomics.store(ctrl, 0, off);
    last = off;
    off = off + 2 * size > capacity ? 0 : off + size;
  }
  return [seq, last];
}

const loops = { set: copySet, u32: copyU32, f64: copyF64 };

await readyThenGo();
const t0 = clockNs();
const [sent, last] = loops[method](performance.now() + durationMs);
const t1 = clockNs();
// No consumer to check the copies: read the last one back instead.
const ok = sent > 0 && stampOk(dst, last, size, sent - 1) && (!publish || Atomics.load(ctrl, 0) === last);
report({ sent, t0, t1, ok, note: ok ? undefined : 'last message read back wrong' });
