// The first lap, one thread, no consumer: relayWrite into a freshly opened channel (16 × 256 KiB)
// until it is full, with and without { pretouch: true }, alternating, medians of 20 laps after 4
// of warm-up. Shows what page faults cost the write path and what pretouch moves into relayOpen.
// The bench cases first-lap.ts measure the same inside the interleaved runs; this is the
// direct, like-for-like view (same process, alternating channels).
import { HostFs, hostfsCallbacks, relayClose, relayOpen, relayWrite } from '../src/index.js';

const SIZES = [256, 4096, 65536];
const LAPS = 24;
const WARM_UP = 4;
const callbacks = hostfsCallbacks(HostFs.get('first-lap'));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

console.log(`first lap of a fresh 4 MiB buffer (one thread, medians of ${LAPS - WARM_UP} alternating laps), ms:`);
console.log('  size    lap (faults)  lap (pretouch)  relayOpen  relayOpen+pretouch');
const rows = [];
for (const size of SIZES) {
  const msg = new Uint8Array(size).fill(1);
  const t = { lap: [] as number[], lapPre: [] as number[], open: [] as number[], openPre: [] as number[] };
  for (let lap = 0; lap < LAPS; lap++) {
    for (const pretouch of [false, true]) {
      const t0 = performance.now();
      const chan = relayOpen(null, null, 256 * 1024, 16, callbacks, undefined, { buffers: 1, pretouch });
      const t1 = performance.now();
      while (relayWrite(chan, msg));
      const t2 = performance.now();
      relayClose(chan);
      if (lap < WARM_UP) continue;
      (pretouch ? t.lapPre : t.lap).push(t2 - t1);
      (pretouch ? t.openPre : t.open).push(t1 - t0);
    }
  }
  const row = { size, lap: median(t.lap), lapPretouch: median(t.lapPre), open: median(t.open), openPretouch: median(t.openPre) };
  rows.push(row);
  const f = (ms: number): string => ms.toFixed(2).padStart(8);
  console.log(`  ${String(size).padStart(5)}  ${f(row.lap)}      ${f(row.lapPretouch)}        ${f(row.open)}   ${f(row.openPretouch)}`);
}
export const results = rows;
