// Producer and consumer over a MessagePort, one message per postMessage or `batch` per postMessage.
// postMessage has no backpressure: a credit window in shared memory keeps the producer from
// queueing more than RING_BYTES (at most 65536 messages), like a ring of that size.
import type { MessagePort } from 'node:worker_threads';
import { newMessage, stamp, stampOk } from '../message.js';
import { RING_BYTES } from '../types.js';
import { announceReady, clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

const { role, size, durationMs, maxMessages, port, batch, credits } = threadData<{
  port: MessagePort;
  batch: number;
  credits: SharedArrayBuffer;
}>();
const CONSUMED = 0; // messages the consumer has finished with
const WAITING = 1; // 1 while the producer sleeps for credit
const ctrl = new Int32Array(credits);
const inFlightMax = Math.min(65536, Math.max(2 * batch, Math.floor(RING_BYTES / size)));

if (role === 'producer') {
  const src = newMessage(size);
  const out = batch === 1 ? src : new Uint8Array(batch * size);
  let consumed = 0;
  await readyThenGo();
  const t0 = clockNs();
  const end = performance.now() + durationMs;
  let seq = 0;
  for (; !timeUp(seq, end, maxMessages); seq++) {
    stamp(src, 0, size, seq);
    if (batch === 1) {
      port.postMessage(src); // structured clone copies it
    } else {
      const k = seq % batch;
      out.set(src, k * size);
      if (k === batch - 1) port.postMessage(out);
    }
    while (seq + 1 - consumed >= inFlightMax) consumed = waitForCredit(consumed);
  }
  if (batch !== 1 && seq % batch !== 0) port.postMessage(out.slice(0, (seq % batch) * size));
  const t1 = clockNs();
  port.postMessage(seq); // end of stream: the count
  report({ sent: seq, t0, t1 });
} else {
  let received = 0;
  let bad = -1;
  port.on('message', (m: Uint8Array | number) => {
    if (typeof m === 'number') {
      const t1 = clockNs();
      port.close();
      report({ received, ok: bad < 0, t1, note: bad < 0 ? undefined : `message #${bad} wrong` });
      return;
    }
    for (let at = 0; at < m.length; at += size, received++) {
      if (bad < 0 && !stampOk(m, at, size, received)) bad = received;
    }
    Atomics.store(ctrl, CONSUMED, received);
    if (Atomics.load(ctrl, WAITING) !== 0) Atomics.notify(ctrl, CONSUMED);
  });
  announceReady();
}

function waitForCredit(consumed: number): number {
  const now = Atomics.load(ctrl, CONSUMED);
  if (now !== consumed) return now;
  Atomics.store(ctrl, WAITING, 1);
  Atomics.wait(ctrl, CONSUMED, consumed, 100); // the timeout only guards against a lost wake-up
  Atomics.store(ctrl, WAITING, 0);
  return Atomics.load(ctrl, CONSUMED);
}
