import { useState, type FormEvent } from 'react';

import { ApiError } from '../api';
import { ErrorMessage } from '../components';
import { useSession } from '../session';

export function SignInPage() {
  const { signIn } = useSession();
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      // Signed in, the app's routes take the reader on from /sign-in (App.tsx).
      await signIn(String(form.get('username')), String(form.get('password')));
    } catch (caught) {
      setError(ApiError.from(caught));
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
