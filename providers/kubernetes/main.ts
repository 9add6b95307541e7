/** The Kubernetes provider process: its settings and driver, run by the SDK's process entry (settings → NATS → runtime, and a clean stop on SIGTERM). */
import { z } from 'zod';

import { jsonListSetting, positiveIntSetting, runProviderProcess } from '../sdk/index.js';
import { createKubernetesDriver } from './kubernetes-driver.js';
import { kubernetesProductSchema } from './kubernetes-products.js';

export const KUBERNETES_PROVIDER_VERSION = '0.1.0';

/** SWITCHYARD_KUBE_PRODUCTS: a JSON array of products, or @<file> holding one. */
export const productsSetting = jsonListSetting(kubernetesProductSchema, { files: true });

/** The Kubernetes provider's own settings, beside those every provider reads. */
export const kubernetesProviderSettings = {
  /** A kubeconfig file; unset: in a pod, its service account, else ~/.kube/config. */
  SWITCHYARD_KUBE_KUBECONFIG: z.string().min(1).optional(),
  SWITCHYARD_KUBE_CONTEXT: z.string().min(1).optional(),
  /** Where the provider's Jobs live; created when missing. @default switchyard-<provider id> */
  SWITCHYARD_KUBE_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name')
    .optional(),
  SWITCHYARD_KUBE_PRODUCTS: productsSetting.optional(),
  SWITCHYARD_KUBE_DEFAULT_IMAGE: z.string().min(1).default('busybox:1.36'),
  SWITCHYARD_KUBE_TTL_SECONDS: positiveIntSetting.default(3_600),
};

/** Run the Kubernetes provider as a process; it refuses to start when it cannot reach its cluster. */
export async function runKubernetesProvider(id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await runProviderProcess({
    id,
    kind: 'KUBERNETES',
    version: KUBERNETES_PROVIDER_VERSION,
    settings: kubernetesProviderSettings,
    env,
    createDriver: (settings) =>
      createKubernetesDriver({
        kubeconfig: settings.SWITCHYARD_KUBE_KUBECONFIG,
        context: settings.SWITCHYARD_KUBE_CONTEXT,
        namespace: settings.SWITCHYARD_KUBE_NAMESPACE,
        products: settings.SWITCHYARD_KUBE_PRODUCTS,
        defaultImage: settings.SWITCHYARD_KUBE_DEFAULT_IMAGE,
        ttlSecondsAfterFinished: settings.SWITCHYARD_KUBE_TTL_SECONDS,
      }),
    describe: (settings) => ({
      kubeconfig: settings.SWITCHYARD_KUBE_KUBECONFIG ?? null,
      namespace: settings.SWITCHYARD_KUBE_NAMESPACE ?? `switchyard-${id}`,
    }),
  });
}
