import type { FormEvent } from 'react';
import { TaskStatus } from '@fx/protocol';
import type { TaskFilters } from '../../api';
import { useSession } from '../../app-context';
import { shortId } from '../../components';
import { navigate } from '../../router';
import { FILTER_KEYS, type TaskLookups } from './useTaskList';

/** datetime-local values are local time without a zone; the API wants ISO 8601 with one. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);
const toLocal = (iso: string | null) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** The filters of the task list. Applying one navigates to /tasks with it in the query string, which is where the list reads it. */
export function TaskFilterForm({ filters, filterKey, lookups }: { filters: TaskFilters; filterKey: string; lookups: TaskLookups }) {
  const { user } = useSession();
  const { endpoints, functions, users } = lookups;

  const setFilter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const p = new URLSearchParams();
    for (const k of FILTER_KEYS) {
      let v = String(form.get(k) ?? '');
      if (k === 'since' || k === 'until') v = toIso(v) ?? '';
      if (v) p.set(k, v);
    }
    const q = p.toString();
    navigate(`/tasks${q ? `?${q}` : ''}`);
  };

  return (
    <form
      className="filters"
      onSubmit={setFilter}
      // re-mounted when the filters or the option lists change, so the selects show the filters in force
      key={`${filterKey}/${endpoints.length}/${functions.length}/${users.length}`}
      aria-label="Filter tasks"
    >
      <FilterSelect
        label="State"
        name="status"
        value={filters.status}
        any="any"
        options={TaskStatus.options.map((s) => ({ value: s, label: s }))}
        keepUnknown={(v) => v}
      />
      <FilterSelect
        label="Endpoint"
        name="endpointId"
        value={filters.endpointId}
        any="any"
        options={endpoints.map((e) => ({ value: e.id, label: e.name }))}
        keepUnknown={shortId}
      />
      <FilterSelect
        label="Function"
        name="functionId"
        value={filters.functionId}
        any="any"
        options={functions.map((f) => ({ value: f.id, label: f.name }))}
        keepUnknown={shortId}
      />
      {user.admin && (
        <FilterSelect label="Owner" name="ownerId" value={filters.ownerId} any="anyone" options={users.map((u) => ({ value: u.id, label: u.name }))} />
      )}
      <label>
        Group
        <input type="text" name="batchId" placeholder="batch / map id" defaultValue={filters.batchId ?? ''} size={12} />
      </label>
      <label>
        From
        <input type="datetime-local" name="since" defaultValue={toLocal(filters.since ?? null)} />
      </label>
      <label>
        To
        <input type="datetime-local" name="until" defaultValue={toLocal(filters.until ?? null)} />
      </label>
      <div className="filter-buttons">
        <button type="submit" className="primary">
          Apply
        </button>
        <button type="button" onClick={() => navigate('/tasks')}>
          Clear
        </button>
      </div>
    </form>
  );
}

/**
 * One select of the form: `any` first, then the options. With `keepUnknown`, a value in force that is
 * not among the options (a deleted endpoint, say) stays selectable under that label, so Apply keeps it.
 */
function FilterSelect({
  label,
  name,
  value,
  any,
  options,
  keepUnknown,
}: {
  label: string;
  name: string;
  value: string | undefined;
  any: string;
  options: ReadonlyArray<{ value: string; label: string }>;
  keepUnknown?: (value: string) => string;
}) {
  return (
    <label>
      {label}
      <select name={name} defaultValue={value ?? ''}>
        <option value="">{any}</option>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
        {keepUnknown && value && !options.some((o) => o.value === value) && <option value={value}>{keepUnknown(value)}</option>}
      </select>
    </label>
  );
}
