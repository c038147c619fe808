import { useState, type FormEvent, type ReactNode } from 'react';
import type { TokenInfo, UserInfo } from '@fx/protocol';
import { useSession } from '../app-context';
import { ConfirmButton, CutNote, Empty, ErrorNote, Loading, time } from '../components';
import { Page, useAction, usePageData } from '../page';
import { Table, type Column } from '../table';

export function Users() {
  const { api, user: me } = useSession();
  const state = usePageData(() => api.users(), [api]);
  const [selected, setSelected] = useState<string | null>(null);
  const creating = useAction();

  if (!me.admin) return <Empty title="Administrators only">Users and tokens are managed by administrators.</Empty>;

  const create = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    void creating.run(async () => {
      const u = await api.createUser(String(data.get('name') ?? '').trim(), data.get('admin') === 'on');
      form.reset();
      state.reload();
      setSelected(u.id);
    });
  };
  return (
    <Page id="users" title="Users and tokens" what="users" state={state}>
      {({ items: users, cut }) => {
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
              {cut ? <CutNote shown={users.length} what="users" /> : null}
              <InlineForm title="Create a user" submit="Create user" onSubmit={create} error={creating.error}>
                <label htmlFor="new-user">Name</label>
                <input id="new-user" name="name" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]*" maxLength={128} />
                <label className="check">
                  <input type="checkbox" name="admin" /> administrator
                </label>
              </InlineForm>
            </div>
            {current ? <Tokens key={current.id} user={current} /> : <Empty title="Pick a user">Select a user to see and issue their tokens.</Empty>}
          </div>
        );
      }}
    </Page>
  );
}

/** A small form under a list: its heading names it, then its fields, the submit button and the error of the last try. */
function InlineForm({
  title,
  submit,
  onSubmit,
  error,
  children,
}: {
  title: string;
  submit: string;
  onSubmit: (e: FormEvent<HTMLFormElement>) => void;
  error?: unknown;
  children: ReactNode;
}) {
  return (
    <form onSubmit={onSubmit} className="inline-form" aria-label={title}>
      <h3>{title}</h3>
      {children}
      <button type="submit" className="primary">
        {submit}
      </button>
      {error ? <ErrorNote error={error} /> : null}
    </form>
  );
}

function Tokens({ user }: { user: UserInfo }) {
  const { api } = useSession();
  const tokens = usePageData(() => api.tokens(user.id), [api, user.id]);
  const [fresh, setFresh] = useState<{ token: string; name: string } | null>(null);
  const action = useAction(tokens.reload);
  const issue = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const days = Number(data.get('days') || 0);
    void action.run(async () => {
      const res = await api.issueToken(user.id, String(data.get('name') || 'token'), days > 0 ? Math.round(days * 86400) : undefined);
      setFresh({ token: res.token, name: res.info.name });
    });
  };
  const columns: Array<Column<TokenInfo>> = [
    { label: 'Name', cell: (t) => t.name },
    { label: 'Kind', cell: (t) => t.kind },
    { label: 'Created', cell: (t) => time(t.createdAt) },
    { label: 'Expires', cell: (t) => (t.expiresAt ? time(t.expiresAt) : 'never') },
    {
      label: 'State',
      cell: (t) =>
        t.revokedAt ? (
          <span className="badge badge-failed">revoked</span>
        ) : (
          <ConfirmButton label="Revoke" className="danger" confirm={`Revoke ${t.name}?`} onConfirm={() => action.run(() => api.revokeToken(t.id))} />
        ),
    },
  ];
  // a failed action or a failed read of the list: one note, the action's first
  const error = action.error ?? tokens.error;
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
      {!tokens.data ? (
        <Loading what="tokens" />
      ) : (
        <>
          <Table
            rows={tokens.data.items}
            columns={columns}
            rowKey={(t) => t.id}
            rowAttributes={(t) => ({ 'data-token': t.name })}
            empty={<p className="muted">No tokens.</p>}
          />
          {tokens.data.cut ? <CutNote shown={tokens.data.items.length} what="tokens" /> : null}
        </>
      )}
      <InlineForm title="Issue a token" submit="Issue token" onSubmit={issue}>
        <label htmlFor="token-name">Name</label>
        <input id="token-name" name="name" defaultValue="console" maxLength={128} />
        <label htmlFor="token-days">Expires in (days, empty for never)</label>
        <input id="token-days" name="days" type="number" min="0" step="any" />
      </InlineForm>
    </div>
  );
}
