/**
 * A job's provider-specific details: the fields the gateway stitches onto Job from each provider's
 * subschema (local, slurm, kubernetes, cloudVm, simulated). They are not in the SDL codegen reads,
 * so they are asked for with a plain document per provider kind and shown as generic key/value pairs.
 */
import { useQuery } from '@tanstack/react-query';
import { Fragment } from 'react';

import { ErrorMessage } from './components';
import { TypedDocumentString, type ProviderKind } from './gql/graphql';
import { useApi } from './session';

/** Each kind's stitched Job field and its selection (as in providers/<kind>/<kind>-subschema.ts). */
const STITCHED: Record<ProviderKind, { field: string; selection: string }> = {
  LOCAL: { field: 'local', selection: 'host pids exitCodes uid user' },
  SLURM: { field: 'slurm', selection: 'jobId partition nodeList pendingReason elapsedSeconds exitCode state timeLimit uid' },
  KUBERNETES: { field: 'kubernetes', selection: 'namespace jobName pods { name rank phase node } events { type reason message object at }' },
  CLOUD_VM: { field: 'cloudVm', selection: 'vmName instanceType image qemuStatus guest { vcpus memoryBytes } consoleLogBytes diskBytes' },
  SIMULATED: { field: 'simulated', selection: 'nodes virtualStartedAt virtualRemainingMs' },
};

type Details = Record<string, unknown> | null;

export function stitchedDetailsDocument(kind: ProviderKind) {
  const { field, selection } = STITCHED[kind];
  return new TypedDocumentString<{ job: Record<string, Details> | null }, { id: string }>(
    `query JobProviderDetails($id: ID!) { job(id: $id) { ${field} { ${selection} } } }`,
  );
}

/** A value as one line of text: lists joined, objects as their own key=value pairs, nothing as a dash. */
export function detailText(value: unknown): string {
  if (value == null) return '—';
  if (Array.isArray(value)) return value.length ? value.map(detailText).join(', ') : '—';
  if (typeof value === 'object')
    return Object.entries(value)
      .map(([key, inner]) => `${key}=${detailText(inner)}`)
      .join(' ');
  return String(value);
}

export function ProviderDetails({ jobId, kind, state }: { jobId: string; kind: ProviderKind; state: string }) {
  const api = useApi();
  // Read again at each state: pids, nodes and exit codes change as the job runs and ends.
  const details = useQuery({
    queryKey: ['job-provider-details', jobId, state],
    queryFn: () => api.request(stitchedDetailsDocument(kind), { id: jobId }),
  });
  const fields = details.data?.job?.[STITCHED[kind].field];
  return (
    <section aria-labelledby="provider-details-heading" className="card">
      <h2 id="provider-details-heading">At the provider ({kind.toLowerCase().replace('_', ' ')})</h2>
      {details.error ? <ErrorMessage error={details.error} title="Provider details not loaded" /> : null}
      {fields ? (
        <dl className="details" data-testid="provider-details">
          {Object.entries(fields).map(([key, value]) => (
            <Fragment key={key}>
              <dt>{key}</dt>
              <dd className="mono" data-detail={key}>
                {detailText(value)}
              </dd>
            </Fragment>
          ))}
        </dl>
      ) : details.isPending ? null : (
        <p className="muted">The provider tells nothing more about this job.</p>
      )}
    </section>
  );
}
