import { useState } from 'react';
import type { ObjectInfo, TriggerInfo } from '@fx/protocol';
import { useSession } from '../app-context';
import { bytes, ConfirmButton, Empty, ErrorNote, When } from '../components';
import { Page, usePageData } from '../page';
import { Link } from '../router';

/** Objects (data by reference) and the triggers they fire: the caller's own. */
export function Data() {
  const { api } = useSession();
  const [prefix, setPrefix] = useState('');
  const state = usePageData(() => Promise.all([api.objects({ prefix: prefix || undefined, limit: 200 }), api.triggers()]), [api, prefix]);
  const [actionError, setActionError] = useState<unknown>(null);
  const act = async (f: () => Promise<unknown>) => {
    setActionError(null);
    try {
      await f();
      state.reload();
    } catch (e) {
      setActionError(e);
    }
  };
  const download = (o: ObjectInfo) =>
    act(async () => {
      const url = URL.createObjectURL(await api.objectContent(o.id));
      const a = document.createElement('a');
      a.href = url;
      a.download = o.name?.split('/').pop() ?? o.id;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  return (
    <Page id="data" title="Objects & triggers" what="objects and triggers" state={state}>
      {([objects, triggers]) => (
        <>
          {actionError ? <ErrorNote error={actionError} /> : null}
          <section className="card" aria-label="Triggers">
            <h2>Triggers</h2>
            {triggers.length === 0 ? (
              <Empty title="No triggers">Make one with client.createTrigger, fx triggers create or POST /v1/triggers.</Empty>
            ) : (
              <Triggers items={triggers} onDelete={(t) => act(() => api.deleteTrigger(t.id))} />
            )}
          </section>
          <section className="card" aria-label="Objects">
            <h2>Objects</h2>
            <div className="filters">
              <label>
                Name prefix
                <input
                  type="search"
                  defaultValue={prefix}
                  placeholder="input/"
                  aria-label="Filter objects by name prefix"
                  onChange={(e) => setPrefix(e.target.value.trim())}
                />
              </label>
              {objects.usage ? (
                <span className="muted small" data-usage>
                  {bytes(objects.usage.bytes)} used{objects.usage.quotaBytes > 0 ? ` of ${bytes(objects.usage.quotaBytes)}` : ''}
                </span>
              ) : null}
            </div>
            {objects.items.length === 0 ? (
              <Empty title="No objects">Put one with client.put, fx put or POST /v1/objects.</Empty>
            ) : (
              <table className="table responsive">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Size</th>
                    <th scope="col">sha256</th>
                    <th scope="col">Created</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Task</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {objects.items.map((o) => (
                    <tr key={o.id} data-object={o.name ?? o.id}>
                      <td data-label="Name">
                        {o.name ?? <span className="muted">(unnamed)</span>}
                        <div className="muted mono small">{o.id}</div>
                      </td>
                      <td data-label="Size">
                        {bytes(o.size)} <span className="muted small">{o.encoding}</span>
                      </td>
                      <td data-label="sha256" className="mono small" title={o.sha256}>
                        {o.sha256.slice(0, 12)}…
                      </td>
                      <td data-label="Created">
                        <When iso={o.createdAt} />
                      </td>
                      <td data-label="Expires">{o.expiresAt ? <When iso={o.expiresAt} /> : <span className="muted">never</span>}</td>
                      <td data-label="Task">{o.taskId ? <Link to={`/tasks/${o.taskId}`}>{o.taskId.slice(0, 8)}</Link> : null}</td>
                      <td data-label="Actions">
                        <button type="button" onClick={() => void download(o)}>
                          Download
                        </button>{' '}
                        <ConfirmButton
                          label={`Delete ${o.name ?? o.id}`}
                          className="danger"
                          confirm={`Delete ${o.name ?? o.id}? Tasks that already refer to it still get it.`}
                          onConfirm={() => void act(() => api.deleteObject(o.id))}
                        />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
    </Page>
  );
}

function Triggers({ items, onDelete }: { items: TriggerInfo[]; onDelete: (t: TriggerInfo) => void }) {
  return (
    <table className="table responsive">
      <thead>
        <tr>
          <th scope="col">Prefix</th>
          <th scope="col">Runs</th>
          <th scope="col">Output prefix</th>
          <th scope="col">Fired</th>
          <th scope="col">Created</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {items.map((t) => (
          <tr key={t.id} data-trigger={t.prefix}>
            <td data-label="Prefix" className="mono">
              {t.prefix}
            </td>
            <td data-label="Runs">
              <Link to={`/tasks?functionId=${t.functionId}`}>function {t.functionId.slice(0, 8)}</Link> on endpoint{' '}
              <span className="mono">{t.endpointId.slice(0, 8)}</span>
            </td>
            <td data-label="Output prefix" className="mono">
              {t.outputPrefix ?? <span className="muted">(result only)</span>}
            </td>
            <td data-label="Fired" data-fired={t.fired}>
              {t.fired}
            </td>
            <td data-label="Created">
              <When iso={t.createdAt} />
            </td>
            <td data-label="Actions">
              <ConfirmButton
                label={`Delete trigger ${t.prefix}`}
                className="danger"
                confirm={`Delete the trigger on ${t.prefix}? Tasks it started run on.`}
                onConfirm={() => onDelete(t)}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
