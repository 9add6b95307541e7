import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * Three projects, one per kind of test (CONTRIBUTING.md):
 * - unit: tests beside the code they test, with no servers and no real backend; seconds.
 * - integration: test/ and the drivers of real local backends; real NATS and Redis from the setup.
 * - e2e: switchyard processes, the Slurm and Kubernetes test clusters, QEMU VMs, faults under load.
 * `npm test` runs them all; `npm run test:unit` (and :integration, :e2e) one of them.
 */
const BESIDE_CODE = ['shared/**/*.test.ts', 'gateway/**/*.test.ts', 'providers/**/*.test.ts', 'bin/**/*.test.ts'];
/** Beside their code, but they drive real processes or servers. */
const BACKENDS = ['providers/local/**/*.test.ts', 'providers/sdk/runtime.test.ts'];
const E2E = [
  'test/processes.test.ts',
  'test/*-processes.test.ts',
  'test/dev-mode.test.ts',
  'test/chaos.test.ts',
  'test/nats-cluster.test.ts',
  'providers/slurm/slurm-driver.test.ts',
  'providers/kubernetes/kubernetes-driver.test.ts',
  // Real QEMU (deploy/vm/build-images.sh builds the guest images).
  'providers/cloud-vm/qmp-client.test.ts',
  'providers/cloud-vm/vm-supervisor.test.ts',
  'providers/cloud-vm/cloud-vm-driver.test.ts',
  'providers/cloud-vm/cloud-vm-processes.test.ts',
  'providers/cloud-vm/cloud-vm-sessions.test.ts',
];

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS and ESM without an exports map: Vite would pick the ESM
    // build for our files while dependencies load the CJS one, and instanceof
    // checks across the two fail. Pin the one Node itself loads.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: BESIDE_CODE, exclude: [...BACKENDS, ...E2E] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts', ...BACKENDS],
          exclude: E2E,
          // The dashboard's browser test needs its build (gateway/dashboard/dist/), made here on a fresh clone.
          globalSetup: ['test/support/servers-setup.ts', 'test/support/dashboard-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: E2E,
          globalSetup: ['test/support/servers-setup.ts', 'test/support/slurm-setup.ts', 'test/support/kube-setup.ts', 'test/support/vm-setup.ts'],
        },
      },
    ],
  },
});
