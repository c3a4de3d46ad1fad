// The write path alone, in one thread and with no consumer: relayWrite, __relayWrite and
// relayReserveOffset (overwrite mode, so never full) against the copy it cannot avoid
// (a word loop up to 48 B, TypedArray.set above; and TypedArray.set at every size, as issue #10
// measured it) plus one Atomics.store per message.
// Separates what the write path costs from what a consumer thread costs end to end.
import { HostFs, __relayWrite, hostfsCallbacks, relayOpen, relayReserveOffset, relayWrite } from '../src/index.js';

const SIZES = [16, 64, 256, 4096, 65536];
const ROUNDS = 5;

/** Best rate of each loop over ROUNDS rounds, the loops taking turns within a round: this VM's speed drifts within seconds, so loops timed one after the other would compare different machines. */
function rates(loops: readonly ((n: number) => void)[], n: number): number[] {
  for (const loop of loops) loop(Math.min(n, 100_000)); // warm up
  const best = loops.map(() => 0);
  for (let r = 0; r < ROUNDS; r++) {
    loops.forEach((loop, i) => {
      const t0 = performance.now();
      loop(n);
      best[i] = Math.max(best[i]!, n / ((performance.now() - t0) / 1000));
    });
  }
  return best;
}

const fs = HostFs.get('write-path');
const chan = relayOpen('w', null, 256 * 1024, 16, { ...hostfsCallbacks(fs), subbufStart: () => 1 }, undefined, { buffers: 1 });
chan.claim();
// The same with batched publication: one compare-and-swap per 4 KiB instead of per message.
const batched = relayOpen('b', null, 256 * 1024, 16, { ...hostfsCallbacks(fs), subbufStart: () => 1 }, undefined, { buffers: 1, publishBatchBytes: 4096 });
batched.claim();
const data = chan.own!.mem.data;
const shared = new Uint8Array(new SharedArrayBuffer(4 * 1024 * 1024));
const shared32 = new Int32Array(shared.buffer);
const word = new Int32Array(new SharedArrayBuffer(64));

console.log(`write path alone (best of ${ROUNDS} interleaved rounds, one thread, no consumer), messages/s and ratio to copy+store`);
console.log('(copy+store: a word loop up to 48 B, TypedArray.set above; set+store: TypedArray.set at every size, as issue #10 measured it):');
console.log(`  size    copy+store  set+store   relayWrite        __relayWrite      relayReserveOffset  relayWrite batched  __relayWrite batched`);
const rows = [];
for (const size of SIZES) {
  const msg = new Uint8Array(size).fill(7);
  const msg32 = new Int32Array(msg.buffer); // small messages: a word at a time, as the ring and relayWrite copy them
  const n = size <= 256 ? 5_000_000 : size <= 4096 ? 1_000_000 : 100_000;
  const [copy, set, safe, lean, reserve, batch, leanBatch] = rates(
    [
      (count) => {
        let off = 0;
        for (let i = 0; i < count; i++) {
          if (off + size > shared.length) off = 0;
          if (size <= 48) for (let j = 0, at = off >> 2; j < size >> 2; j++) shared32[at + j] = msg32[j]!;
          else shared.set(msg, off);
          off += size;
          Atomics.store(word, 0, off);
        }
      },
      (count) => {
        let off = 0;
        for (let i = 0; i < count; i++) {
          if (off + size > shared.length) off = 0;
          shared.set(msg, off);
          off += size;
          Atomics.store(word, 0, off);
        }
      },
      (count) => {
        for (let i = 0; i < count; i++) relayWrite(chan, msg, size);
      },
      (count) => {
        for (let i = 0; i < count; i++) __relayWrite(chan, msg, size);
      },
      (count) => {
        for (let i = 0; i < count; i++) {
          const at = relayReserveOffset(chan, size);
          data[at] = 7;
          data[at + size - 1] = 7;
        }
      },
      (count) => {
        for (let i = 0; i < count; i++) relayWrite(batched, msg, size);
      },
      (count) => {
        for (let i = 0; i < count; i++) __relayWrite(batched, msg, size);
      },
    ],
    n,
  ) as [number, number, number, number, number, number, number];
  const fmt = (r: number) => `${(r / 1e6).toFixed(2).padStart(7)} M (${(r / copy).toFixed(2)}×)`;
  const m = (r: number) => `${(r / 1e6).toFixed(2).padStart(8)} M`;
  console.log(`  ${String(size).padStart(5)}  ${m(copy)}  ${m(set)}  ${fmt(safe)}  ${fmt(lean)}  ${fmt(reserve)}   ${fmt(batch)}  ${fmt(leanBatch)}`);
  rows.push({ size, copyStore: copy, setStore: set, relayWrite: safe, __relayWrite: lean, relayReserveOffset: reserve, relayWriteBatched: batch, __relayWriteBatched: leanBatch });
}

