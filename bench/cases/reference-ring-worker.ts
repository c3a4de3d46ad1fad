// Producer and consumer of the reference ring (../reference-ring.ts).
import { newMessage, stamp, stampOk } from '../message.js';
import { ReferenceRing } from '../reference-ring.js';
import { announceReady, clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

const { role, size, durationMs, maxMessages, sab } = threadData<{ sab: SharedArrayBuffer }>();
const ring = new ReferenceRing(sab);

if (role === 'producer') {
  const src = newMessage(size);
  await readyThenGo();
  const t0 = clockNs();
  const end = performance.now() + durationMs;
  let seq = 0;
  for (; !timeUp(seq, end, maxMessages); seq++) {
    stamp(src, 0, size, seq);
    ring.write(src);
  }
  const t1 = clockNs();
  ring.end();
  report({ sent: seq, t0, t1 });
} else {
  announceReady();
  let received = 0;
  let bad = -1;
  // Checks each record in place, as a consumer with a mapped buffer would.
  for (let at = ring.next(); at >= 0; at = ring.next()) {
    if (bad < 0 && (ring.length !== size || !stampOk(ring.bytes, at, size, received))) bad = received;
    received++;
    ring.release();
  }
  const t1 = clockNs();
  report({ received, ok: bad < 0, t1, note: bad < 0 ? undefined : `message #${bad} wrong` });
}
