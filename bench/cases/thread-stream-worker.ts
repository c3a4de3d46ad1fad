// Producer for thread-stream (pino's transport). It owns the ThreadStream, whose own worker
// runs thread-stream-destination.js: that worker is the consumer. Messages are strings, as
// pino writes them; the destination reports through a SharedArrayBuffer (RESULT_* slots).
import { once } from 'node:events';
import ThreadStream from 'thread-stream';
import { textFiller, textMessage } from '../message.js';
import { clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';
import { RESULT_OK, RESULT_RECEIVED, RESULT_T1, type DestinationOptions } from './thread-stream-destination.js';

const { size, durationMs, maxMessages, bufferSize } = threadData<{ bufferSize: number }>();
const result = new Float64Array(new SharedArrayBuffer(3 * 8));
const stream = new ThreadStream({
  filename: new URL('./thread-stream-destination.js', import.meta.url).href,
  workerData: { size, result: result.buffer } satisfies DestinationOptions,
  bufferSize,
  sync: false,
});
let error: Error | undefined;
stream.on('error', (e: Error) => (error ??= e));
await once(stream, 'ready');

const filler = textFiller(size);
await readyThenGo();
const t0 = clockNs();
const end = performance.now() + durationMs;
let seq = 0;
for (; !timeUp(seq, end, maxMessages) && !error; seq++) {
  if (!stream.write(textMessage(seq, filler))) await once(stream, 'drain');
}
const t1 = clockNs();
const closed = once(stream, 'close');
stream.end();
await closed;
report({
  sent: seq,
  t0,
  t1,
  ok: !error,
  note: error?.message,
  consumer: {
    received: result[RESULT_RECEIVED]!,
    ok: result[RESULT_OK] === 1,
    t1: result[RESULT_T1]!,
    note: result[RESULT_OK] === 1 ? undefined : 'a message arrived wrong or cut short',
  },
});
