// The only thread of the klog-off cases (./klog-off.ts). Each call goes through a call site that
// has seen other functions during warm-up, so the optimizer cannot inline the callee and delete
// it; each call's result is counted, so the calls cannot be dropped either. klog and the empty
// function go through the very same loop: like is compared with like.
import { klog, klogEnabled, klogRaw } from '../../src/index.js';
import { newMessage } from '../message.js';
import { clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

export type Call = 'klog' | 'empty' | 'klog-raw' | 'empty-raw';

type TextFn = (format: string, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown, a6?: unknown, a7?: unknown, a8?: unknown) => unknown;
type RawFn = (data: Uint8Array, length?: number) => unknown;

// The same parameters as klog and klogRaw, and nothing in the body.
function emptyText(_format: string, _a1?: unknown, _a2?: unknown, _a3?: unknown, _a4?: unknown, _a5?: unknown, _a6?: unknown, _a7?: unknown, _a8?: unknown): void {}
function emptyRaw(_data: Uint8Array, _length?: number): void {}

const FORMAT = 'req %s %d';
const str = 'x'; // 'req x 1000000000': 16 bytes, had there been a handler

/** Calls fn until time is up; returns the calls made, or -1 if a call returned something. */
function loopText(fn: TextFn, end: number, max: number): number {
  let seq = 0,
    calls = 0;
  for (; !timeUp(seq, end, max); seq++) if (fn(FORMAT, str, 1e9 + seq) === undefined) calls++;
  return calls === seq ? seq : -1;
}

function loopRaw(fn: RawFn, data: Uint8Array, end: number, max: number): number {
  let seq = 0,
    calls = 0;
  for (; !timeUp(seq, end, max); seq++) if (fn(data) === undefined) calls++;
  return calls === seq ? seq : -1;
}

const { size, durationMs, maxMessages, call } = threadData<{ call: Call }>();
const bytes = newMessage(size);
const run = (end: number, max: number): number => {
  switch (call) {
    case 'klog':
      return loopText(klog, end, max);
    case 'empty':
      return loopText(emptyText, end, max);
    case 'klog-raw':
      return loopRaw(klogRaw, bytes, end, max);
    case 'empty-raw':
      return loopRaw(emptyRaw, bytes, end, max);
  }
};

// Warm-up: two other callees make both call sites megamorphic (never inlined), then the measured one.
for (const decoy of [() => undefined, () => void 0]) {
  loopText(decoy, Infinity, 1000);
  loopRaw(decoy, bytes, Infinity, 1000);
}
run(Infinity, 100_000);

await readyThenGo();
const t0 = clockNs();
const sent = run(performance.now() + durationMs, maxMessages);
const t1 = clockNs();
const ok = sent > 0 && !klogEnabled;
const note = klogEnabled ? 'a klog handler is registered' : sent < 0 ? 'a call returned a value' : undefined;
report({ sent: Math.max(sent, 0), t0, t1, ok, note });
