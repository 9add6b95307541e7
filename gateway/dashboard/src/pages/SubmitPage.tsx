/**
 * A job submitted from a form made of the products and their support manifests: only what the
 * chosen product supports is offered (an image where its backend takes one, replicas up to its
 * maximum, a time limit within its maximum, no deadline only where it allows none). Or no product
 * but requirements (CPU, memory, GPU, backend), for the gateway to route, waiting for room up to a
 * given time. A refused submission shows the gateway's code and message.
 */
import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';

import { ApiError } from '../api';
import { splitCommand } from '../command-line';
import { ErrorMessage, Loading } from '../components';
import { credits, duration } from '../format';
import { graphql } from '../gql';
import type { JobSpecificationInput, ProductsQuery } from '../gql/graphql';
import { useApi } from '../session';

const PRODUCTS = graphql(`
  query Products {
    products(first: 500) {
      id
      name
      description
      category
      provider
      cpu
      memoryInGigs
      gpu
      pricePerUnit
      unitOfPrice
      freeToUse
      balance
      capacity
      queueStatus
      support {
        backend
        logs
        maxReplicas
        timeExtension
        suspension
        sessionTypes
        maxTimeAllocation {
          hours
          minutes
          seconds
        }
      }
    }
  }
`);

const CREATE_JOB = graphql(`
  mutation CreateJob($spec: JobSpecificationInput!) {
    createJobs(specifications: [$spec]) {
      job {
        id
      }
      error {
        code
        message
      }
    }
  }
`);

type Product = ProductsQuery['products'][number];
type Backend = Product['support']['backend'];

/** The Product choice that asks the gateway to route by requirements instead. */
const ROUTED = 'routed';

const keyOf = (p: Pick<Product, 'id' | 'provider'>) => `${p.provider}/${p.id}`;
const maxMinutes = (p: Product) => {
  const max = p.support.maxTimeAllocation;
  return max ? Math.floor(max.hours * 60 + max.minutes + max.seconds / 60) : null;
};
const PRICE_UNITS = { CREDITS_PER_MINUTE: 'minute', CREDITS_PER_HOUR: 'hour', CREDITS_PER_DAY: 'day' } as const;

/** KEY=VALUE lines as the env object; a line without = is an error. */
function parseEnv(text: string): Record<string, string> | null {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  if (lines.length === 0) return null;
  const env: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`"${line}" is not NAME=value`);
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

