/**
 * Global setup for tests of the Kubernetes provider: without KUBECONFIG it starts
 * the Kubernetes test cluster (deploy/kubernetes/kube-up.sh: a real control plane
 * with kwok nodes, built once into a cache outside the repository) and its one
 * real node (kube-real-node.sh: kubelet, containerd and runc; needs root), and
 * exports its kube.env (KUBECONFIG, SWITCHYARD_KUBE_REAL_NODE, ...) to the test
 * workers; if that cannot be done, the Kubernetes tests fail saying why. The
 * Kubernetes benchmark (bench/kubernetes.ts) starts it the same way.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { KubernetesProductConfig } from '../../providers/kubernetes/kubernetes-products.js';

/** The variables of kube.env: `NAME=value` lines. */
export function parseKubeEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) vars[match[1]!] = match[2]!;
  }
  return vars;
}

/**
 * Unless KUBECONFIG is set, starts the test cluster and its real node (building them first if need
 * be) and puts its kube.env into process.env. Null when there is a cluster, else why there is none.
 */
export function startKubeCluster(): string | null {
  if (process.env.KUBECONFIG) return null;
  const script = (name: string) => fileURLToPath(new URL(`../../deploy/kubernetes/${name}`, import.meta.url));
  const stateDir = process.env.SWITCHYARD_KUBE_DIR ?? '/tmp/switchyard-kube';
  try {
    // A cold build of the binaries takes about 25 min on 2 cores; a built cluster starts in seconds.
    execFileSync('bash', [script('kube-up.sh'), stateDir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 45 * 60_000 });
    execFileSync('bash', [script('kube-real-node.sh'), stateDir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20 * 60_000 });
    Object.assign(process.env, parseKubeEnv(readFileSync(`${stateDir}/kube.env`, 'utf8')));
    return null;
  } catch (error) {
    return (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
  }
}

export function setup(): void {
  const failed = startKubeCluster();
  if (failed) process.stderr.write(`global setup: could not start the Kubernetes test cluster; the Kubernetes tests will fail: ${failed}\n`);
}

/** A product of the one real node (kubelet, containerd, runc): no pod network and no registry there (deploy/kubernetes/README.md, tier B). */
export const REAL_PRODUCT: KubernetesProductConfig = {
  id: 'real',
  cpu: 0.1,
  memoryInGigs: 0.0625,
  pricePerUnit: 1,
  nodeSelector: { 'sim.switchyard.io/real': 'true' },
  tolerations: [{ key: 'sim.switchyard.io/real', operator: 'Exists' }],
  hostNetwork: true,
  imagePullPolicy: 'Never',
};
