// The report as an SVG chart: one group of bars per message size, one bar per case
// (median messages/s, log scale), a whisker from min to max, a legend by family.
import { rate, sizeLabel } from './format.js';
import type { BenchReport } from './summary.js';
import type { Family } from './types.js';

// Shades per family, darkest first; cases of a family take them in order.
const PALETTE: Record<Family, string[]> = {
  'copy-limit': ['#3f3f3f', '#5f5f5f', '#7f7f7f', '#9a9a9a', '#b3b3b3', '#cacaca'],
  reference: ['#1f5fa8', '#4f8fd0'],
  peer: ['#d8730f', '#f2a541', '#3d9a50', '#8a5fb8', '#b5487a'],
  relayfs: ['#c0182b', '#e0525e', '#f08a8f', '#8e1020', '#ff9aa2', '#6b0b18'],
  scaling: ['#a0522d', '#c9865a'],
  'first-lap': ['#6b6b00', '#9a9a1f', '#c2c24f'],
  klog: ['#0f6b6b', '#178f8f', '#2aa6a6', '#4fbcbc', '#7fd3d3', '#0a4f4f'],
};

const BAR = 9;
const GAP = 2;
const GROUP_GAP = 26;
const LEFT = 64;
const TOP = 58;
const PLOT_H = 300;
const LEGEND_W = 230;

export function renderSvg(r: BenchReport): string {
  const cases = r.cases;
  const sizes = r.settings.sizes;
  const groupW = cases.length * (BAR + GAP) - GAP + GROUP_GAP;
  const width = LEFT + sizes.length * groupW + LEGEND_W;
  const height = Math.max(TOP + PLOT_H + 50, TOP + cases.length * 18 + 20);
  const rates = cases.flatMap((c) => c.results.flatMap((x) => (x.messagesPerSecond ? [x.messagesPerSecond.min, x.messagesPerSecond.max] : [])));
  const lo = Math.floor(Math.log10(Math.min(...rates, 1e6)));
  const hi = Math.ceil(Math.log10(Math.max(...rates, 1e7)));
  const y = (v: number): number => TOP + PLOT_H - ((Math.log10(v) - lo) / (hi - lo)) * PLOT_H;
  const colour = colours(cases.map((c) => c.family));
  const e = r.environment;
  const s = r.settings;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(LEFT, 22, 'Messages per second, one producer and one consumer thread (log scale)', 'font-size="15" font-weight="600"'),
    text(LEFT, 40, `median of ${s.runs} run(s) of ${s.durationMs} ms, whiskers min–max · node ${e.node} · ${e.cpus} × ${e.cpuModel} · ${r.createdAt.slice(0, 10)}`, 'fill="#555"'),
  ];
  for (let p = lo; p <= hi; p++) {
    const yy = y(10 ** p);
    parts.push(`<line x1="${LEFT}" x2="${LEFT + sizes.length * groupW}" y1="${yy}" y2="${yy}" stroke="#e3e3e3"/>`);
    parts.push(text(LEFT - 6, yy + 4, decade(p), 'text-anchor="end" fill="#555"'));
  }
  sizes.forEach((size, g) => {
    const x0 = LEFT + g * groupW + GROUP_GAP / 2;
    parts.push(text(x0 + (groupW - GROUP_GAP) / 2, TOP + PLOT_H + 18, sizeLabel(size), 'text-anchor="middle" font-weight="600"'));
    cases.forEach((c, i) => {
      const x = x0 + i * (BAR + GAP);
      const cell = c.results.find((res) => res.size === size);
      const m = cell?.messagesPerSecond;
      if (!cell) return;
      if (!m) {
        parts.push(text(x + BAR / 2, TOP + PLOT_H - 4, '✗', `text-anchor="middle" fill="#c00"`, `${c.name} ${sizeLabel(size)}: FAILED`));
        return;
      }
      const top = y(m.median);
      const title = `${c.name} ${sizeLabel(size)}: ${rate(m.median)} msg/s [${rate(m.min)} – ${rate(m.max)}]`;
      parts.push(`<rect x="${x}" y="${top.toFixed(1)}" width="${BAR}" height="${(TOP + PLOT_H - top).toFixed(1)}" fill="${colour[i]}"><title>${esc(title)}</title></rect>`);
      const cx = x + BAR / 2;
      parts.push(`<line x1="${cx}" x2="${cx}" y1="${y(m.max).toFixed(1)}" y2="${y(m.min).toFixed(1)}" stroke="#000" stroke-width="1"/>`);
    });
  });
  parts.push(`<line x1="${LEFT}" x2="${LEFT + sizes.length * groupW}" y1="${TOP + PLOT_H}" y2="${TOP + PLOT_H}" stroke="#333"/>`);
  const lx = LEFT + sizes.length * groupW + 16;
  cases.forEach((c, i) => {
    const ly = TOP + i * 18;
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${colour[i]}"/>`);
    parts.push(text(lx + 18, ly + 10, `${c.name} (${c.family})`));
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** 10^p as 1, 10, 100, 1k … 100G. */
function decade(p: number): string {
  const units = ['', 'k', 'M', 'G'];
  const u = Math.min(Math.floor(p / 3), units.length - 1);
  return `${10 ** (p - 3 * u)}${units[u]}`;
}

function colours(families: Family[]): string[] {
  const used = new Map<Family, number>();
  return families.map((f) => {
    const n = used.get(f) ?? 0;
    used.set(f, n + 1);
    return PALETTE[f][n % PALETTE[f].length]!;
  });
}

function text(x: number, y: number, s: string, attrs = '', title?: string): string {
  const t = title ? `<title>${esc(title)}</title>` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${t}${esc(s)}</text>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
