import type { FormEvent } from 'react';
import { TaskStatus } from '@fx/protocol';
import type { TaskFilters } from '../../api';
import { useSession } from '../../app-context';
import { CutNote, shortId } from '../../components';
import { byId, Field, SelectField, type Option } from '../../fields';
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
  const { endpoints, functions, users, cut } = lookups;

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

  // the owner filter is for admins, who see everyone's tasks
  const selects: Array<Omit<FilterSelectProps, 'value'> & { name: keyof TaskFilters }> = [
    { label: 'State', name: 'status', options: TaskStatus.options.map((s) => ({ value: s, label: s })), keepUnknown: (v) => v },
    { label: 'Endpoint', name: 'endpointId', options: byId(endpoints), keepUnknown: shortId },
    { label: 'Function', name: 'functionId', options: byId(functions), keepUnknown: shortId },
    ...(user.admin ? [{ label: 'Owner', name: 'ownerId' as const, any: 'anyone', options: byId(users), keepUnknown: shortId }] : []),
  ];

  return (
    <form
      className="filters"
      onSubmit={setFilter}
      // re-mounted when the filters or the option lists change, so the selects show the filters in force
      key={`${filterKey}/${endpoints.length}/${functions.length}/${users.length}`}
      aria-label="Filter tasks"
    >
      {selects.map((s) => (
        <FilterSelect key={s.name} {...s} value={filters[s.name]} />
      ))}
      <Field label="Group">
        <input type="text" name="batchId" placeholder="batch / map id" defaultValue={filters.batchId ?? ''} size={12} />
      </Field>
      <Field label="From">
        <input type="datetime-local" name="since" defaultValue={toLocal(filters.since ?? null)} />
      </Field>
      <Field label="To">
        <input type="datetime-local" name="until" defaultValue={toLocal(filters.until ?? null)} />
      </Field>
      {/* past the head, a function or owner is still a filter: by its id in the address (?functionId=, ?ownerId=) */}
      {cut.functions ? <CutNote shown={functions.length} what="functions" /> : null}
      {cut.users && user.admin ? <CutNote shown={users.length} what="users" /> : null}
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

interface FilterSelectProps {
  label: string;
  name: string;
  value: string | undefined;
  /** What the empty choice reads. */
  any?: string;
  options: readonly Option[];
  keepUnknown?: (value: string) => string;
}

/**
 * One select of the form: `any` first, then the options. With `keepUnknown`, a value in force that is
 * not among the options (a deleted endpoint, say) stays selectable under that label, so Apply keeps it.
 */
function FilterSelect({ label, name, value, any = 'any', options, keepUnknown }: FilterSelectProps) {
  const unknown = keepUnknown && value && !options.some((o) => o.value === value) ? [{ value, label: keepUnknown(value) }] : [];
  return <SelectField label={label} name={name} defaultValue={value ?? ''} options={[{ value: '', label: any }, ...options, ...unknown]} />;
}
