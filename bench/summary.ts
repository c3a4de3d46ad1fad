// Samples → the report model (also the JSON schema): per case and size, median/min/max of
// messages/s and GB/s; and the ratios of the subject family against every baseline.
import os from 'node:os';
import type { Settings } from './options.js';
import type { Samples } from './schedule.js';
import type { BenchCase, Family, RunResult } from './types.js';

export const SCHEMA = 'relayfs-bench/1';

export interface Range {
  median: number;
  min: number;
  max: number;
}

export interface Cell {
  size: number;
  /** True only if every run verified. A failed cell has no figures. */
  verified: boolean;
  messagesPerSecond: Range | null;
  /** 1 GB = 1e9 bytes of payload. */
  gigabytesPerSecond: Range | null;
  failure?: string;
  runs: RunResult[];
}

export interface CaseReport {
  name: string;
  family: Family;
  description: string;
  results: Cell[];
}

export interface Baseline {
  /** 'copy limit', 'reference' or a peer's case name. */
  label: string;
  /** The case whose median was used (the best of its family for 'copy limit' and 'reference'). */
  caseName: string | null;
  /** Subject median messages/s ÷ baseline median messages/s; the same ratio in GB/s. */
  ratio: number | null;
}

export interface RatioRow {
  size: number;
  /** Best verified subject case at this size. */
  subjectCase: string | null;
  baselines: Baseline[];
}

export interface Ratios {
  subject: Family;
  note?: string;
  rows: RatioRow[];
}

/** A case measured against another (BenchCase.versus): klog-off ÷ empty-call. */
export interface VersusRow {
  caseName: string;
  versus: string;
  size: number;
  /** caseName's median messages (calls)/s ÷ versus's; null if either failed. */
  ratio: number | null;
  /** The target: the ratio should be at least this. */
  /** The target, or null when the ratio is only reported. */
  atLeast: number | null;
}

export interface BenchReport {
  schema: typeof SCHEMA;
  createdAt: string;
  environment: { node: string; platform: string; arch: string; cpus: number; cpuModel: string };
  settings: { mode: string; runs: number; durationMs: number; maxMessages: number | null; sizes: number[]; cases: string[] };
  cases: CaseReport[];
  ratios: Ratios;
  /** One row per case with a `versus` and size both cases ran (both must be selected). */
  versus: VersusRow[];
  /** Every cell verified. */
  ok: boolean;
}

export function summarize(s: Settings, samples: Samples): BenchReport {
  const cases: CaseReport[] = [...samples].map(([c, bySize]) => ({
    name: c.name,
    family: c.family,
    description: c.description,
    results: [...bySize].map(([size, runs]) => cell(size, runs)),
  }));
  const cpus = os.cpus();
  return {
    schema: SCHEMA,
    createdAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    },
    settings: {
      mode: s.mode,
      runs: s.runs,
      durationMs: s.durationMs,
      maxMessages: Number.isFinite(s.maxMessages) ? s.maxMessages : null,
      sizes: s.sizes,
      cases: s.cases.map((c) => c.name),
    },
    cases,
    ratios: ratios(cases, s.sizes, s.subject),
    versus: versus(s.cases, cases),
    ok: cases.every((c) => c.results.every((r) => r.verified)),
  };
}

function cell(size: number, runs: RunResult[]): Cell {
  const failed = runs.find((r) => !r.verified);
  if (failed || runs.length === 0) {
    const failure = failed ? (failed.note ?? 'verification failed') : 'no runs';
    return { size, verified: false, messagesPerSecond: null, gigabytesPerSecond: null, failure, runs };
  }
  return {
    size,
    verified: true,
    messagesPerSecond: range(runs.map((r) => r.messages / r.seconds)),
    gigabytesPerSecond: range(runs.map((r) => r.bytes / r.seconds / 1e9)),
    runs,
  };
}

function range(xs: number[]): Range {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

// Families folded into one baseline (their best case); peers stay one baseline each; klog
// measures something else (the cost of a trace point; see `versus`) and is never a baseline.
const FOLDED: Partial<Record<Family, string>> = { 'copy-limit': 'copy limit', reference: 'reference', relayfs: 'relayfs' };

function ratios(cases: CaseReport[], sizes: number[], requested?: Family): Ratios {
  const hasRelayfs = cases.some((c) => c.family === 'relayfs');
  const subject = requested ?? (hasRelayfs ? 'relayfs' : 'reference');
  const note = requested || hasRelayfs ? undefined : 'no relayfs case registered yet: the reference ring stands in as subject';
  const groups: { label: string; members: CaseReport[] }[] = [];
  for (const family of ['copy-limit', 'reference', 'relayfs', 'peer'] as const) {
    if (family === subject) continue;
    const members = cases.filter((c) => c.family === family);
    if (FOLDED[family]) {
      if (members.length) groups.push({ label: FOLDED[family]!, members });
    } else {
      for (const m of members) groups.push({ label: m.name, members: [m] });
    }
  }
  const subjects = cases.filter((c) => c.family === subject);
  const rows = sizes.map((size) => {
    const top = best(subjects, size);
    return {
      size,
      subjectCase: top?.name ?? null,
      baselines: groups.map(({ label, members }) => {
        const base = best(members, size);
        const ratio = top && base ? top.rate / base.rate : null;
        return { label, caseName: base?.name ?? (members.length === 1 ? members[0]!.name : null), ratio };
      }),
    };
  });
  return { subject, note, rows };
}

function versus(selected: readonly BenchCase[], cases: CaseReport[]): VersusRow[] {
  const byName = new Map(cases.map((c) => [c.name, c]));
  return selected.flatMap(({ name, versus: v }) => {
    const own = byName.get(name);
    const base = v && byName.get(v.name);
    if (!v || !own || !base) return [];
    return own.results.flatMap(({ size, messagesPerSecond: a }) => {
      const other = base.results.find((r) => r.size === size);
      if (!other) return [];
      const b = other.messagesPerSecond;
      return [{ caseName: name, versus: base.name, size, ratio: a && b ? a.median / b.median : null, atLeast: v.atLeast ?? null }];
    });
  });
}

function best(cases: CaseReport[], size: number): { name: string; rate: number } | undefined {
  let top: { name: string; rate: number } | undefined;
  for (const c of cases) {
    const rate = c.results.find((r) => r.size === size)?.messagesPerSecond?.median;
    if (rate !== undefined && (!top || rate > top.rate)) top = { name: c.name, rate };
  }
  return top;
}
