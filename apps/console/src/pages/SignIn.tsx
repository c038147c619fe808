import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api';
import type { UserInfo } from '@fx/protocol';

export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (token: string, user: UserInfo) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) return setError('Paste a user token first.');
    setBusy(true);
    setError(null);
    try {
      const who = await api(t).whoami();
      onSignedIn(t, who.user);
    } catch (err) {
      setError(err instanceof ApiError ? `The server refused this token: ${err.message}` : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form onSubmit={submit} className="card signin-card" aria-labelledby="signin-title">
        <h1 id="signin-title">FX console</h1>
        <p className="muted">Sign in with a user token. It is kept for this tab only and forgotten when you close it.</p>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <label htmlFor="token">Token</label>
        <input id="token" name="token" type="password" autoComplete="off" autoFocus value={token} onChange={(e) => setToken(e.target.value)} />
        {error && (
          <p className="error-note" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
