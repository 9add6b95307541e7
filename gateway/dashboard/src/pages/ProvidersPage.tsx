/**
 * The providers: status, circuit, last heartbeat, queue and utilization, read again every few
 * seconds, with the CPU in use over the time this page has been open drawn as a line.
 */
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';

import { ErrorMessage, Loading, Usage } from '../components';
import { dateTime, percent } from '../format';
import { graphql } from '../gql';
import type { ProvidersQuery } from '../gql/graphql';
import { useApi } from '../session';

const PROVIDERS = graphql(`
  query Providers {
    providers {
      id
      kind
      domain
      version
      status
      circuit
      lastHeartbeat
      products {
        id
      }
      utilization {
        observedAt
        capacity {
          cpu
          memoryInGigs
          gpu
        }
        usedCapacity {
          cpu
          memoryInGigs
          gpu
        }
        queueStatus {
          running
          pending
        }
      }
    }
  }
`);

const REFRESH_MS = 5_000;
/** Samples kept per provider for the chart: ten minutes at one every five seconds. */
const HISTORY = 120;

type History = Map<string, { at: string; cpu: number }[]>;

/** The history with each provider's newest utilization added (once per observation). */
function withSamples(history: History, providers: ProvidersQuery['providers']): History {
  const next: History = new Map(history);
  for (const p of providers) {
    const u = p.utilization;
    if (!u || next.get(p.id)?.at(-1)?.at === u.observedAt) continue;
    next.set(p.id, [...(next.get(p.id) ?? []), { at: u.observedAt, cpu: percent(u.usedCapacity.cpu, u.capacity.cpu) }].slice(-HISTORY));
  }
  return next;
}

export function ProvidersPage() {
  const api = useApi();
  const [history, setHistory] = useState<History>(new Map());
  const providers = useQuery({
    queryKey: ['providers'],
    queryFn: async () => {
      const data = await api.request(PROVIDERS, {});
      setHistory((now) => withSamples(now, data.providers));
      return data;
    },
    refetchInterval: REFRESH_MS,
  });

  if (providers.error) return <ErrorMessage error={providers.error} title="Providers not loaded" />;
  if (providers.isPending) return <Loading what="providers" />;
  return (
    <>
      <h1>Providers</h1>
      <div className="cards">
        {providers.data.providers.map((p) => (
          <section key={p.id} className="card provider" aria-labelledby={`provider-${p.id}`} data-provider-id={p.id}>
            <h2 id={`provider-${p.id}`}>
              {p.id} <span className={`status status-${p.status.toLowerCase()}`}>{p.status}</span>
            </h2>
            <dl className="details">
              <dt>Kind</dt>
              <dd>
                {p.kind} {p.version}
                {p.domain ? ` · ${p.domain}` : ''}
              </dd>
              <dt>Circuit</dt>
              <dd>{p.circuit.replace('_', ' ').toLowerCase()}</dd>
              <dt>Heartbeat</dt>
              <dd>{dateTime(p.lastHeartbeat)}</dd>
              <dt>Products</dt>
              <dd>{p.products.map((product) => product.id).join(', ') || '—'}</dd>
              {p.utilization ? (
                <>
                  <dt>Queue</dt>
                  <dd>
                    {p.utilization.queueStatus.running} running, {p.utilization.queueStatus.pending} pending
                  </dd>
                </>
              ) : null}
            </dl>
            {p.utilization ? (
              <>
                <Usage label="CPU" used={p.utilization.usedCapacity.cpu} capacity={p.utilization.capacity.cpu} unit="cores" />
                <Usage label="Memory" used={p.utilization.usedCapacity.memoryInGigs} capacity={p.utilization.capacity.memoryInGigs} unit="GB" />
                {p.utilization.capacity.gpu > 0 ? (
                  <Usage label="GPU" used={p.utilization.usedCapacity.gpu} capacity={p.utilization.capacity.gpu} unit="" />
                ) : null}
                <CpuChart provider={p.id} samples={history.get(p.id) ?? []} />
              </>
            ) : (
              <p className="muted">No utilization reported.</p>
            )}
          </section>
        ))}
      </div>
    </>
  );
}

/** CPU in use, percent of capacity, over the samples this page has seen (newest on the right). */
function CpuChart({ provider, samples }: { provider: string; samples: { at: string; cpu: number }[] }) {
  const width = 300;
  const height = 60;
  const step = width / (HISTORY - 1);
  const points = samples
    .map((s, i) => `${(width - (samples.length - 1 - i) * step).toFixed(1)},${(height - (s.cpu / 100) * height).toFixed(1)}`)
    .join(' ');
  const last = samples.at(-1);
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`CPU in use at ${provider} over the last ${samples.length} samples; now ${last?.cpu ?? 0}%`}
      >
        <rect x="0" y="0" width={width} height={height} className="chart-bg" />
        {samples.length > 1 ? <polyline points={points} className="chart-line" /> : null}
      </svg>
      <figcaption className="muted">CPU in use since this page opened (now {last?.cpu ?? 0}%)</figcaption>
    </figure>
  );
}
