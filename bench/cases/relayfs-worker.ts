// Producer and consumer threads of the relayfs cases (./relayfs.ts).
import { __relayWrite, RelayFile, relayAttach, relayFlush, relayReserveOffset, relayWrite, type ChannelHandle, type FileEntry } from '../../src/index.js';
import { newMessage, readStamp, stamp } from '../message.js';
import { announceReady, clockNs, readyThenGo, report, threadData, timeUp } from '../worker-side.js';

export type WritePath = 'write' | 'lean' | 'reserve';
export type ReadPath = 'read' | 'mmap';

interface Data {
  handle: ChannelHandle;
  /** One relay file per writer thread. */
  entries: FileEntry[];
  /** [0]: producers done so far. */
  done: SharedArrayBuffer;
  write: WritePath;
  read: ReadPath;
  overwrite: boolean;
}

const { role, size, durationMs, maxMessages, handle, entries, done, write, read, overwrite } = threadData<Data>();
const doneWords = new Int32Array(done);

if (role === 'producer') {
  const chan = await relayAttach(handle);
  const src = newMessage(size);
  chan.claim();
  const data = chan.own!.mem.data;
  await readyThenGo();
  const t0 = clockNs();
  const end = performance.now() + durationMs;
  let seq = 0;
  let dropped = 0;
  if (write === 'reserve') {
    for (; !timeUp(seq, end, maxMessages); seq++) {
      const at = relayReserveOffset(chan, size);
      if (at < 0) dropped++;
      else stamp(data, at, size, seq); // fill in place: no staging copy
    }
  } else if (write === 'lean') {
    for (; !timeUp(seq, end, maxMessages); seq++) {
      stamp(src, 0, size, seq);
      if (!__relayWrite(chan, src, size)) dropped++;
    }
  } else {
    for (; !timeUp(seq, end, maxMessages); seq++) {
      stamp(src, 0, size, seq);
      if (!relayWrite(chan, src, size)) dropped++;
    }
  }
  const t1 = clockNs();
  relayFlush(chan); // the last partial sub-buffer, for the mmap consumer; publishes a pending reservation
  Atomics.add(doneWords, 0, 1);
  report({ sent: seq, t0, t1, dropped });
} else {
  const files = entries.map((e) => RelayFile.open(e));
  announceReady();
  let received = 0;
  let ok = true;
  let note: string | undefined;
  // Whole messages only: a stamp must agree with itself and, per writer, sequence numbers only grow (drops leave gaps).
  const next = files.map(() => 0);
  const check = (w: number, bytes: Uint8Array, from: number, to: number): void => {
    for (let at = from; at < to; at += size) {
      const seq = readStamp(bytes, at, size);
      if (seq < next[w]!) {
        if (ok) note = `writer ${w}: message after #${next[w]! - 1} has sequence ${seq}`;
        ok = false;
      }
      next[w] = seq + 1;
      received++;
    }
  };
  const finished = (): boolean => Atomics.load(doneWords, 0) === files.length;
  if (read === 'mmap') {
    const maps = files.map((f) => f.mmap());
    for (;;) {
      const wasDone = finished();
      let got = 0;
      maps.forEach((map, w) => {
        const { first, count } = map.ready();
        for (let i = 0; i < count; i++) {
          const slot = (first + i) % map.nSubbufs;
          const start = slot * map.subbufSize;
          check(w, map.data, start, start + map.subbufSize - map.padding(slot));
        }
        if (count > 0) map.subbufsConsumed(count);
        got += count;
      });
      if (got > 0) continue;
      if (wasDone) break;
      files[0]!.pollSync(1, { minReady: 8 }); // sleeps until half the sub-buffers are ready (or 1 ms: another file may be ready, or a partial one waits)
    }
    for (const map of maps) map.unmap();
  } else {
    const buf = new Uint8Array(files[0]!.subbufSize * (files[0]!.nSubbufs + 1)); // never splits a message
    const subbuf = files[0]!.subbufSize;
    for (;;) {
      const wasDone = finished();
      let got = 0;
      files.forEach((file, w) => {
        const n = file.readWholeInto(buf);
        if (n > 0) check(w, buf, 0, n);
        got += n;
      });
      // Less than a sub-buffer means we are at the writer's heels, in the sub-buffer it is filling:
      // reading again at once would chase it message by message (each look at its counters costs it
      // a cache miss), so wait for the next boundary (the poll spins while data flows).
      if (got >= subbuf) continue;
      if (wasDone) break;
      files[0]!.pollSync(1, { minReady: 8 });
    }
  }
  const t1 = clockNs();
  const lost = overwrite ? files.reduce((n, f) => n + f.stats().messagesOverwritten, 0) : 0;
  for (const file of files) file.close();
  report({ received, ok, t1, note, dropped: lost });
}
