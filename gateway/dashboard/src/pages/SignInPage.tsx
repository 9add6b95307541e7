import { useState, type FormEvent } from 'react';
import { useLocation, useNavigate } from 'react-router';

import { ApiError } from '../api';
import { ErrorMessage } from '../components';
import { useSession } from '../session';

export function SignInPage() {
  const { signIn } = useSession();
  const navigate = useNavigate();
  const from = (useLocation().state as { from?: string } | null)?.from;
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await signIn(String(form.get('username')), String(form.get('password')));
      navigate(from && from !== '/sign-in' ? from : '/jobs', { replace: true });
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(String(caught), null));
      setBusy(false);
    }
  };

  return (
    <main id="main" className="sign-in">
      <h1>Sign in to Switchyard</h1>
      <form onSubmit={submit} className="stack">
        <label>
          <span>User name</span>
          <input name="username" autoComplete="username" required autoFocus />
        </label>
        <label>
          <span>Password</span>
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        {error ? <ErrorMessage error={error} title="Not signed in" /> : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
