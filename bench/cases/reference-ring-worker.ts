// Producer and consumer of the reference ring (../reference-ring.ts).
import { newMessage, readStamp, stamp, stampOk } from '../message.js';
import { ReferenceRing } from '../reference-ring.js';
import { announceReady, clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

const { role, size, durationMs, maxMessages, sab, lossless } = threadData<{ sab: SharedArrayBuffer; lossless: boolean }>();
const ring = new ReferenceRing(sab);

if (role === 'producer') {
  const src = newMessage(size);
  await readyThenGo();
  const t0 = clockNs();
  const end = performance.now() + durationMs;
  let seq = 0;
  if (lossless) {
    for (; !timeUp(seq, end, maxMessages); seq++) {
      stamp(src, 0, size, seq);
      ring.write(src);
    }
  } else {
    for (; !timeUp(seq, end, maxMessages); seq++) {
      stamp(src, 0, size, seq);
      ring.tryWrite(src);
    }
  }
  const t1 = clockNs();
  ring.end();
  report({ sent: seq, t0, t1, dropped: ring.dropped });
} else {
  announceReady();
  let received = 0;
  let bad = -1;
  // Checks each record in place, as a consumer with a mapped buffer would. Lossless: every
  // sequence number in order; dropping: they only grow (drops leave gaps, counted by the producer).
  if (lossless) {
    for (let at = ring.next(); at >= 0; at = ring.next()) {
      if (bad < 0 && (ring.length !== size || !stampOk(ring.bytes, at, size, received))) bad = received;
      received++;
      ring.release();
    }
  } else {
    let want = 0;
    for (let at = ring.next(); at >= 0; at = ring.next()) {
      const seq = ring.length === size ? readStamp(ring.bytes, at, size) : -1;
      if (bad < 0 && seq < want) bad = received;
      want = seq + 1;
      received++;
      ring.release();
    }
  }
  const t1 = clockNs();
  report({ received, ok: bad < 0, t1, note: bad < 0 ? undefined : `message #${bad} wrong` });
}
