/**
 * Who is signed in: the token lives in sessionStorage (this tab only, gone when it closes), and
 * the API client made for it. A token the gateway stops taking signs the tab out.
 */
import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';

import { createApi, signIn as requestToken, type Api, type SignedIn } from './api';

const STORAGE_KEY = 'switchyard.session';
const WORKSPACE_KEY = 'switchyard.workspace';

interface Session {
  user: SignedIn | null;
  api: Api | null;
  /** The project whose workspace the tab acts in; null: the user's own. */
  workspace: string | null;
  setWorkspace(project: string | null): void;
  signIn(username: string, password: string): Promise<void>;
  signOut(): void;
}

const SessionContext = createContext<Session | null>(null);

function storedUser(): SignedIn | null {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as SignedIn | null;
    return value && typeof value.token === 'string' ? value : null;
  } catch {
    return null;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [user, setUser] = useState<SignedIn | null>(storedUser);
  const [workspace, setWorkspaceState] = useState<string | null>(() => sessionStorage.getItem(WORKSPACE_KEY));
  const signOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE_KEY);
    sessionStorage.removeItem(WORKSPACE_KEY);
    setUser(null);
    setWorkspaceState(null);
    queryClient.clear();
  }, [queryClient]);
  const setWorkspace = useCallback(
    (project: string | null) => {
      if (project) sessionStorage.setItem(WORKSPACE_KEY, project);
      else sessionStorage.removeItem(WORKSPACE_KEY);
      // What was read in one workspace is not what another sees.
      queryClient.clear();
      setWorkspaceState(project);
    },
    [queryClient],
  );
  const api = useMemo(() => (user ? createApi(user.token, signOut, workspace) : null), [user, signOut, workspace]);
  useEffect(() => () => api?.close(), [api]);
  const signIn = useCallback(async (username: string, password: string) => {
    const signed = await requestToken(username, password);
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(signed));
    setUser(signed);
  }, []);
  const value = useMemo(() => ({ user, api, workspace, setWorkspace, signIn, signOut }), [user, api, workspace, setWorkspace, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/** The signed-in API (the pages that use it are only reachable signed in). */
export function useApi(): Api {
  const { api } = useSession();
  if (!api) throw new Error('useApi while signed out');
  return api;
}