// TypedArray.set into shared memory copies word by word only when source and target addresses
// agree modulo 8; otherwise byte by byte. relayfs writes messages where the stream is, so the
// source's alignment decides: the same 4 KiB message from an 8-aligned view and from one at byteOffset 4.
console.log('');
const aligned = new Uint8Array(4096).fill(7);
const shifted = new Uint8Array(4096 + 4).fill(7).subarray(4);
const [setAligned, setShifted] = rates(
  [
    (count) => {
      for (let i = 0; i < count; i++) shared.set(aligned, (i & 511) * 4096);
    },
    (count) => {
      for (let i = 0; i < count; i++) shared.set(shifted, (i & 511) * 4096);
    },
  ],
  1_000_000,
) as [number, number];
console.log(
  `TypedArray.set of 4 KiB into shared memory: source 8-aligned ${((setAligned * 4096) / 1e9).toFixed(1)} GB/s, at byteOffset 4 ${((setShifted * 4096) / 1e9).toFixed(1)} GB/s (${(setShifted / setAligned).toFixed(2)}×)`,
);
console.log('relayWrite of one 4 KiB message, source 8-aligned vs at byteOffset 4 (target 8-aligned), messages/s:');
const [alignedRate, shiftedRate] = rates(
  [
    (count) => {
      for (let i = 0; i < count; i++) relayWrite(chan, aligned);
    },
    (count) => {
      for (let i = 0; i < count; i++) relayWrite(chan, shifted);
    },
  ],
  1_000_000,
) as [number, number];
console.log(
  `  8-aligned ${(alignedRate / 1e6).toFixed(2)} M (${((alignedRate * 4096) / 1e9).toFixed(1)} GB/s)   byteOffset 4 ${(shiftedRate / 1e6).toFixed(2)} M (${((shiftedRate * 4096) / 1e9).toFixed(1)} GB/s; ${(shiftedRate / alignedRate).toFixed(2)}× the aligned rate)`,
);

// What a message costs when the buffer is full in no-overwrite mode: dropped and counted (droppedFull).
// It takes the buffer's lock to count it, so it costs more than a successful small write.
const full = relayOpen('f', null, 4096, 2, hostfsCallbacks(fs), undefined, { buffers: 1 });
full.claim();
const small = new Uint8Array(256).fill(7);
while (relayWrite(full, small));
const [dropRate, writeRate] = rates(
  [
    (count) => {
      for (let i = 0; i < count; i++) relayWrite(full, small);
    },
    (count) => {
      for (let i = 0; i < count; i++) relayWrite(chan, small);
    },
  ],
  2_000_000,
) as [number, number];
console.log(
  `relayWrite of 256 B into a full buffer (no-overwrite: dropped and counted) ${(dropRate / 1e6).toFixed(2)} M/s, ${(1e9 / dropRate).toFixed(0)} ns each; a write that lands ${(writeRate / 1e6).toFixed(2)} M/s (a drop costs ${(writeRate / dropRate).toFixed(2)}× a write)`,
);
export const results = rows;
export const alignment = { setAligned4KiB: setAligned, setByteOffset4: setShifted, aligned4KiB: alignedRate, byteOffset4: shiftedRate };
export const dropWhenFull = { size: 256, dropsPerSecond: dropRate, writesPerSecond: writeRate };
