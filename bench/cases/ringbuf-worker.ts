// Producer and consumer over ringbuf.js: a RingBuffer of bytes, producer push(), consumer pop().
// ringbuf.js has no way to wait, so both sides poll with backoff(); a separate control
// array carries the end of stream.
import { RingBuffer } from 'ringbuf.js';
import { newMessage, stamp, stampOk } from '../message.js';
import { announceReady, backoff, clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

const { role, size, durationMs, maxMessages, sab, control } = threadData<{
  sab: SharedArrayBuffer;
  control: SharedArrayBuffer;
}>();
const DONE = 0;
const ctrl = new Int32Array(control);
const ring = new RingBuffer(sab, Uint8Array);

if (role === 'producer') {
  const src = newMessage(size);
  await readyThenGo();
  const t0 = clockNs();
  const end = performance.now() + durationMs;
  let seq = 0;
  for (; !timeUp(seq, end, maxMessages); seq++) {
    stamp(src, 0, size, seq);
    // push() writes what fits; wait for room for the whole message so messages stay whole.
    for (let spins = 0; ring.availableWrite() < size; spins++) backoff(spins);
    ring.push(src);
  }
  const t1 = clockNs();
  Atomics.store(ctrl, DONE, 1);
  report({ sent: seq, t0, t1 });
} else {
  announceReady();
  const msg = new Uint8Array(size);
  let fill = 0;
  let received = 0;
  let bad = -1;
  for (let spins = 0; ;) {
    const n = ring.pop(msg, size - fill, fill);
    if (n === 0) {
      // DONE is stored after the last push, so an empty ring after seeing DONE is final.
      if (Atomics.load(ctrl, DONE) === 1 && ring.empty()) break;
      backoff(spins++);
      continue;
    }
    spins = 0;
    fill += n;
    if (fill < size) continue;
    if (bad < 0 && !stampOk(msg, 0, size, received)) bad = received;
    received++;
    fill = 0;
  }
  const t1 = clockNs();
  const ok = bad < 0 && fill === 0;
  report({ received, ok, t1, note: ok ? undefined : bad >= 0 ? `message #${bad} wrong` : 'partial message at end' });
}
