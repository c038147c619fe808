import type { CliContext } from './cli.context.js';

// C0 controls but \t and \n, DEL, C1 (U+009B is a one-byte CSI), and the bidi embeddings, overrides and isolates
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text for a terminal: every control character a terminal would act on (C0 but tab and newline, DEL, C1)
 * and every bidi override or isolate is written as its JSON escape, `\u001b` for ESC. Other users choose
 * much of what fx prints (a public function's description and source, a task's error, its output, an
 * agent's worker ids): an escape sequence there could move the cursor, erase or recolour lines, set the
 * clipboard (OSC 52), or reorder what is read. The escapes are JSON's, so a JSON document passed through
 * it is still the same document.
 */
export function safeText(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Whether a stream is a terminal (process.stdout is one when nothing redirects it). */
export function isTerminal(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** Columns padded to their widest cell; the last column is not padded. Cells are made safeText first, so they align. */
export function formatTable(header: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(safeText));
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

/** The one JSON document a `--json` command writes to stdout (context.out's safeText keeps it JSON). */
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
