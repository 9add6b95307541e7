/** The frame of every page: a skip link, the navigation, who is signed in, and the routes. */
import { Navigate, NavLink, Route, Routes, useLocation } from 'react-router';

import { AdminPage } from './pages/AdminPage';
import { JobPage } from './pages/JobPage';
import { JobsPage } from './pages/JobsPage';
import { ProjectsPage } from './pages/ProjectsPage';
import { ProvidersPage } from './pages/ProvidersPage';
import { SignInPage } from './pages/SignInPage';
import { SubmitPage } from './pages/SubmitPage';
import { WalletsPage } from './pages/WalletsPage';
import { useSession } from './session';
import { WorkspacePicker } from './workspace-picker';

const NAV = [
  { to: '/jobs', label: 'Jobs' },
  { to: '/submit', label: 'Submit' },
  { to: '/providers', label: 'Providers' },
  { to: '/wallets', label: 'Wallets' },
  { to: '/projects', label: 'Projects' },
];
/** Shown to administrators only; the gateway refuses its operations to anyone else (FORBIDDEN). */
const ADMIN_NAV = [{ to: '/admin', label: 'Administration' }];

export function App() {
  const { user, signOut, workspace } = useSession();
  const location = useLocation();
  if (!user) {
    return (
      <Routes>
        <Route path="/sign-in" element={<SignInPage />} />
        <Route path="*" element={<Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />} />
      </Routes>
    );
  }
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Switchyard</span>
        <nav aria-label="Main">
          <ul>
            {[...NAV, ...(user.admin ? ADMIN_NAV : [])].map((item) => (
              <li key={item.to}>
                <NavLink to={item.to}>{item.label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <WorkspacePicker />
        <span className="who">
          <span data-testid="username">{user.username}</span>
          {user.admin ? ' (administrator)' : ''}
          <button type="button" className="link-button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      {/* A new workspace: every page is made again, reading what that workspace sees. */}
      <main id="main" tabIndex={-1} key={workspace ?? ''}>
        <Routes>
          <Route path="/jobs" element={<JobsPage />} />
          <Route path="/jobs/:id" element={<JobPage />} />
          <Route path="/submit" element={<SubmitPage />} />
          <Route path="/providers" element={<ProvidersPage />} />
          <Route path="/wallets" element={<WalletsPage />} />
          <Route path="/projects" element={<ProjectsPage />} />
          {user.admin ? <Route path="/admin" element={<AdminPage />} /> : null}
          {/* Signed in on the sign-in page: on to where the reader was going. */}
          <Route path="/sign-in" element={<Navigate to={(location.state as { from?: string } | null)?.from ?? '/jobs'} replace />} />
          <Route path="*" element={<Navigate to="/jobs" replace />} />
        </Routes>
      </main>
    </>
  );
}
