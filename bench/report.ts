// The human-readable report: one table per message size, then the ratios.
import { gb, rate, ratio, sizeLabel, table } from './format.js';
import type { BenchReport } from './summary.js';
import type { RunResult } from './types.js';

export function renderText(r: BenchReport): string {
  const { environment: e, settings: s } = r;
  const out: string[] = [
    `relayfs bench — node ${e.node}, ${e.platform}/${e.arch}, ${e.cpus} × ${e.cpuModel}`,
    `${s.mode} mode: ${s.runs} run(s) of ${s.durationMs} ms per case and size, interleaved; median [min – max]`,
  ];
  for (const size of s.sizes) {
    const rows = [['case', 'family', 'msg/s', '[min – max]', 'GB/s', '[min – max]', 'dropped']];
    for (const c of r.cases) {
      const x = c.results.find((res) => res.size === size);
      if (!x) continue;
      const m = x.messagesPerSecond;
      const g = x.gigabytesPerSecond;
      rows.push(
        m && g
          ? [c.name, c.family, rate(m.median), `[${rate(m.min)} – ${rate(m.max)}]`, gb(g.median), `[${gb(g.min)} – ${gb(g.max)}]`, dropped(x.runs)]
          : [c.name, c.family, 'FAILED', x.failure ?? '', '', '', ''],
      );
    }
    out.push('', `${sizeLabel(size)} messages`, indent(table(rows)));
  }
  out.push('', renderRatios(r));
  if (r.versus.length) out.push('', renderVersus(r));
  out.push('', r.ok ? 'all cases verified' : 'SOME CASES FAILED VERIFICATION (no figures reported for them)');
  return out.join('\n');
}

function renderRatios(r: BenchReport): string {
  const { subject, note, rows } = r.ratios;
  const head = `Ratios: best ${subject} case ÷ baseline, median messages/s (the same ratio holds for GB/s); > 1 means ${subject} is faster`;
  if (rows.length === 0 || rows[0]!.baselines.length === 0) return `${head}\n  (no baselines)`;
  const lines = [head];
  if (note) lines.push(`(${note})`);
  const header = ['size', subject, ...rows[0]!.baselines.map((b) => `÷ ${b.label}`)];
  const body = rows.map((row) => [sizeLabel(row.size), row.subjectCase ?? 'FAILED', ...row.baselines.map((b) => ratio(b.ratio))]);
  lines.push(indent(table([header, ...body])));
  // Folded baselines hide which case was best; name them.
  for (const label of ['copy limit', 'reference', 'relayfs']) {
    const used = rows.map((row) => row.baselines.find((b) => b.label === label)).filter((b) => b !== undefined);
    if (used.length) lines.push(`  ${label} = best ${label} case per size: ${used.map((b) => b.caseName ?? '—').join(', ')}`);
  }
  return lines.join('\n');
}

// Cases measured against another one: klog with no handler ÷ an empty call with the same arguments,
// relayfs ÷ the lossless reference ring, a first lap ÷ a warm one.
function renderVersus(r: BenchReport): string {
  const head =
    'Versus: case ÷ the case it is measured against, median messages (calls)/s; > 1 means the case is faster (klog with no handler ÷ an empty call: ≥ 0.5× = at most twice its cost)';
  const rows = [
    ['case', '÷ case', 'size', 'ratio', 'target'],
    ...r.versus.map((v) => [
      v.caseName,
      v.versus,
      sizeLabel(v.size),
      ratio(v.ratio),
      v.atLeast === null ? '—' : `≥ ${ratio(v.atLeast)} ${v.ratio === null ? '' : v.ratio >= v.atLeast ? 'met' : 'MISSED'}`,
    ]),
  ];
  return `${head}\n${indent(table(rows))}`;
}

/** Median share of messages dropped (counted by the transport) over the runs, or '' when none was. */
function dropped(runs: RunResult[]): string {
  if (runs.every((r) => !r.dropped)) return '';
  const shares = runs.map((r) => (r.dropped ?? 0) / ((r.dropped ?? 0) + r.messages)).sort((a, b) => a - b);
  const mid = shares.length >> 1;
  const median = shares.length % 2 ? shares[mid]! : (shares[mid - 1]! + shares[mid]!) / 2;
  return `${(median * 100).toFixed(median < 0.1 ? 2 : 1)} %`;
}

function indent(s: string): string {
  return s.replace(/^/gm, '  ');
}
