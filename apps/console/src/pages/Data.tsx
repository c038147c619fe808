import { useState } from 'react';
import type { ObjectInfo, TriggerInfo } from '@fx/protocol';
import { useSession } from '../app-context';
import { bytes, ConfirmButton, Empty, ErrorNote, saveBlob, When } from '../components';
import { Field } from '../fields';
import { Page, useAction, usePageData } from '../page';
import { Link } from '../router';
import { Table, type Column } from '../table';

/** Objects (data by reference) and the triggers they fire: the caller's own. */
export function Data() {
  const { api } = useSession();
  const [prefix, setPrefix] = useState('');
  const state = usePageData(() => Promise.all([api.objects({ prefix: prefix || undefined, limit: 200 }), api.triggers()]), [api, prefix]);
  const action = useAction(state.reload);
  const download = (o: ObjectInfo) => action.run(async () => saveBlob(await api.objectContent(o.id), o.name?.split('/').pop() ?? o.id));
  const remove = (o: ObjectInfo) => action.run(() => api.deleteObject(o.id));
  const objectColumns: Array<Column<ObjectInfo>> = [
    {
      label: 'Name',
      cell: (o) => (
        <>
          {o.name ?? <span className="muted">(unnamed)</span>}
          <div className="muted mono small">{o.id}</div>
        </>
      ),
    },
    {
      label: 'Size',
      cell: (o) => (
        <>
          {bytes(o.size)} <span className="muted small">{o.encoding}</span>
        </>
      ),
    },
    { label: 'sha256', className: 'mono small', attributes: (o) => ({ title: o.sha256 }), cell: (o) => `${o.sha256.slice(0, 12)}…` },
    { label: 'Created', cell: (o) => <When iso={o.createdAt} /> },
    { label: 'Expires', cell: (o) => (o.expiresAt ? <When iso={o.expiresAt} /> : <span className="muted">never</span>) },
    { label: 'Task', cell: (o) => (o.taskId ? <Link to={`/tasks/${o.taskId}`}>{o.taskId.slice(0, 8)}</Link> : null) },
    {
      label: 'Actions',
      cell: (o) => (
        <>
          <button type="button" onClick={() => void download(o)}>
            Download
          </button>{' '}
          <ConfirmButton
            label={`Delete ${o.name ?? o.id}`}
            className="danger"
            confirm={`Delete ${o.name ?? o.id}? Tasks that already refer to it still get it.`}
            onConfirm={() => void remove(o)}
          />
        </>
      ),
    },
  ];
  return (
    <Page id="data" title="Objects & triggers" what="objects and triggers" state={state}>
      {([objects, triggers]) => (
        <>
          {action.error ? <ErrorNote error={action.error} /> : null}
          <section className="card" aria-label="Triggers">
            <h2>Triggers</h2>
            <Triggers items={triggers} onDelete={(t) => action.run(() => api.deleteTrigger(t.id))} />
          </section>
          <section className="card" aria-label="Objects">
            <h2>Objects</h2>
            <div className="filters">
              <Field label="Name prefix">
                <input
                  type="search"
                  defaultValue={prefix}
                  placeholder="input/"
                  aria-label="Filter objects by name prefix"
                  onChange={(e) => setPrefix(e.target.value.trim())}
                />
              </Field>
              {objects.usage ? (
                <span className="muted small" data-usage>
                  {bytes(objects.usage.bytes)} used{objects.usage.quotaBytes > 0 ? ` of ${bytes(objects.usage.quotaBytes)}` : ''}
                </span>
              ) : null}
            </div>
            <Table
              rows={objects.items}
              columns={objectColumns}
              rowKey={(o) => o.id}
              rowAttributes={(o) => ({ 'data-object': o.name ?? o.id })}
              empty={<Empty title="No objects">Put one with client.put, fx put or POST /v1/objects.</Empty>}
            />
          </section>
        </>
      )}
    </Page>
  );
}

function Triggers({ items, onDelete }: { items: TriggerInfo[]; onDelete: (t: TriggerInfo) => void }) {
  return (
    <Table
      rows={items}
      rowKey={(t) => t.id}
      rowAttributes={(t) => ({ 'data-trigger': t.prefix })}
      empty={<Empty title="No triggers">Make one with client.createTrigger, fx triggers create or POST /v1/triggers.</Empty>}
      columns={[
        { label: 'Prefix', className: 'mono', cell: (t) => t.prefix },
        {
          label: 'Runs',
          cell: (t) => (
            <>
              <Link to={`/tasks?functionId=${t.functionId}`}>function {t.functionId.slice(0, 8)}</Link> on endpoint{' '}
              <span className="mono">{t.endpointId.slice(0, 8)}</span>
            </>
          ),
        },
        { label: 'Output prefix', className: 'mono', cell: (t) => t.outputPrefix ?? <span className="muted">(result only)</span> },
        { label: 'Fired', attributes: (t) => ({ 'data-fired': t.fired }), cell: (t) => t.fired },
        { label: 'Created', cell: (t) => <When iso={t.createdAt} /> },
        {
          label: 'Actions',
          cell: (t) => (
            <ConfirmButton
              label={`Delete trigger ${t.prefix}`}
              className="danger"
              confirm={`Delete the trigger on ${t.prefix}? Tasks it started run on.`}
              onConfirm={() => onDelete(t)}
            />
          ),
        },
      ]}
    />
  );
}
