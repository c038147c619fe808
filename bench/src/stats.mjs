// Small helpers the benchmark's files share: clocks, medians and percentiles, and printing.
export const now = () => performance.now();
export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/**
 * The systems that have samples in `runs` (system → [sample]), in `order`, and `med(system, metric)`,
 * the median of one metric of one system: what each workload's table starts from.
 */
export function medians(runs, order = Object.keys(runs ?? {})) {
  return { systems: order.filter((s) => runs?.[s]?.length), med: (s, k) => median(runs[s].map((r) => r[k])) };
}
export const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const say = (msg) => process.stderr.write(`[bench] ${msg}\n`);

export function latencyStats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** Lines of a plain-text table: the first column left-aligned, the others right-aligned. */
export function textTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export const fmt = (v, d = 0) =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
