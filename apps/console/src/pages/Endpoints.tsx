import { useState } from 'react';
import type { ConsoleEndpoint } from '@fx/protocol';
import { useLiveEvents, useSession } from '../app-context';
import { age, ConfirmButton, Empty, ErrorNote, StatusBadge, useNow, When } from '../components';
import { Page, usePageData } from '../page';
import { Link } from '../router';

function detail(e: ConsoleEndpoint, ...keys: string[]): string | null {
  const d = e.status?.details as Record<string, unknown> | undefined;
  for (const k of keys) {
    const v = d?.[k];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v))
      return v.length ? v.map((x) => (typeof x === 'object' ? ((x as { name?: string }).name ?? JSON.stringify(x)) : String(x))).join(', ') : null;
    if (typeof v === 'object')
      return Object.entries(v as object)
        .map(([a, b]) => `${a}: ${b}`)
        .join(', ');
    return String(v);
  }
  return null;
}

export function Endpoints() {
  const { api, user } = useSession();
  const state = usePageData(() => api.endpoints(), [api]);
  const { setData: setItems, reload: load } = state;
  const [actionError, setActionError] = useState<unknown>(null);
  const now = useNow();
  useLiveEvents((e) => {
    if (e.overflow) return load();
    if (!e.endpoints.length && !e.removedEndpoints.length) return;
    setItems((cur) => {
      if (!cur) return cur;
      const byId = new Map(cur.map((x) => [x.id, x]));
      for (const ep of e.endpoints) byId.set(ep.id, ep);
      for (const id of e.removedEndpoints) byId.delete(id);
      return [...byId.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    });
  });
  const act = async (f: () => Promise<unknown>) => {
    setActionError(null);
    try {
      await f();
      load();
    } catch (e) {
      setActionError(e);
    }
  };

  return (
    <Page id="endpoints" title="Endpoints" what="endpoints" state={state}>
      {(items) => (
        <>
          {actionError ? <ErrorNote error={actionError} /> : null}
          {items.length === 0 ? (
            <Empty title="No endpoints yet">
              Register one with <code>fx-endpoint configure &lt;name&gt; --url {location.origin}</code>, then start it with{' '}
              <code>fx-endpoint start &lt;name&gt;</code>.
            </Empty>
          ) : (
            <table className="table responsive">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Workers busy / idle</th>
                  <th scope="col">Blocks</th>
                  <th scope="col">Accelerators</th>
                  <th scope="col">Queue</th>
                  {user.admin && <th scope="col">Owner</th>}
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((e) => (
                  <tr key={e.id} data-endpoint={e.name} data-state={e.state}>
                    <td data-label="Name">
                      <div>
                        <Link to={`/tasks?endpointId=${e.id}`} title={`Tasks of ${e.name}`}>
                          {e.name}
                        </Link>
                        <div className="muted mono small">{e.id}</div>
                      </div>
                    </td>
                    <td data-label="State">
                      <div>
                        <StatusBadge status={e.state} /> {e.lockedAt && <StatusBadge status="locked" />}
                      </div>
                    </td>
                    <td data-label="Last heartbeat">
                      <When iso={e.lastHeartbeatAt} />
                      {e.lastHeartbeatAt && <div className="muted small">{age(e.lastHeartbeatAt, now)}</div>}
                    </td>
                    <td data-label="Provider">{(e.status ?? e.lastStatus)?.provider ?? e.agent?.provider ?? '—'}</td>
                    <td data-label="Workers busy / idle">{e.status ? `${e.status.workers.busy} / ${e.status.workers.idle}` : '—'}</td>
                    <td data-label="Blocks">{detail(e, 'blocks', 'slurmBlocks') ?? '—'}</td>
                    <td data-label="Accelerators">{detail(e, 'accelerators', 'gpus') ?? '—'}</td>
                    <td data-label="Queue">
                      {e.tasks.waiting} waiting · {e.tasks.dispatched + e.tasks.running} held
                    </td>
                    {user.admin && <td data-label="Owner">{e.ownerName ?? e.ownerId.slice(0, 8)}</td>}
                    <td data-label="Actions" className="actions">
                      {e.lockedAt ? (
                        <button type="button" onClick={() => act(() => api.lockEndpoint(e.id, false))} aria-label={`Unlock ${e.name}`}>
                          Unlock
                        </button>
                      ) : (
                        <button type="button" onClick={() => act(() => api.lockEndpoint(e.id, true))} aria-label={`Lock ${e.name}`} title="Refuse new tasks">
                          Lock
                        </button>
                      )}
                      <ConfirmButton
                        label="Delete"
                        className="danger"
                        confirm={`Delete ${e.name}? Its unfinished tasks fail.`}
                        onConfirm={() => act(() => api.deleteEndpoint(e.id))}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </Page>
  );
}
