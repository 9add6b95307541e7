/**
 * Who a job is shared with (its ACL), and, for a viewer who may administer it, a form to share it
 * with a member or a group ("project/group") of its project and to remove an entry. updateJobAcl
 * replaces the whole ACL, so each change sends the list as it should be after.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { ApiError } from './api';
import { ErrorMessage } from './components';
import { graphql } from './gql';
import type { AclEntryInput as AclEntry, Permission } from './gql/graphql';
import { useApi, useSession } from './session';

const JOB_ACL = graphql(`
  query JobAcl($id: ID!) {
    job(id: $id) {
      id
      owner {
        createdBy
        project
      }
      acl {
        entity
        permissions
      }
    }
  }
`);
const UPDATE_ACL = graphql(`
  mutation UpdateJobAcl($id: ID!, $acl: [AclEntryInput!]!) {
    updateJobAcl(jobId: $id, acl: $acl) {
      ...OkResultFields
    }
  }
`);

const LEVELS: Permission[] = ['READ', 'EDIT', 'ADMIN'];

/** The ACL after sharing with `entity` at `level` (its entry replaced if it had one). */
export function withEntry(acl: readonly AclEntry[], entity: string, level: Permission): AclEntry[] {
  return [...acl.filter((e) => e.entity !== entity), { entity, permissions: [level] }];
}

/** The strongest permission an entry gives: what the gateway grants for it. */
export const strongest = (permissions: readonly Permission[]) => LEVELS.filter((p) => permissions.includes(p)).at(-1) ?? '—';

export function JobSharing({ jobId }: { jobId: string }) {
  const api = useApi();
  const { user } = useSession();
  const queryClient = useQueryClient();
  const job = useQuery({ queryKey: ['job-acl', jobId], queryFn: () => api.request(JOB_ACL, { id: jobId }) });
  const [entity, setEntity] = useState('');
  const [level, setLevel] = useState<Permission>('READ');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const data = job.data?.job;
  if (!data) return job.error ? <ErrorMessage error={job.error} title="Sharing not loaded" /> : null;
  const acl = data.acl;
  // What the page can tell: administrators, the creator, an ADMIN entry; project PIs and ADMINs may too (the gateway decides).
  const mayAdminister =
    user?.admin || data.owner.createdBy === user?.username || acl.some((e) => e.entity === user?.username && e.permissions.includes('ADMIN'));

  const save = async (next: AclEntry[], done: string) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const result = (await api.request(UPDATE_ACL, { id: jobId, acl: next })).updateJobAcl;
      if (result.error) setError(new ApiError(result.error.message, result.error.code));
      else setNotice(done);
    } catch (caught) {
      setError(ApiError.from(caught));
    } finally {
      setBusy(false);
      await queryClient.invalidateQueries({ queryKey: ['job-acl', jobId] });
    }
  };

  return (
    <section aria-labelledby="sharing-heading" className="card">
      <h2 id="sharing-heading">Sharing</h2>
      {!data.owner.project ? <p className="muted">A personal job is shared with nobody; jobs are shared inside their project.</p> : null}
      {acl.length ? (
        <ul className="plain" data-testid="job-acl">
          {acl.map((e) => (
            <li key={e.entity} data-entity={e.entity}>
              <strong>{e.entity}</strong>: {strongest(e.permissions)}{' '}
              {mayAdminister ? (
                <button
                  type="button"
                  disabled={busy}
                  aria-label={`Remove ${e.entity}`}
                  onClick={() =>
                    save(
                      acl.filter((other) => other.entity !== e.entity),
                      `No longer shared with ${e.entity}.`,
                    )
                  }
                >
                  Remove
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : data.owner.project ? (
        <p className="muted">Shared with nobody else.</p>
      ) : null}
      {mayAdminister && data.owner.project ? (
        <form
          className="inline"
          aria-label="Share the job"
          onSubmit={(event) => {
            event.preventDefault();
            const who = entity.trim();
            void save(withEntry(acl, who, level), `Shared with ${who} (${level}).`).then(() => setEntity(''));
          }}
        >
          <label>
            <span>User or project/group</span>
            <input value={entity} onChange={(event) => setEntity(event.target.value)} required maxLength={200} />
          </label>
          <label>
            <span>Permission</span>
            <select value={level} onChange={(event) => setLevel(event.target.value as Permission)}>
              {LEVELS.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={busy}>
            Share
          </button>
        </form>
      ) : null}
      <div aria-live="polite">{notice ? <p className="notice">{notice}</p> : null}</div>
      {error ? <ErrorMessage error={error} title="Refused" /> : null}
    </section>
  );
}
