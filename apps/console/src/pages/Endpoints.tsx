import type { ConsoleEndpoint } from '@fx/protocol';
import { useLiveEvents, useSession } from '../app-context';
import { age, ConfirmButton, Empty, ErrorNote, StatusBadge, useNow, When } from '../components';
import { Page, useAction, usePageData } from '../page';
import { Link } from '../router';
import { Table, type Column } from '../table';

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
  const action = useAction(load);
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
  const columns: Array<Column<ConsoleEndpoint> | false> = [
    {
      label: 'Name',
      cell: (e) => (
        <div>
          <Link to={`/tasks?endpointId=${e.id}`} title={`Tasks of ${e.name}`}>
            {e.name}
          </Link>
          <div className="muted mono small">{e.id}</div>
        </div>
      ),
    },
    {
      label: 'State',
      cell: (e) => (
        <div>
          <StatusBadge status={e.state} /> {e.lockedAt && <StatusBadge status="locked" />}
        </div>
      ),
    },
    {
      label: 'Last heartbeat',
      cell: (e) => (
        <>
          <When iso={e.lastHeartbeatAt} />
          {e.lastHeartbeatAt && <div className="muted small">{age(e.lastHeartbeatAt, now)}</div>}
        </>
      ),
    },
    { label: 'Provider', cell: (e) => (e.status ?? e.lastStatus)?.provider ?? e.agent?.provider ?? '—' },
    { label: 'Workers busy / idle', cell: (e) => (e.status ? `${e.status.workers.busy} / ${e.status.workers.idle}` : '—') },
    { label: 'Blocks', cell: (e) => detail(e, 'blocks', 'slurmBlocks') ?? '—' },
    { label: 'Accelerators', cell: (e) => detail(e, 'accelerators', 'gpus') ?? '—' },
    {
      label: 'Queue',
      cell: (e) => (
        <>
          {e.tasks.waiting} waiting · {e.tasks.dispatched + e.tasks.running} held
        </>
      ),
    },
    user.admin && { label: 'Owner', cell: (e) => e.ownerName ?? e.ownerId.slice(0, 8) },
    {
      label: 'Actions',
      className: 'actions',
      cell: (e) => (
        <>
          {e.lockedAt ? (
            <button type="button" onClick={() => action.run(() => api.lockEndpoint(e.id, false))} aria-label={`Unlock ${e.name}`}>
              Unlock
            </button>
          ) : (
            <button type="button" onClick={() => action.run(() => api.lockEndpoint(e.id, true))} aria-label={`Lock ${e.name}`} title="Refuse new tasks">
              Lock
            </button>
          )}
          <ConfirmButton
            label="Delete"
            className="danger"
            confirm={`Delete ${e.name}? Its unfinished tasks fail.`}
            onConfirm={() => action.run(() => api.deleteEndpoint(e.id))}
          />
        </>
      ),
    },
  ];

  return (
    <Page id="endpoints" title="Endpoints" what="endpoints" state={state}>
      {(items) => (
        <>
          {action.error ? <ErrorNote error={action.error} /> : null}
          <Table
            rows={items}
            columns={columns}
            rowKey={(e) => e.id}
            rowAttributes={(e) => ({ 'data-endpoint': e.name, 'data-state': e.state })}
            empty={
              <Empty title="No endpoints yet">
                Register one with <code>fx-endpoint configure &lt;name&gt; --url {location.origin}</code>, then start it with{' '}
                <code>fx-endpoint start &lt;name&gt;</code>.
              </Empty>
            }
          />
        </>
      )}
    </Page>
  );
}
