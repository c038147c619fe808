import type { ReactNode, TdHTMLAttributes } from 'react';

/** data-* attributes a row or cell carries for styles and the browser tests. */
export type DataAttributes = Record<`data-${string}`, string | number | boolean | null | undefined>;

/** One column: its header, which also labels each of its cells (`data-label`, shown before the value on narrow screens). */
export interface Column<T> {
  label: string;
  cell: (row: T) => ReactNode;
  className?: string;
  attributes?: (row: T) => DataAttributes & Pick<TdHTMLAttributes<HTMLTableCellElement>, 'title'>;
}

/**
 * The console's tables: a header row from the columns, one row per item, each cell labelled by its
 * column. `empty` stands in for the table when there are no rows.
 */
export function Table<T>({
  rows,
  columns,
  rowKey,
  rowAttributes,
  label,
  empty,
}: {
  rows: readonly T[];
  columns: ReadonlyArray<Column<T> | false>;
  rowKey: (row: T) => string | number;
  rowAttributes?: (row: T) => DataAttributes;
  label?: string;
  empty?: ReactNode;
}) {
  if (rows.length === 0 && empty !== undefined) return <>{empty}</>;
  // `false` leaves a column out (one only some users see)
  const shown = columns.filter((c): c is Column<T> => c !== false);
  return (
    <table className="table responsive" aria-label={label}>
      <thead>
        <tr>
          {shown.map((c) => (
            <th scope="col" key={c.label}>
              {c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={rowKey(row)} {...rowAttributes?.(row)}>
            {shown.map((c) => (
              <td key={c.label} data-label={c.label} className={c.className} {...c.attributes?.(row)}>
                {c.cell(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
