/**
 * Which workspace the tab acts in: the user's own, or one of its projects (the gateway's
 * `Project` header). Jobs, submissions, wallets and transactions are then the workspace's.
 */
import { useQuery } from '@tanstack/react-query';

import { graphql } from './gql';
import { useApi, useSession } from './session';

const MY_PROJECTS = graphql(`
  query MyProjects {
    projects(all: false) {
      id
      title
      archived
    }
  }
`);

export function WorkspacePicker() {
  const api = useApi();
  const { workspace, setWorkspace } = useSession();
  const projects = useQuery({ queryKey: ['my-projects'], queryFn: () => api.request(MY_PROJECTS, {}) });
  const choices = projects.data?.projects ?? [];
  // Nothing to choose between: no picker, as for a user in no project.
  if (choices.length === 0 && workspace === null) return null;
  return (
    <label className="workspace">
      Workspace{' '}
      <select value={workspace ?? ''} onChange={(event) => setWorkspace(event.target.value || null)}>
        <option value="">Personal</option>
        {choices.map((project) => (
          <option key={project.id} value={project.id}>
            {project.title ? `${project.title} (${project.id})` : project.id}
            {project.archived ? ', archived' : ''}
          </option>
        ))}
        {workspace !== null && !choices.some((project) => project.id === workspace) ? <option value={workspace}>{workspace}</option> : null}
      </select>
    </label>
  );
}
