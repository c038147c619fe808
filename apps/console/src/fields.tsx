import type { ReactNode, SelectHTMLAttributes } from 'react';

/** A control inside its label, which names it. */
export function Field({ label, children }: { label: ReactNode; children: ReactNode }) {
  return (
    <label>
      {label}
      {children}
    </label>
  );
}

export interface Option {
  value: string;
  label: string;
}

/** Options for things with an id and a name (endpoints, functions, users). */
export const byId = (items: ReadonlyArray<{ id: string; name: string }>): Option[] => items.map((x) => ({ value: x.id, label: x.name }));

/** A labelled select; the rest of the props go to the select (`value` and `onChange`, or `name` and `defaultValue` in a form). */
export function SelectField({ label, options, ...select }: { label: ReactNode; options: readonly Option[] } & SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <Field label={label}>
      <select {...select}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Field>
  );
}
