/** Administrators only: the users (create, disable, enable) and credit grants to a user's or a project's wallet. */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';

import { ApiError } from '../api';
import { ErrorMessage, Loading } from '../components';
import { dateTime } from '../format';
import { graphql } from '../gql';
import { useApi } from '../session';

const USERS = graphql(`
  query Users {
    users {
      username
      admin
      disabled
      createdAt
      projects
    }
    products(first: 500) {
      provider
      category
    }
  }
`);
const CREATE_USER = graphql(`
  mutation CreateUser($username: String!, $password: String!, $admin: Boolean!) {
    createUser(username: $username, password: $password, admin: $admin) {
      username
    }
  }
`);
const DISABLE_USER = graphql(`
  mutation DisableUser($username: String!) {
    disableUser(username: $username) {
      username
    }
  }
`);
const ENABLE_USER = graphql(`
  mutation EnableUser($username: String!) {
    enableUser(username: $username) {
      username
    }
  }
`);
const GRANT = graphql(`
  mutation GrantCredits($grant: GrantInput!) {
    grantCredits(grant: $grant) {
      balance
    }
  }
`);

export function AdminPage() {
  const api = useApi();
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: () => api.request(USERS, {}) });
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  /** Runs a change from a form; the form is cleared once it is done. */
  const change = (run: (form: FormData) => Promise<string>) => async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const element = event.currentTarget;
    setError(null);
    setNotice(null);
    try {
      setNotice(await run(new FormData(element)));
      element.reset();
    } catch (caught) {
      setError(ApiError.from(caught));
    }
    void queryClient.invalidateQueries({ queryKey: ['users'] });
  };
  const toggle = async (username: string, disabled: boolean) => {
    setError(null);
    try {
      if (disabled) await api.request(ENABLE_USER, { username });
      else await api.request(DISABLE_USER, { username });
      setNotice(`${username} ${disabled ? 'enabled' : 'disabled'}.`);
    } catch (caught) {
      setError(ApiError.from(caught));
    }
    void queryClient.invalidateQueries({ queryKey: ['users'] });
  };

  if (users.error) return <ErrorMessage error={users.error} title="Users not loaded" />;
  if (users.isPending) return <Loading what="users" />;
  const wallets = [...new Set(users.data.products.map((p) => `${p.provider}/${p.category}`))];

  return (
    <>
      <h1>Administration</h1>
      <div aria-live="polite">{notice ? <p className="notice">{notice}</p> : null}</div>
      {error ? <ErrorMessage error={error} title="Refused" /> : null}
      <div className="columns">
        <form
          className="card stack"
          aria-labelledby="new-user-heading"
          onSubmit={change(async (form) => {
            const username = String(form.get('username'));
            await api.request(CREATE_USER, { username, password: String(form.get('password')), admin: form.get('admin') === 'on' });
            return `User ${username} created.`;
          })}
        >
          <h2 id="new-user-heading">New user</h2>
          <label>
            <span>User name</span>
            <input name="username" required autoComplete="off" />
          </label>
          <label>
            <span>Password</span>
            <input name="password" type="password" required autoComplete="new-password" />
          </label>
          <label className="check">
            <input type="checkbox" name="admin" /> Administrator
          </label>
          <button type="submit">Create user</button>
        </form>
        <form
          className="card stack"
          aria-labelledby="grant-heading"
          onSubmit={change(async (form) => {
            const [provider, category] = String(form.get('wallet')).split('/') as [string, string];
            const owner = String(form.get('owner'));
            const amount = Number(form.get('amount'));
            const { grantCredits } = await api.request(GRANT, {
              grant: { owner, isProject: form.get('isProject') === 'on', provider, category, amount },
            });
            return `Granted ${amount.toLocaleString()} credits to ${owner} (${category} at ${provider}); balance ${grantCredits.balance.toLocaleString()}.`;
          })}
        >
          <h2 id="grant-heading">Grant credits</h2>
          <label>
            <span>To (user name or project id)</span>
            <input name="owner" required />
          </label>
          <label className="check">
            <input type="checkbox" name="isProject" /> It is a project
          </label>
          <label>
            <span>Wallet</span>
            <select name="wallet" required>
              {wallets.map((w) => (
                <option key={w} value={w}>
                  {w.replace('/', ' · ')}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span>Credits</span>
            <input name="amount" type="number" min={1} step={1} required />
          </label>
          <button type="submit">Grant</button>
        </form>
      </div>
      <h2>Users</h2>
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">Users</caption>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Projects</th>
              <th scope="col">Created</th>
              <th scope="col">Access</th>
            </tr>
          </thead>
          <tbody>
            {users.data.users.map((u) => (
              <tr key={u.username} data-username={u.username}>
                <td>{u.username}</td>
                <td>{u.admin ? 'administrator' : 'user'}</td>
                <td>{u.projects.join(', ') || '—'}</td>
                <td>{dateTime(u.createdAt)}</td>
                <td>
                  <button type="button" className={u.disabled ? undefined : 'danger'} onClick={() => toggle(u.username, u.disabled)}>
                    {u.disabled ? `Enable ${u.username}` : `Disable ${u.username}`}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
