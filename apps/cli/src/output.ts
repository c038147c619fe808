import type { CliContext } from './cli.context.js';

/** Columns padded to their widest cell; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** A table of items: its column headings, one row per item, and the sentence said instead when there are none. */
export interface TableSpec<T> {
  header: string[];
  row: (item: T) => string[];
  empty: string;
}

/** A list for people: a table of one row per item, or `empty` on stderr when there are none. */
export function printTable<T>(context: CliContext, items: T[], { header, row, empty }: TableSpec<T>): void {
  if (items.length === 0) context.err(empty);
  else context.out(formatTable(header, items.map(row)));
}

/** One record for people: a line per field, the values aligned at `width`. */
export function printRecord(context: CliContext, fields: Array<[string, string]>, width: number): void {
  for (const [k, v] of fields) context.out(`${k.padEnd(width)}${v}`);
}

/** The one JSON document a `--json` command writes to stdout. */
export function printJson(context: CliContext, value: unknown): void {
  context.out(JSON.stringify(value, null, 2));
}

/** A value as JSON for people: indented, and `undefined` (no result) shown as null. */
export function formatValue(value: unknown): string {
  return JSON.stringify(value ?? null, null, 2);
}

/** An ISO instant as `2026-12-02 01:02:03Z`: a date on every time, seconds kept, UTC said. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** A byte count for people: `512 B`, `1.5 KiB`, `200 MiB`, `1.0 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
