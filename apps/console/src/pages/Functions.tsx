import { useCallback, useEffect, useState } from 'react';
import type { FunctionInfo } from '@fx/protocol';
import { useSession } from '../app-context';
import { Empty, ErrorNote, Loading, time } from '../components';
import { Link } from '../router';

export function Functions() {
  const { api, user } = useSession();
  const [items, setItems] = useState<FunctionInfo[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const load = useCallback(() => {
    api.functions().then(
      (x) => {
        setItems(x);
        setError(null);
      },
      setError,
    );
  }, [api]);
  useEffect(load, [load]);
  const toggle = async (f: FunctionInfo) => {
    setActionError(null);
    try {
      const updated = await api.setFunctionPublic(f.id, !f.public);
      setItems((cur) => cur?.map((x) => (x.id === f.id ? updated : x)) ?? cur);
    } catch (e) {
      setActionError(e);
    }
  };
  if (error && !items) return <ErrorNote error={error} onRetry={load} />;
  if (!items) return <Loading what="functions" />;
  return (
    <section aria-labelledby="functions-title">
      <h1 id="functions-title">Functions</h1>
      {actionError ? <ErrorNote error={actionError} /> : null}
      {items.length === 0 ? (
        <Empty title="No functions yet">Register one with the SDK (client.registerFunction) or POST /v1/functions.</Empty>
      ) : (
        <table className="table responsive">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Runtime</th>
              <th scope="col">Source or command</th>
              <th scope="col">Owner</th>
              <th scope="col">Registered</th>
              <th scope="col">Public</th>
            </tr>
          </thead>
          <tbody>
            {items.map((f) => {
              const mine = f.ownerId === user.id || user.admin;
              return (
                <tr key={f.id} data-function={f.name}>
                  <td data-label="Name">
                    <div>
                      <Link to={`/tasks?functionId=${f.id}`}>{f.name}</Link>
                      <div className="muted mono small">{f.id}</div>
                    </div>
                  </td>
                  <td data-label="Runtime">{f.runtime}</td>
                  <td data-label="Source or command">
                    <pre className="source">{f.source}</pre>
                  </td>
                  <td data-label="Owner">{f.ownerId === user.id ? 'you' : <span className="mono">{f.ownerId.slice(0, 8)}</span>}</td>
                  <td data-label="Registered">{time(f.createdAt)}</td>
                  <td data-label="Public">
                    <label className="switch">
                      <input type="checkbox" role="switch" checked={f.public} disabled={!mine} onChange={() => toggle(f)} aria-label={`${f.name} is public`} />
                      <span>{f.public ? 'public' : 'private'}</span>
                    </label>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
