// Command-line flags → settings for one bench run.
import { parseArgs } from 'node:util';
import type { BenchCase, Family } from './types.js';

export type Mode = 'full' | 'quick' | 'smoke';

export interface Settings {
  mode: Mode;
  runs: number;
  durationMs: number;
  /** Per run; Infinity means the duration alone decides. */
  maxMessages: number;
  timeoutMs: number;
  sizes: number[];
  cases: BenchCase[];
  /** --cases or --sizes picked a subset: a full run skips its extras (alloc.ts, pino.ts, …), which would overwrite their results. */
  subset: boolean;
  /** Print only the JSON report on stdout. */
  json: boolean;
  /** Where to write the JSON report and the SVG chart; undefined = don't. */
  out?: string;
  chart?: string;
  /** Family whose best case is divided by the baselines; default relayfs, else reference. */
  subject?: Family;
  help: boolean;
  list: boolean;
}

// Full run budget: 138 case-and-size cells (32 cases; the klog ones at 1 to 4 sizes) × 5 runs ×
// (200 ms + thread start-up, 0.1 s idle to 0.3 s on a loaded 2-core machine; + 300 ms warm-up
// for klog-text/raw+read, 100 ms for the first-lap cases) ≈ 5–8 min, then alloc.ts,
// write-path.ts, first-lap.ts and noise.ts (seconds each).
const MODES: Record<Mode, { runs: number; durationMs: number; maxMessages: number }> = {
  full: { runs: 5, durationMs: 200, maxMessages: Infinity },
  quick: { runs: 3, durationMs: 100, maxMessages: Infinity },
  smoke: { runs: 1, durationMs: 5, maxMessages: 1000 },
};

export const DEFAULT_OUT = 'bench/results/latest.json';
export const DEFAULT_CHART = 'docs/bench.svg';
const FAMILIES: readonly Family[] = ['copy-limit', 'reference', 'peer', 'relayfs', 'klog'];

export const USAGE = `usage: node dist/bench/run.js [flags]
  --smoke          every case and size, a few ms and ≤1000 messages each, one run; checks they verify
  --quick          3 runs of 100 ms (default: 5 runs of 200 ms)
  --runs N         runs per case and size (interleaved round-robin)
  --duration MS    producer time per run
  --sizes 16,64    message sizes in bytes, among those the cases support (16,64,256,4096,65536)
  --cases a,b      case names (see --list)
                   with --sizes or --cases, a full run skips its extras (alloc, write-path, first-lap, noise, ship, pino)
  --subject FAM    family compared against the others (default: relayfs if present, else reference)
  --json           print only the JSON report
  --out PATH       JSON report path (default ${DEFAULT_OUT}; smoke: none)
  --chart PATH     SVG chart path (default ${DEFAULT_CHART}; smoke: none)
  --list           list the cases and exit
  --help`;

export class UsageError extends Error {}

export function parseSettings(argv: string[], registry: readonly BenchCase[]): Settings {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      smoke: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      duration: { type: 'string' },
      sizes: { type: 'string' },
      cases: { type: 'string' },
      subject: { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      chart: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (v.smoke && v.quick) throw new UsageError('--smoke and --quick are exclusive');
  const mode: Mode = v.smoke ? 'smoke' : v.quick ? 'quick' : 'full';
  const base = MODES[mode];
  const cases = v.cases === undefined ? [...registry] : pickCases(v.cases, registry);
  const sizes = v.sizes === undefined ? unionOfSizes(cases) : list(v.sizes).map(toSize);
  for (const s of sizes) {
    if (!cases.some((c) => c.sizes.includes(s))) throw new UsageError(`no selected case supports size ${s}`);
  }
  if (v.subject !== undefined && !FAMILIES.includes(v.subject as Family)) {
    throw new UsageError(`unknown family ${v.subject}; one of ${FAMILIES.join(', ')}`);
  }
  const durationMs = v.duration === undefined ? base.durationMs : positive('--duration', v.duration);
  return {
    mode,
    runs: v.runs === undefined ? base.runs : count('--runs', v.runs),
    durationMs,
    maxMessages: base.maxMessages,
    timeoutMs: durationMs + 15_000, // thread start-up and drain; only a hang takes this long
    sizes,
    cases,
    subset: v.cases !== undefined || v.sizes !== undefined,
    json: v.json,
    out: v.out ?? (mode === 'smoke' ? undefined : DEFAULT_OUT),
    chart: v.chart ?? (mode === 'smoke' ? undefined : DEFAULT_CHART),
    subject: v.subject as Family | undefined,
    help: v.help,
    list: v.list,
  };
}

function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

function pickCases(names: string, registry: readonly BenchCase[]): BenchCase[] {
  return list(names).map((n) => {
    const c = registry.find((r) => r.name === n);
    if (!c) throw new UsageError(`unknown case ${n}; known: ${registry.map((r) => r.name).join(', ')}`);
    return c;
  });
}

function unionOfSizes(cases: BenchCase[]): number[] {
  return [...new Set(cases.flatMap((c) => c.sizes))].sort((a, b) => a - b);
}

function toSize(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 16 || n % 8 !== 0) throw new UsageError(`bad size ${s}: a multiple of 8, ≥ 16`);
  return n;
}

function count(flag: string, s: string): number {
  const n = positive(flag, s);
  if (!Number.isInteger(n)) throw new UsageError(`${flag} wants a whole number, got ${s}`);
  return n;
}

function positive(flag: string, s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} wants a positive number, got ${s}`);
  return n;
}
