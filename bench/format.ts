// Number and size formatting shared by the text report and the chart.

export function sizeLabel(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

/** 3 significant digits with k/M/G: 12.3 M. */
export function rate(x: number): string {
  for (const [unit, scale] of [
    ['G', 1e9],
    ['M', 1e6],
    ['k', 1e3],
  ] as const) {
    if (x >= scale) return `${(x / scale).toPrecision(3)} ${unit}`;
  }
  return x.toPrecision(3);
}

export function gb(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

export function ratio(x: number | null): string {
  if (x === null) return '—';
  return `${x >= 100 ? x.toFixed(0) : x.toPrecision(3)}×`;
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
