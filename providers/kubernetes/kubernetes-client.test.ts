import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

import { connectKubernetes, kubernetesError } from './kubernetes-client.js';

const refusal = (code: number, message: string) => new ApiException(code, `HTTP-Code: ${code}`, JSON.stringify({ kind: 'Status', message }), {});

describe('what the API server’s refusals mean to a caller', () => {
  it.each([
    [422, 'INVALID_INPUT', 'Job.batch "x" is invalid: spec.template.spec.containers[0].image: Required value'],
    [400, 'INVALID_INPUT', 'the request is malformed'],
    [409, 'INVALID_STATE', 'Operation cannot be fulfilled on jobs.batch "x": the object has been modified'],
    [404, 'INVALID_STATE', 'jobs.batch "x" not found'],
    [401, 'PROVIDER_UNAVAILABLE', 'Unauthorized'],
    [403, 'PROVIDER_UNAVAILABLE', 'jobs.batch is forbidden: User "switchyard-provider" cannot patch resource "jobs"'],
    [429, 'PROVIDER_UNAVAILABLE', 'Too many requests, please try again later.'],
    [503, 'PROVIDER_UNAVAILABLE', 'the server is currently unable to handle the request'],
  ])('HTTP %i is %s, with the API server’s own words', (status, code, message) => {
    const error = kubernetesError(refusal(status, message), 'kube', 'patch the job', 'job-1') as { code: string; message: string };
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
    expect(error.message).toContain('patch the job');
  });

  it('takes no answer at all for the provider being unavailable, and leaves other errors as they are', () => {
    const unreachable = kubernetesError(new Error('connect ECONNREFUSED 127.0.0.1:6443'), 'kube', 'list nodes') as { code: string; message: string };
    expect(unreachable).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringContaining('cannot reach the Kubernetes API server') });
    const teapot = refusal(418, 'teapot');
    expect(kubernetesError(teapot, 'kube', 'list nodes')).toBe(teapot);
  });
});

describe('the connection to the API server', () => {
  it('hands every request one kept-alive agent (the client itself would make one per request)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-kubeconfig-'));
    try {
      const file = join(dir, 'kubeconfig');
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]',
          'users: [{name: u, user: {token: t}}]',
          'contexts: [{name: x, context: {cluster: c, user: u}}]',
          'current-context: x',
        ].join('\n'),
      );
      const { config } = connectKubernetes({ kubeconfig: file });
      const first = (await config.applyToFetchOptions({})).agent as Agent;
      const second = (await config.applyToFetchOptions({})).agent as Agent;
      expect(second).toBe(first);
      expect(first.options.keepAlive).toBe(true);
      expect((first.options as { secureContext?: unknown }).secureContext).toBeDefined();
      first.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
