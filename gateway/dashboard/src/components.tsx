/** Small pieces the pages share. */
import type { ApiError } from './api';
import type { JobState } from './gql/graphql';

export function StateBadge({ state }: { state: JobState }) {
  return (
    <span className={`state state-${state.toLowerCase()}`} data-state={state}>
      {state.replace('_', ' ')}
    </span>
  );
}

/** A refusal as the gateway gave it: its code and message, announced to screen readers. */
export function ErrorMessage({ error, title }: { error: Pick<ApiError, 'message'> & { code?: string | null }; title?: string }) {
  return (
    <div className="error" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {error.code ? <code className="error-code">{error.code}</code> : null} <span className="error-message">{error.message}</span>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" className="muted">
      Loading {what}…
    </p>
  );
}

const round = (n: number) => n.toLocaleString(undefined, { maximumFractionDigits: 1 });

/** A used-of-capacity figure as a meter with its numbers beside it. */
export function Usage({ label, used, capacity, unit }: { label: string; used: number; capacity: number; unit: string }) {
  return (
    <div className="usage">
      <span className="usage-label">{label}</span>
      <meter min={0} max={capacity || 1} value={used} aria-label={`${label} used`} />
      <span>
        {round(used)} / {round(capacity)} {unit}
      </span>
    </div>
  );
}