export function SubmitPage() {
  const api = useApi();
  const navigate = useNavigate();
  const products = useQuery({ queryKey: ['products'], queryFn: () => api.request(PRODUCTS, {}) });
  const [chosen, setChosen] = useState<string>('');
  const [routedBackend, setRoutedBackend] = useState<Backend | ''>('');
  const [noDeadline, setNoDeadline] = useState(false);
  const [error, setError] = useState<{ code: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  if (products.error) return <ErrorMessage error={products.error} title="Products not loaded" />;
  if (products.isPending) return <Loading what="products" />;
  const list = products.data.products;
  const routed = chosen === ROUTED;
  const product = routed ? undefined : (list.find((p) => keyOf(p) === chosen) ?? list[0]);
  const providers = [...new Set(list.map((p) => p.provider))];

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!product && !routed) return;
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '').trim();
    setError(null);
    let spec: JobSpecificationInput;
    try {
      const command = splitCommand(text('command'));
      if (command.length === 0) throw new Error('give the command to run');
      const minutes = text('minutes');
      const tags = text('tags')
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const number = (name: string) => (text(name) === '' ? null : Number(text(name)));
      const placement: Pick<JobSpecificationInput, 'product' | 'requirements' | 'scheduleTimeout'> = product
        ? { product: { id: product.id, provider: product.provider } }
        : {
            requirements: { cpu: number('cpu'), memoryInGigs: number('memoryInGigs'), gpu: number('gpu'), backend: routedBackend || null },
            scheduleTimeout: number('scheduleTimeout'),
          };
      spec = {
        ...placement,
        command,
        name: text('name') || null,
        image: text('image') || null,
        replicas: Number(text('replicas') || 1),
        env: parseEnv(String(form.get('env') ?? '')),
        tags: tags.length ? tags : null,
        timeAllocation: noDeadline || !minutes ? null : { hours: 0, minutes: Number(minutes), seconds: 0 },
        allowDuplicateJob: form.get('allowDuplicateJob') === 'on',
      };
    } catch (caught) {
      setError({ code: 'INVALID_INPUT', message: (caught as Error).message });
      return;
    }
    setBusy(true);
    try {
      const [result] = (await api.request(CREATE_JOB, { spec })).createJobs;
      if (result?.job) return navigate(`/jobs/${encodeURIComponent(result.job.id)}`);
      setError(result?.error ?? { code: null, message: 'the gateway answered no job and no error' });
    } catch (caught) {
      setError(ApiError.from(caught));
    } finally {
      setBusy(false);
    }
  };

  if (list.length === 0) return <p>No provider offers a product to you yet.</p>;
  const backends = [...new Set(list.map((p) => p.support.backend))];
  // Routed: what some product offers; the gateway refuses what none can take.
  const support = product?.support ?? {
    backend: routedBackend || 'NATIVE',
    maxReplicas: Math.max(...list.map((p) => p.support.maxReplicas)),
    maxTimeAllocation: null,
  };
  const max = product ? maxMinutes(product) : null;
  const takesImage = routed ? routedBackend !== '' && routedBackend !== 'NATIVE' : support.backend !== 'NATIVE';
  const formKey = product ? keyOf(product) : ROUTED;

  return (
    <>
      <h1>Submit a job</h1>
      <form className="stack submit-form" onSubmit={submit} aria-describedby={error ? 'submit-error' : undefined}>
        <label>
          <span>Product</span>
          <select
            name="product"
            value={formKey}
            onChange={(event) => {
              setChosen(event.target.value);
              setNoDeadline(false);
            }}
          >
            <option value={ROUTED}>Any product that fits: routed by requirements</option>
            {providers.map((provider) => (
              <optgroup key={provider} label={provider}>
                {list
                  .filter((p) => p.provider === provider)
                  .map((p) => (
                    <option key={keyOf(p)} value={keyOf(p)}>
                      {p.name} ({p.id}) · {p.cpu} CPU, {p.memoryInGigs} GB{p.gpu ? `, ${p.gpu} GPU` : ''}
                    </option>
                  ))}
              </optgroup>
            ))}
          </select>
        </label>
        {product ? (
          <div className="product-facts" aria-live="polite">
            <p>{product.description}</p>
            <p className="muted">
              {product.support.backend} ·{' '}
              {product.freeToUse ? 'free' : `${credits(product.pricePerUnit)} credits per ${PRICE_UNITS[product.unitOfPrice]}`} · balance{' '}
              {product.freeToUse ? '—' : credits(product.balance)} · {product.queueStatus ? product.queueStatus.toLowerCase() : 'capacity unknown'} ·
              up to {product.support.maxReplicas} {product.support.maxReplicas === 1 ? 'replica' : 'replicas'} · longest run{' '}
              {duration(product.support.maxTimeAllocation)}
              {product.support.sessionTypes.length ? ` · sessions: ${product.support.sessionTypes.join(', ').toLowerCase()}` : ''}
            </p>
          </div>
        ) : (
          <fieldset>
            <legend>Requirements</legend>
            <p className="muted">The gateway picks the cheapest product with room that meets them.</p>
            <label>
              <span>CPUs</span>
              <input name="cpu" type="number" min={0} step="any" defaultValue={1} />
            </label>
            <label>
              <span>
                Memory, GB <span className="muted">(optional)</span>
              </span>
              <input name="memoryInGigs" type="number" min={0} step="any" />
            </label>
            <label>
              <span>
                GPUs <span className="muted">(optional)</span>
              </span>
              <input name="gpu" type="number" min={0} step={1} />
            </label>
            <label>
              <span>Backend</span>
              <select name="backend" value={routedBackend} onChange={(event) => setRoutedBackend(event.target.value as Backend | '')}>
                <option value="">Any</option>
                {backends.map((backend) => (
                  <option key={backend} value={backend}>
                    {backend}
                  </option>
                ))}
              </select>
            </label>
            <label>
              <span>
                Wait for room, seconds <span className="muted">(optional: without it, no room now is a refusal)</span>
              </span>
              <input name="scheduleTimeout" type="number" min={1} step={1} />
            </label>
          </fieldset>
        )}
        <label>
          <span>
            Name <span className="muted">(optional)</span>
          </span>
          <input name="name" maxLength={200} />
        </label>
        <div className="field">
          <label>
            <span>Command</span>
            <input name="command" required placeholder="python3 train.py --epochs 3" aria-describedby="command-help" spellCheck={false} />
          </label>
          <span id="command-help" className="help">
            Split into words as a shell would (quotes keep words together); nothing is expanded.
          </span>
        </div>
        {takesImage ? (
          <label>
            <span>Image {support.backend === 'DOCKER' ? null : <span className="muted">(optional)</span>}</span>
            <input
              name="image"
              required={support.backend === 'DOCKER'}
              placeholder={support.backend === 'DOCKER' ? 'docker.io/library/python:3.12' : ''}
            />
          </label>
        ) : null}
        {support.maxReplicas > 1 ? (
          <label>
            <span>Replicas</span>
            <input key={formKey} name="replicas" type="number" min={1} max={support.maxReplicas} defaultValue={1} required />
          </label>
        ) : null}
        <fieldset>
          <legend>Time limit</legend>
          <label>
            <span>Minutes {max !== null ? <span className="muted">(at most {max})</span> : null}</span>
            <input
              key={formKey}
              name="minutes"
              type="number"
              min={1}
              max={max ?? undefined}
              defaultValue={max !== null ? Math.min(60, max) : 60}
              required={!noDeadline}
              disabled={noDeadline}
            />
          </label>
          {max === null ? (
            <label className="check">
              <input type="checkbox" checked={noDeadline} onChange={(event) => setNoDeadline(event.target.checked)} /> No deadline
            </label>
          ) : null}
        </fieldset>
        <label>
          <span>
            Environment <span className="muted">(NAME=value, one a line)</span>
          </span>
          <textarea name="env" rows={3} spellCheck={false} />
        </label>
        <label>
          <span>
            Tags <span className="muted">(comma-separated)</span>
          </span>
          <input name="tags" />
        </label>
        <label className="check">
          <input type="checkbox" name="allowDuplicateJob" /> Allow a duplicate of a job that is still running
        </label>
        {error ? (
          <div id="submit-error">
            <ErrorMessage error={error} title="Refused" />
          </div>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Submitting…' : 'Submit'}
        </button>
      </form>
    </>
  );
}
