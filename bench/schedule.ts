// Runs the plan: for each run, every size, every case once (round-robin), so slow drifts
// of a noisy machine spread over all cases instead of landing on one.
import type { Settings } from './options.js';
import type { BenchCase, RunOptions, RunResult } from './types.js';

/** Results of one case at one size, one entry per run. */
export type Samples = Map<BenchCase, Map<number, RunResult[]>>;

export type Progress = (done: number, total: number, c: BenchCase, size: number) => void;

export async function runPlan(s: Settings, progress?: Progress): Promise<Samples> {
  const samples: Samples = new Map(s.cases.map((c) => [c, new Map(s.sizes.filter((z) => c.sizes.includes(z)).map((z) => [z, []]))]));
  const total = s.runs * [...samples.values()].reduce((n, m) => n + m.size, 0);
  const opts: RunOptions = { durationMs: s.durationMs, maxMessages: s.maxMessages, timeoutMs: s.timeoutMs };
  let done = 0;
  for (let run = 0; run < s.runs; run++) {
    // Rotate the case order each run so no case always follows the same neighbour.
    const order = s.cases.map((_, i) => s.cases[(i + run) % s.cases.length]!);
    for (const size of s.sizes) {
      for (const c of order) {
        const cell = samples.get(c)!.get(size);
        if (!cell) continue;
        progress?.(done, total, c, size);
        // One failed run fails the cell; don't spend more time (or timeouts) on it.
        if (!cell.some((r) => !r.verified)) cell.push(await measure(c, size, opts));
        done++;
      }
    }
  }
  return samples;
}

async function measure(c: BenchCase, size: number, opts: RunOptions): Promise<RunResult> {
  try {
    const r = await c.run(size, opts);
    if (r.verified && !(r.seconds > 0 && r.messages > 0)) {
      return { ...r, verified: false, note: `implausible: ${r.messages} messages in ${r.seconds} s` };
    }
    return r;
  } catch (e) {
    return { messages: 0, bytes: 0, seconds: 0, verified: false, note: e instanceof Error ? e.message : String(e) };
  }
}
