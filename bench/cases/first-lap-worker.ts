// Producer only: laps over 4 MiB of memory, fresh or reused (see ./first-lap.ts).
import { HostFs, hostfsCallbacks, relayClose, relayOpen, relayReset, relayWrite, type RelayChannel } from '../../src/index.js';
import { newMessage, stamp, stampOk } from '../message.js';
import { clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';
import { RING_BYTES } from '../types.js';

export type LapKind = 'copy-warm' | 'copy-first' | 'relayfs-warm' | 'relayfs-first' | 'relayfs-pretouch';

const { size, durationMs, maxMessages, kind } = threadData<{ kind: LapKind }>();
const SUBBUF = 256 * 1024;
const src = newMessage(size);
const fs = HostFs.get(`first-lap-${process.pid}-${Math.random()}`);
const callbacks = hostfsCallbacks(fs);

let ok = true;
let note: string | undefined;
let timedNs = 0;
const fail = (why: string): void => {
  ok = false;
  note = why;
};
let seq = 0;

/** One lap of copies into `dst`; returns the next sequence number. */
function copyLap(dst: Uint8Array, ctrl: Int32Array, end: number): void {
  let last = -1;
  const t0 = clockNs();
  for (let off = 0; off + size <= dst.length && !timeUp(seq, end, maxMessages); off += size, seq++) {
    stamp(src, 0, size, seq);
    if (size <= 48) for (let i = 0; i < size; i++) dst[off + i] = src[i]!;
    else dst.set(src, off);
    Atomics.store(ctrl, 0, off);
    last = off;
  }
  timedNs += clockNs() - t0;
  if (last >= 0 && ok && !stampOk(dst, last, size, seq - 1)) fail(`lap ending at #${seq - 1} read back wrong`);
}

/** One lap of relayWrite into `chan` until the first drop (buffer full). */
function relayLap(chan: RelayChannel, end: number): void {
  const t0 = clockNs();
  for (; !timeUp(seq, end, maxMessages); seq++) {
    stamp(src, 0, size, seq);
    if (!relayWrite(chan, src, size)) break;
  }
  timedNs += clockNs() - t0;
  const stats = chan.buffers[0]!.reader.stats();
  if (stats.droppedFull > 1 && ok) fail(`${stats.droppedFull} drops in one lap`);
}

const pretouch = kind === 'relayfs-pretouch';
/** relayOpen's own cost, pretouch included: reported in the note. */
let openNs = 0;
let opens = 0;
const open = (): RelayChannel => {
  const t0 = clockNs();
  const chan = relayOpen(null, null, SUBBUF, RING_BYTES / SUBBUF, callbacks, undefined, { buffers: 1, pretouch });
  openNs += clockNs() - t0;
  opens++;
  return chan;
};

const ctrl = new Int32Array(new SharedArrayBuffer(64));

function laps(end: number): void {
  if (kind === 'copy-warm' || kind === 'copy-first') {
    let dst = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
    while (!timeUp(seq, end, maxMessages)) {
      copyLap(dst, ctrl, end);
      if (kind === 'copy-first') dst = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
    }
    return;
  }
  let chan = open();
  while (!timeUp(seq, end, maxMessages)) {
    relayLap(chan, end);
    if (kind !== 'relayfs-warm') {
      relayClose(chan);
      chan = open();
    } else {
      relayReset(chan);
    }
  }
  relayClose(chan);
}

// Warm up first (untimed, on memory of its own): a lap is one long loop, and it should be
// measured optimised, not while V8 is still compiling it.
laps(performance.now() + Math.min(100, durationMs));
seq = 0;
timedNs = 0;
openNs = 0;
opens = 0;
await readyThenGo();
laps(performance.now() + durationMs);
// Only the writes count: the run is reported as if they had been back to back.
const t1 = clockNs();
if (ok && opens > 0) note = `relayOpen: ${(openNs / opens / 1e6).toFixed(2)} ms each (${opens})`;
report({ sent: seq, t0: t1 - timedNs, t1, ok, note });
