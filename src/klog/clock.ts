/**
 * The klog timestamp: nanoseconds on the CLOCK_MONOTONIC scale that
 * process.hrtime.bigint() uses, so records of every thread (and of every
 * process on the machine) compare directly.
 *
 * performance.now() is cheaper than hrtime.bigint() and allocates nothing;
 * both tick with uv_hrtime, so hrtime = base + now() for a per-thread base
 * measured once here. The base is taken from the closest of a few samples,
 * which keeps its error to a few tens of nanoseconds.
 */
function calibrate(): number {
  let best = Infinity;
  let base = 0;
  for (let i = 0; i < 16; i++) {
    const before = performance.now();
    const hr = process.hrtime.bigint();
    const after = performance.now();
    const width = after - before;
    if (width < best) {
      best = width;
      base = Number(hr) - ((before + after) / 2) * 1e6;
    }
  }
  return base;
}

const base = calibrate();

/** Now, in whole nanoseconds on the hrtime scale (exact as a number for ~104 days of uptime). */
export function klogNow(): number {
  return Math.round(base + performance.now() * 1e6);
}
