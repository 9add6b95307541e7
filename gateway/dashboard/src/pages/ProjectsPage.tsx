/** The caller's projects (an administrator's: every project) with their members and groups, read-only. */
import { useQuery } from '@tanstack/react-query';

import { ErrorMessage, Loading } from '../components';
import { dateTime } from '../format';
import { graphql } from '../gql';
import { useApi, useSession } from '../session';

const PROJECTS = graphql(`
  query Projects($all: Boolean!) {
    projects(all: $all) {
      id
      title
      archived
      createdAt
      myRole
      members {
        username
        role
        groups
      }
      groups {
        name
        members
      }
    }
  }
`);

export function ProjectsPage() {
  const api = useApi();
  const all = useSession().user?.admin ?? false;
  const projects = useQuery({ queryKey: ['projects', all], queryFn: () => api.request(PROJECTS, { all }) });
  if (projects.error) return <ErrorMessage error={projects.error} title="Projects not loaded" />;
  if (projects.isPending) return <Loading what="projects" />;
  return (
    <>
      <h1>Projects</h1>
      {projects.data.projects.length === 0 ? <p>You are in no project: jobs run in your personal workspace.</p> : null}
      <div className="cards">
        {projects.data.projects.map((p) => (
          <section key={p.id} className="card" aria-labelledby={`project-${p.id}`}>
            <h2 id={`project-${p.id}`}>
              {p.title} <span className="muted mono">{p.id}</span>
            </h2>
            <p className="muted">
              {p.archived ? 'Archived · ' : ''}
              {p.myRole ? `Your role: ${p.myRole}` : 'You are not a member'} · since {dateTime(p.createdAt)}
            </p>
            <table>
              <caption className="visually-hidden">Members of {p.title}</caption>
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Role</th>
                  <th scope="col">Groups</th>
                </tr>
              </thead>
              <tbody>
                {p.members.map((m) => (
                  <tr key={m.username}>
                    <td>{m.username}</td>
                    <td>{m.role}</td>
                    <td>{m.groups.join(', ') || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        ))}
      </div>
    </>
  );
}
