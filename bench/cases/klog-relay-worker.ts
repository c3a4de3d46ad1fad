// Producer and consumer threads of the klog-relay cases (./klog-relay.ts).
import { decodeRecords, KLOG_HEADER_SIZE, klog, klogAttach, klogRaw, klogStats, RelayFile, relayFlush, type ChannelHandle, type FileEntry } from '../../src/index.js';
import { newMessage, stamp, stampOk } from '../message.js';
import { announceReady, backoff, clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

export type Kind = 'text' | 'raw';

const { role, size, durationMs, maxMessages, handle, entry, words, kind } = threadData<{
  handle: ChannelHandle;
  entry: FileEntry;
  /** Int32 [0]: producer done; [1]: calls made in all; [2]: first timed sequence number + 1 (0 = warming up). */
  words: SharedArrayBuffer;
  kind: Kind;
}>();
const shared = new Int32Array(words);
const WARM_MS = 300;
const FIRST = 1e9; // text records end in FIRST + seq, always 10 digits: 'req ' + str + ' ' + digits = size bytes

/** klog or klogRaw calls numbered from..; returns the next number (= klog's next sequence number). */
function produce(str: string, src: Uint8Array, from: number, end: number, max: number): number {
  let seq = from;
  if (kind === 'text') {
    for (; !timeUp(seq, end, max); seq++) klog('req %s %d', str, FIRST + seq);
  } else {
    for (; !timeUp(seq, end, max); seq++) {
      stamp(src, 0, size, seq);
      klogRaw(src);
    }
  }
  return seq;
}

if (role === 'producer') {
  const chan = await klogAttach(handle);
  chan.claim();
  const str = 'x'.repeat(size - 15);
  const src = newMessage(size);
  await readyThenGo();
  // The klog path takes a few hundred ms to be fully optimised (on 2 busy cores): the first calls
  // warm it up, and the consumer checks their records but does not count them. Smoke runs, with
  // their message limit, warm up with that many calls at most.
  const warm = produce(str, src, 0, performance.now() + WARM_MS, maxMessages);
  const warmDropped = klogStats().dropped;
  Atomics.store(shared, 2, warm + 1);
  const t0 = clockNs();
  const last = produce(str, src, warm, performance.now() + durationMs, warm + maxMessages);
  const t1 = clockNs();
  relayFlush(chan);
  const st = klogStats();
  Atomics.store(shared, 1, last);
  Atomics.store(shared, 0, 1);
  const ok = st.records === last && st.written + st.dropped === last && st.errors === 0 && st.truncated === 0;
  const note = ok ? undefined : `klogStats ${JSON.stringify(st)} after ${last} calls`;
  report({ sent: last - warm, t0, t1, dropped: st.dropped - warmDropped, ok, note });
} else {
  const file = RelayFile.open(entry);
  announceReady();
  const buf = new Uint8Array(file.subbufSize * (file.nSubbufs + 1)); // readWholeInto ends on a record boundary
  let received = 0; // timed records only
  let timedFrom = Infinity;
  let next = 0; // the sequence number expected next; a jump is a dropped record
  let gaps = 0;
  let thread = -1;
  let note: string | undefined;
  const fail = (why: string): void => void (note ??= why);
  const check = (n: number): void => {
    for (const r of decodeRecords(buf.subarray(0, n))) {
      const at = r.offset + KLOG_HEADER_SIZE; // the payload, checked in place
      if (r.seq < next) fail(`record after #${next - 1} has sequence ${r.seq}`);
      else if (r.type !== kind || r.length !== size) fail(`record #${r.seq}: ${r.type}, ${r.length} bytes`);
      else if (kind === 'text' ? digits(buf, at + size - 10) !== FIRST + r.seq : !stampOk(buf, at, size, r.seq)) fail(`record #${r.seq}: wrong payload`);
      if (thread < 0) thread = r.thread;
      else if (r.thread !== thread) fail(`records from threads ${thread} and ${r.thread}`);
      gaps += r.seq - next;
      next = r.seq + 1;
      if (r.seq >= timedFrom) received++;
    }
  };
  try {
    for (let spins = 0; ;) {
      const wasDone = Atomics.load(shared, 0) === 1;
      const n = file.readWholeInto(buf);
      if (n > 0) {
        // Loaded after the read: if a timed record is in it, the number was stored before it was written.
        const from = Atomics.load(shared, 2);
        if (from > 0) timedFrom = from - 1;
        check(n);
        spins = 0;
      } else if (wasDone) break;
      else backoff(spins++);
    }
  } catch (e) {
    fail(`decode: ${(e as Error).message}`); // a KlogFormatError: not whole records
  }
  const t1 = clockNs();
  gaps += Atomics.load(shared, 1) - next; // records dropped after the last one read
  const st = file.stats();
  if (gaps !== st.droppedFull || st.droppedTooBig + st.droppedReentrant !== 0) {
    fail(`${gaps} sequence numbers missing, buffer droppedFull ${st.droppedFull}, too big ${st.droppedTooBig}, re-entrant ${st.droppedReentrant}`);
  }
  file.close();
  report({ received, ok: note === undefined, t1, note });
}

/** The decimal number in b[at, at + 10). */
function digits(b: Uint8Array, at: number): number {
  let v = 0;
  for (let i = at; i < at + 10; i++) v = v * 10 + (b[i]! - 48);
  return v;
}
