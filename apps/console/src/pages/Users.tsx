import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { TokenInfo, UserInfo } from '@fx/protocol';
import { useSession } from '../app-context';
import { ConfirmButton, Empty, ErrorNote, Loading, time } from '../components';
import { Page, usePageData } from '../page';

export function Users() {
  const { api, user: me } = useSession();
  const state = usePageData(() => api.users(), [api]);
  const load = state.reload;
  const [selected, setSelected] = useState<string | null>(null);
  const [formError, setFormError] = useState<unknown>(null);

  if (!me.admin) return <Empty title="Administrators only">Users and tokens are managed by administrators.</Empty>;

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    setFormError(null);
    try {
      const u = await api.createUser(String(data.get('name') ?? '').trim(), data.get('admin') === 'on');
      form.reset();
      load();
      setSelected(u.id);
    } catch (err) {
      setFormError(err);
    }
  };
  return (
    <Page id="users" title="Users and tokens" what="users" state={state}>
      {(users) => {
        const current = users.find((u) => u.id === selected);
        return (
          <div className="grid-2">
            <div className="card">
              <h2>Users</h2>
              <ul className="list" aria-label="Users">
                {users.map((u) => (
                  <li key={u.id}>
                    <button
                      type="button"
                      className={`list-item ${u.id === selected ? 'selected' : ''}`}
                      aria-pressed={u.id === selected}
                      onClick={() => setSelected(u.id)}
                      data-user={u.name}
                    >
                      <span>{u.name}</span>
                      {u.admin && <span className="badge badge-admin">admin</span>}
                      {u.id === me.id && <span className="muted small">(you)</span>}
                    </button>
                  </li>
                ))}
              </ul>
              <form onSubmit={create} className="inline-form" aria-label="Create a user">
                <h3>Create a user</h3>
                <label htmlFor="new-user">Name</label>
                <input id="new-user" name="name" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]*" maxLength={128} />
                <label className="check">
                  <input type="checkbox" name="admin" /> administrator
                </label>
                <button type="submit" className="primary">
                  Create user
                </button>
                {formError ? <ErrorNote error={formError} /> : null}
              </form>
            </div>
            {current ? <Tokens key={current.id} user={current} /> : <Empty title="Pick a user">Select a user to see and issue their tokens.</Empty>}
          </div>
        );
      }}
    </Page>
  );
}

function Tokens({ user }: { user: UserInfo }) {
  const { api } = useSession();
  const [tokens, setTokens] = useState<TokenInfo[] | null>(null);
  const [fresh, setFresh] = useState<{ token: string; name: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    api.tokens(user.id).then(setTokens, setError);
  }, [api, user.id]);
  useEffect(load, [load]);
  const issue = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const days = Number(data.get('days') || 0);
    setError(null);
    try {
      const res = await api.issueToken(user.id, String(data.get('name') || 'token'), days > 0 ? Math.round(days * 86400) : undefined);
      setFresh({ token: res.token, name: res.info.name });
      load();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (id: string) => {
    setError(null);
    try {
      await api.revokeToken(id);
      load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="card">
      <h2>Tokens of {user.name}</h2>
      {fresh && (
        <div className="notice fresh-token" role="status">
          <p>
            Token <strong>{fresh.name}</strong> — copy it now; it is shown only once.
          </p>
          <input readOnly value={fresh.token} aria-label="New token" onFocus={(e) => e.currentTarget.select()} className="mono" />
          <button type="button" onClick={() => navigator.clipboard?.writeText(fresh.token)}>
            Copy
          </button>
          <button type="button" className="link-button" onClick={() => setFresh(null)}>
            Done
          </button>
        </div>
      )}
      {error ? <ErrorNote error={error} /> : null}
      {!tokens ? (
        <Loading what="tokens" />
      ) : tokens.length === 0 ? (
        <p className="muted">No tokens.</p>
      ) : (
        <table className="table responsive">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => (
              <tr key={t.id} data-token={t.name}>
                <td data-label="Name">{t.name}</td>
                <td data-label="Kind">{t.kind}</td>
                <td data-label="Created">{time(t.createdAt)}</td>
                <td data-label="Expires">{t.expiresAt ? time(t.expiresAt) : 'never'}</td>
                <td data-label="State">
                  {t.revokedAt ? (
                    <span className="badge badge-failed">revoked</span>
                  ) : (
                    <ConfirmButton label="Revoke" className="danger" confirm={`Revoke ${t.name}?`} onConfirm={() => revoke(t.id)} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={issue} className="inline-form" aria-label="Issue a token">
        <h3>Issue a token</h3>
        <label htmlFor="token-name">Name</label>
        <input id="token-name" name="name" defaultValue="console" maxLength={128} />
        <label htmlFor="token-days">Expires in (days, empty for never)</label>
        <input id="token-days" name="days" type="number" min="0" step="any" />
        <button type="submit" className="primary">
          Issue token
        </button>
      </form>
    </div>
  );
}
