// The consumer for thread-stream: the module thread-stream loads in its worker. It receives
// the producer's strings re-chunked at arbitrary points, cuts them back into fixed-size
// messages and checks each one.
import { Writable } from 'node:stream';
import { textOk } from '../message.js';
import { clockNs } from '../worker-side.js';

export interface DestinationOptions {
  size: number;
  /** Float64Array slots RESULT_RECEIVED, RESULT_OK, RESULT_T1, written on finish. */
  result: SharedArrayBuffer;
}

export const RESULT_RECEIVED = 0;
export const RESULT_OK = 1;
export const RESULT_T1 = 2;

export default function destination({ size, result }: DestinationOptions): Writable {
  const out = new Float64Array(result);
  let carry = '';
  let received = 0;
  let ok = true;
  return new Writable({
    decodeStrings: false, // thread-stream hands us strings; keep them
    write(chunk: string, _encoding, done) {
      const s = carry + chunk;
      let at = 0;
      for (; at + size <= s.length; at += size, received++) {
        if (ok && !textOk(s, at, size, received)) ok = false;
      }
      carry = s.slice(at);
      done();
    },
    final(done) {
      out[RESULT_RECEIVED] = received;
      out[RESULT_OK] = ok && carry.length === 0 ? 1 : 0;
      out[RESULT_T1] = clockNs();
      done();
    },
  });
}
