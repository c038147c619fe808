import { useCallback, useEffect, useMemo, useState } from 'react';
import type { UserInfo } from '@fx/protocol';
import { api, setUnauthorizedHandler } from './api';
import { SessionContext, type Session } from './app-context';
import { LiveChannel, type LiveState } from './live';
import { Link, match, useLocation } from './router';
import { session } from './session';
import { SignIn } from './pages/SignIn';
import { Overview } from './pages/Overview';
import { Endpoints } from './pages/Endpoints';
import { Functions } from './pages/Functions';
import { Tasks } from './pages/Tasks';
import { TaskPage } from './pages/TaskPage';
import { Users } from './pages/Users';
import { Data } from './pages/Data';
import { Audit } from './pages/Audit';
import { Usage } from './pages/Usage';
import { Empty, Loading } from './components';

export function App() {
  const [token, setToken] = useState<string | null>(session.get);
  const [user, setUser] = useState<UserInfo | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((message?: string) => {
    session.clear();
    setToken(null);
    setUser(null);
    setNotice(message ?? null);
  }, []);
  useEffect(() => setUnauthorizedHandler((e) => signOut(`You were signed out: ${e.message}.`)), [signOut]);

  // a token from an earlier page load of this tab: check it once
  useEffect(() => {
    if (token && !user)
      api(token)
        .whoami()
        .then(
          (w) => setUser(w.user),
          () => undefined,
        );
  }, [token, user]);

  if (!token) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(t, u) => {
          session.set(t);
          setNotice(null);
          setToken(t);
          setUser(u);
        }}
      />
    );
  }
  if (!user) return <Loading what="your session" />;
  return <SignedIn token={token} user={user} signOut={signOut} />;
}

const NAV: Array<{ to: string; label: string; admin?: boolean }> = [
  { to: '/', label: 'Overview' },
  { to: '/endpoints', label: 'Endpoints' },
  { to: '/functions', label: 'Functions' },
  { to: '/tasks', label: 'Tasks' },
  { to: '/data', label: 'Objects & triggers' },
  { to: '/audit', label: 'Audit' },
  { to: '/usage', label: 'Usage' },
  { to: '/users', label: 'Users & tokens', admin: true },
];

function SignedIn({ token, user, signOut }: { token: string; user: UserInfo; signOut: (m?: string) => void }) {
  const [live, setLive] = useState<LiveChannel | null>(null);
  const [liveState, setLiveState] = useState<LiveState>('connecting');
  useEffect(() => {
    const l = new LiveChannel(token, (m) => signOut(`You were signed out: ${m}.`));
    const off = l.onState(setLiveState);
    setLive(l);
    return () => {
      off();
      l.close();
    };
  }, [token, signOut]);
  const value: Session | null = useMemo(() => (live ? { user, api: api(token), live, signOut } : null), [user, token, live, signOut]);
  const { path } = useLocation();
  if (!value) return <Loading what="your session" />;

  let page: React.ReactNode;
  let params: Record<string, string> | null;
  if (path === '/' || path === '') page = <Overview />;
  else if (path === '/endpoints') page = <Endpoints />;
  else if (path === '/functions') page = <Functions />;
  else if (path === '/tasks') page = <Tasks />;
  else if ((params = match('/tasks/:id', path))) page = <TaskPage key={params.id} id={params.id!} />;
  else if (path === '/users') page = <Users />;
  else if (path === '/data') page = <Data />;
  else if (path === '/audit') page = <Audit />;
  else if (path === '/usage') page = <Usage />;
  else page = <Empty title="Page not found">There is no console page at {path}.</Empty>;

  return (
    <SessionContext.Provider value={value}>
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">FX</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => !n.admin || user.admin).map((n) => {
              const active = n.to === '/' ? path === '/' : path.startsWith(n.to);
              return (
                <li key={n.to}>
                  <Link to={n.to} aria-current={active ? 'page' : undefined}>
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <span className={`live live-${liveState}`} role="status" title="Live updates">
          {liveState === 'live' ? 'live' : liveState === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        <span className="who">
          {user.name}
          {user.admin ? ' (admin)' : ''}
        </span>
        <button type="button" className="link-button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </SessionContext.Provider>
  );
}
